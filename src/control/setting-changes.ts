// The settings two configs differ in, each named by its key in the file: "global.shutdown_grace: 30s -> 10s".
import { formatAddress } from "../config/address.ts";
import { formatDuration } from "../config/duration.ts";
import { LISTENER_CLIENT } from "../config/client.ts";

/**
 * The file's name for an internal key, where it is not the key in snake_case (with "Ms" dropped:
 * shutdownGraceMs is shutdown_grace). "" folds the key's own keys into its parent: a listener's
 * `admission` holds the listener's allow, deny and per-IP limits.
 */
const FILE_NAMES: Record<string, string> = {
  admission: "",
  routes: "route",
  sendHex: "send",
  "proxyProtocol.accept": "proxy_protocol",
  "proxyProtocol.from": "proxy_protocol_from",
  "proxyProtocol.timeoutMs": "proxy_protocol_timeout",
  proxyProtocol: "",
  "queue.size": "queue",
  "queue.timeoutMs": "queue_timeout",
  queue: "",
  "check.kind": "check",
  "check.password": "password_file",
  check: "",
  clientCa: "client_ca",
  certificate: "cert",
};

/**
 * What a folded key means when it is absent, so that setting one of its keys does not show the
 * others as changed from nothing: a listener without admission allows all, limits nothing.
 */
const FOLDED_DEFAULTS: Record<string, Record<string, unknown>> = {
  admission: { allow: [], deny: [], maxConnectionsPerIp: 0, connectionRatePerIp: null },
  proxyProtocol: { accept: "off", timeoutMs: LISTENER_CLIENT.proxy_protocol_timeout.convert(LISTENER_CLIENT.proxy_protocol_timeout.default, "") },
  check: { kind: "tcp" },
  queue: {},
};

/** Keys whose own keys are names the user chose (regions), kept as written. */
const NAMED_KEYS = new Set(["regions"]);

/** Keys whose values are never written out: the log would carry them. */
const SECRETS = new Set(["token", "password", "pem"]);

/** Lists of this many names at most are written whole. */
const LISTED = 8;

/**
 * One line per setting that differs between `a` and `b` (plain config data of the same shape),
 * each `<path>.<file key>: <old> -> <new>`; values that are tables or long lists are "changed".
 * `skip` names internal keys compared elsewhere (a listener's bind, an upstream's servers).
 */
export function settingChanges(a: unknown, b: unknown, path: string, skip: readonly string[] = []): string[] {
  const out: string[] = [];
  diff(a, b, path, "", out, new Set(skip));
  return out;
}

function diff(a: unknown, b: unknown, path: string, key: string, out: string[], skip: ReadonlySet<string>): void {
  if (same(a, b)) return;
  if (isRecord(a) && isRecord(b) && !isLeaf(a) && !isLeaf(b)) {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
      if (skip.has(k)) continue;
      const name = NAMED_KEYS.has(key) ? k : fileName(key, k);
      const folded = name === "" ? FOLDED_DEFAULTS[k] ?? {} : undefined;
      // `??` also takes null for absent: an optional key left out reads as null or undefined alike.
      diff(a[k] ?? folded, b[k] ?? folded, join(path, name), k, out, new Set());
    }
    return;
  }
  // A table set where there was none (or the reverse): its keys one by one read better than "changed".
  if ((a === undefined || a === null) !== (b === undefined || b === null) && (isRecord(a) || isRecord(b)) && !isLeaf(a ?? b)) {
    out.push(`${path}: ${a === undefined || a === null ? "added" : "removed"}`);
    return;
  }
  if (SECRETS.has(key)) return void out.push(`${path}: changed`);
  const from = shown(a, key);
  const to = shown(b, key);
  out.push(from === undefined || to === undefined ? `${path}: changed` : `${path}: ${from} -> ${to}`);
}

/** "a.b" for key b of a; a key folded into its parent ("") adds nothing. */
function join(path: string, name: string): string {
  return name === "" ? path : `${path}.${name}`;
}

function fileName(parent: string, key: string): string {
  const named = FILE_NAMES[`${parent}.${key}`] ?? FILE_NAMES[key];
  if (named !== undefined) return named;
  return key.replace(/Ms$/, "").replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/**
 * How a value is written in a change line, or undefined when it is too big to show. Durations by
 * their unit, addresses as host:port, a PEM file by its name, a certificate by its subject.
 */
function shown(v: unknown, key: string): string | undefined {
  if (v === undefined || v === null) return "none";
  if (typeof v === "number" && key.endsWith("Ms")) return formatDuration(v);
  if (typeof v === "string" && key === "sendHex") return v.length <= 80 ? `0x${v}` : undefined;
  if (typeof v === "string") return v.length <= 80 ? JSON.stringify(v) : undefined;
  if (typeof v !== "object") return String(v);
  if (isAddress(v)) return formatAddress(v);
  if (isRecord(v) && typeof v.count === "number" && typeof v.periodMs === "number") return `"${v.count}/${formatDuration(v.periodMs)}"`;
  if (isRecord(v) && typeof v.file === "string" && "pem" in v) return JSON.stringify(v.file);
  if (isRecord(v) && v.kind === "bytes" && typeof v.hex === "string") return v.hex.length <= 80 ? `0x${v.hex}` : undefined;
  if (isRecord(v) && v.kind === "regex" && typeof v.source === "string") return v.source.length <= 80 ? `/${v.source}/` : undefined;
  if (isRecord(v) && typeof v.subject === "string" && "fingerprint" in v) return `${JSON.stringify(v.subject)} (${String(v.fingerprint).slice(0, 14)}…)`;
  if (Array.isArray(v)) {
    const items = v.map((x) => shown(x, key));
    if (items.length > LISTED || items.some((x) => x === undefined || x.length > 40)) return undefined;
    return `[${items.join(", ")}]`;
  }
  return undefined;
}

/** Values compared as a whole, not key by key: their parts mean nothing alone. */
function isLeaf(v: unknown): boolean {
  if (!isRecord(v)) return true;
  return isAddress(v) || "pem" in v || "fingerprint" in v || (typeof v.count === "number" && typeof v.periodMs === "number")
    || (v.kind === "bytes" && "hex" in v) || (v.kind === "regex" && "source" in v);
}

function isAddress(v: unknown): v is { host: string; port: number } {
  return isRecord(v) && Object.keys(v).length === 2 && typeof v.host === "string" && typeof v.port === "number";
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function same(a: unknown, b: unknown): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}

/** "a, b and 3 more": a list of names cut for a log line. */
export function someNames(names: readonly string[]): string {
  if (names.length <= LISTED) return names.join(", ");
  return `${names.slice(0, LISTED).join(", ")} and ${names.length - LISTED} more`;
}
