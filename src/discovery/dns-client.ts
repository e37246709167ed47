// Asks DNS servers one question over UDP (TCP when the answer is truncated): each server in order, a bounded number of rounds.
import { randomInt } from "node:crypto";
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import type { Address } from "../config/types.ts";
import { encodeQuery, parseAnswer, rcodeName, type DnsAnswer, type RecordType } from "./dns-wire.ts";

const TRY_MS = 1000;
const ROUNDS = 2;

/** The nameservers of /etc/resolv.conf (port 53); throws, saying so, when it names none. */
export function systemResolvers(path = "/etc/resolv.conf"): Address[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new Error(`cannot read ${path} for DNS servers (${(err as Error).message}): set [global] resolvers`);
  }
  const out = parseResolvConf(text);
  if (out.length === 0) throw new Error(`${path} names no nameserver: set [global] resolvers`);
  return out;
}

export function parseResolvConf(text: string): Address[] {
  return text.split("\n").flatMap((line) => {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    const host = m?.[1]?.replace(/%.*$/, ""); // a zone index (fe80::1%eth0) is not ours to use
    return host && isIP(host) ? [{ host, port: 53 }] : [];
  });
}

/** The answer from the first server that gives one, or why none did. */
export async function lookup(name: string, type: RecordType, resolvers: readonly Address[]): Promise<DnsAnswer | string> {
  if (resolvers.length === 0) return "no DNS server to ask";
  let why = "";
  for (let round = 0; round < ROUNDS; round++) {
    for (const server of resolvers) {
      const id = randomInt(0, 65536);
      const query = encodeQuery(id, name, type);
      let answer = await overUdp(server, query, (bytes) => parseAnswer(bytes, id, name, type));
      if (typeof answer !== "string" && answer.truncated) answer = await overTcp(server, query, (bytes) => parseAnswer(bytes, id, name, type));
      // SERVFAIL and REFUSED say "not from me": the next server may know.
      if (typeof answer !== "string" && answer.rcode !== 2 && answer.rcode !== 5) return answer;
      why = `${server.host}:${server.port}: ${typeof answer === "string" ? answer : rcodeName(answer.rcode)}`;
    }
  }
  return why;
}

type Parse = (bytes: Uint8Array) => DnsAnswer | string;

async function overUdp(server: Address, query: Uint8Array, parse: Parse): Promise<DnsAnswer | string> {
  let done!: (r: DnsAnswer | string) => void;
  const result = new Promise<DnsAnswer | string>((r) => (done = r));
  let socket: Bun.udp.Socket<"buffer"> | null = null;
  try {
    socket = await Bun.udpSocket<"buffer">({
      ...(server.host.includes(":") ? { hostname: "::" } : {}),
      socket: {
        data(_s, data, port, address) {
          if (port !== server.port || address.replace(/^::ffff:/, "") !== server.host) return; // not from whom we asked
          const parsed = parse(data);
          // Someone else's datagram (a wrong id or question) is ignored: the right one may still come.
          if (typeof parsed === "string" && /id is not|another question/.test(parsed)) return;
          done(parsed);
        },
        // ICMP port unreachable comes back as ECONNREFUSED: without this handler it would be thrown.
        // Bun 1.4.5 passes the error as the first argument, though its types declare (socket, error).
        error(...args: unknown[]) {
          const err = args.find((a): a is NodeJS.ErrnoException => a instanceof Error);
          done(err?.code === "ECONNREFUSED" ? "refused (nothing listens there)" : err?.message ?? "the socket failed");
        },
      },
    });
    socket!.send(query, server.port, server.host);
  } catch (err) {
    socket?.close();
    return `cannot send: ${(err as Error).message}`;
  }
  const timer = setTimeout(() => done(`no answer within ${TRY_MS} ms`), TRY_MS);
  const r = await result;
  clearTimeout(timer);
  socket!.close();
  return r;
}

async function overTcp(server: Address, query: Uint8Array, parse: Parse): Promise<DnsAnswer | string> {
  let done!: (r: DnsAnswer | string) => void;
  const result = new Promise<DnsAnswer | string>((r) => (done = r));
  let got = Buffer.alloc(0);
  const framed = Buffer.alloc(2 + query.length);
  framed.writeUInt16BE(query.length, 0);
  framed.set(query, 2);
  const timer = setTimeout(() => done(`no answer over TCP within ${TRY_MS} ms`), TRY_MS);
  const socket = await Bun.connect({
    hostname: server.host, port: server.port,
    socket: {
      open(s) { s.write(framed); },
      data(_s, data) {
        got = Buffer.concat([got, data]);
        if (got.length >= 2 && got.length >= 2 + got.readUInt16BE(0)) done(parse(got.subarray(2, 2 + got.readUInt16BE(0))));
      },
      close() { done("the server closed the TCP connection before answering"); },
      connectError(_s, err) { done(`TCP connect failed: ${err.message}`); },
      error() {},
    },
  }).catch(() => null);
  const r = await result;
  clearTimeout(timer);
  socket?.end();
  return r;
}
