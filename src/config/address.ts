// host:port addresses for binds and upstream servers, IPv6 in brackets.
import type { Address } from "./types.ts";
import { problem } from "./errors.ts";
import { quote, shorten } from "./quote.ts";

/** A bind may use port 0 (the kernel picks one; tests rely on it); a server may not. */
export type AddressUse = "bind" | "connect";

const IPV4ISH = /^[\d.]+$/;
const IPV4_OCTET = /^(0|[1-9]\d{0,2})$/;
// RFC 1123 labels, plus "_" because container service names use it and resolvers accept it.
const HOST_LABEL = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;
const ZONE = /^[A-Za-z0-9_.-]+$/;

/**
 * Parses "127.0.0.1:8081", "[::1]:8081", "localhost:6379" or ":8081" (= 0.0.0.0:8081 for
 * binds). The host is kept as written, without brackets. Throws ConfigError in the form
 * `<path>: "<value>" <what is wrong>`.
 */
export function parseAddress(value: string, path: string, use: AddressUse = "bind"): Address {
  const fail = (why: string) => problem(`${path}: ${quote(value)} ${why}`);
  const example = use === "bind" ? "127.0.0.1:8081" : "127.0.0.1:6379";
  if (value === "") throw fail(`is empty (expected host:port, e.g. "${example}")`);
  if (value.includes("://")) throw fail(`must not have a scheme (expected host:port, e.g. "${example}")`);

  let host: string;
  let portText: string;
  if (value.startsWith("[")) {
    const close = value.indexOf("]");
    if (close < 0) throw fail(`is missing the closing "]" of its IPv6 address`);
    host = value.slice(1, close);
    const rest = value.slice(close + 1);
    if (rest === "") throw fail(`is missing a port (expected e.g. "[${shorten(host)}]:8081")`);
    if (!rest.startsWith(":")) throw fail(`has unexpected text after "]"`);
    portText = rest.slice(1);
    if (!isIPv6(host)) throw fail(`is not a valid IPv6 address`);
  } else {
    const colon = value.lastIndexOf(":");
    if (colon < 0) throw fail(`is missing a port (expected host:port, e.g. "${shorten(value)}:${use === "bind" ? 8081 : 6379}")`);
    host = value.slice(0, colon);
    portText = value.slice(colon + 1);
    if (host.includes(":")) throw fail(colonsProblem(value, host, portText, use));
    if (host === "" && use === "connect") throw fail(`needs a host (e.g. "127.0.0.1${shorten(value)}")`);
    if (host === "") host = "0.0.0.0";
    const why = hostProblem(host);
    if (why) throw fail(why);
  }

  if (portText === "") throw fail(`is missing a port`);
  // "00080" is 80 to some readers and octal to others; like IPv4 octets, written without leading zeros.
  if (/^0\d+$/.test(portText)) throw fail(`has a port with leading zeros (write ${Number(portText) <= 65535 ? Number(portText) : "it without them"})`);
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
  if (!(port <= 65535)) throw fail(`is not a valid port`);
  if (port === 0 && use === "connect") throw fail(`is not a valid port for a server (0 is only for binds)`);
  return { host, port };
}

/** The address, or undefined when it does not parse: for checks across keys, whose callers report the parse error elsewhere. */
export function quietAddress(value: string | undefined, use: AddressUse = "bind"): Address | undefined {
  if (value === undefined) return undefined;
  try {
    return parseAddress(value, "", use);
  } catch {
    return undefined;
  }
}

/** "127.0.0.1:80", "[::1]:80": the form parseAddress reads back. */
export function formatAddress(a: Address): string {
  return a.host.includes(":") ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

/**
 * A key equal for addresses that name the same socket however they are written
 * ("[0:0::1]:80" and "[::1]:80"), for duplicate detection. Names are not resolved.
 */
export function addressKey(a: Address): string {
  if (!a.host.includes(":")) return `${a.host.toLowerCase()}:${a.port}`;
  const [ip = "", zone] = a.host.split("%");
  const canonical = new URL(`http://[${ip}]/`).hostname;
  return `${canonical}${zone === undefined ? "" : `%${zone}`}:${a.port}`;
}

/**
 * Why two binds cannot both be listened on, or undefined when they can: the same socket
 * (addressKey), or one address inside a wildcard on the same port. "::" takes the port on every
 * IPv4 and IPv6 address (Linux binds it dual-stack), "0.0.0.0" on every IPv4 address; a host name
 * is taken to be an IPv4 one (localhost also IPv6 ::1). Port 0 never clashes: the kernel picks.
 */
export function bindClash(a: Address, b: Address): "same" | "overlap" | undefined {
  if (a.port === 0 || a.port !== b.port) return undefined;
  if (addressKey(a) === addressKey(b)) return "same";
  const [x, y] = [hostKind(a.host), hostKind(b.host)];
  if (x.host === y.host) return "same";
  if (x.host === "::" || y.host === "::") return "overlap";
  if ((x.host === "0.0.0.0" && y.v4) || (y.host === "0.0.0.0" && x.v4)) return "overlap";
  if ((x.host === "localhost" && y.loopback) || (y.host === "localhost" && x.loopback)) return "overlap";
  return undefined;
}

/** A host in a form two spellings of the same address share; IPv4-mapped IPv6 as IPv4. */
function hostKind(host: string): { host: string; v4: boolean; loopback: boolean } {
  if (host.includes(":")) {
    const [ip = "", zone] = host.split("%");
    const canonical = new URL(`http://[${ip}]/`).hostname.slice(1, -1);
    const mapped = zone === undefined ? /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(canonical) : null;
    if (!mapped) return { host: zone === undefined ? canonical : `${canonical}%${zone}`, v4: false, loopback: canonical === "::1" };
    const n = (parseInt(mapped[1]!, 16) << 16 | parseInt(mapped[2]!, 16)) >>> 0;
    host = [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
  }
  const name = host.toLowerCase().replace(/\.$/, "");
  return { host: name, v4: true, loopback: name === "127.0.0.1" };
}

/**
 * Why an address with more than one ":" (outside brackets) is wrong. An IPv6 host wants brackets;
 * "10.0.0.1:6379:1" is an address with something after its port, most likely a weight written the
 * way some proxies take it, so the hint gives aegis's form for that.
 */
function colonsProblem(value: string, host: string, portText: string, use: AddressUse): string {
  if (!isIPv6(host) && isIPv6(value)) return `looks like an IPv6 address without brackets and port (write e.g. "[${shorten(value)}]:${use === "bind" ? 8081 : 6379}")`;
  if (isIPv6(host)) return `looks like an IPv6 address without brackets (write "[${shorten(host)}]:${shorten(portText)}")`;
  const [first = "", port = "", ...rest] = value.split(":");
  if (first === "" || hostProblem(first) || !/^\d{1,5}$/.test(port)) return `is not host:port (an IPv6 address goes in brackets, e.g. "[::1]:6379")`;
  const address = `${shorten(first)}:${port}`;
  const extra = quote(shorten(`:${rest.join(":")}`));
  const w = rest.join(":");
  // WEIGHT_BOUNDS (1..1000) of schema.ts, which reaches this file through fields.ts: not imported back.
  if (use === "connect" && /^([1-9]\d{0,2}|1000)$/.test(w)) {
    return `has ${extra} after its port (a server is host:port; to give it a weight, write { address = "${address}", weight = ${w} })`;
  }
  return `has ${extra} after its port (${use === "bind" ? "a bind" : "a server"} is host:port: write "${address}")`;
}

function isIPv6(host: string): boolean {
  const [ip = "", zone, extra] = host.split("%");
  if (extra !== undefined || (zone !== undefined && !ZONE.test(zone))) return false;
  if (!ip.includes(":")) return false;
  // The WHATWG URL parser implements RFC 4291 text forms exactly; no need for a regex of our own.
  return URL.canParse(`http://[${ip}]/`);
}

function hostProblem(host: string): string | undefined {
  if (IPV4ISH.test(host)) {
    const octets = host.split(".");
    const ok = octets.length === 4 && octets.every((o) => IPV4_OCTET.test(o) && Number(o) <= 255);
    return ok ? undefined : `is not a valid IPv4 address`;
  }
  const name = host.endsWith(".") ? host.slice(0, -1) : host;
  const ok = name.length <= 253 && name.split(".").every((label) => HOST_LABEL.test(label));
  return ok ? undefined : `is not a valid host name`;
}
