// One active check of one server: connect, optionally send, and wait for the expected reply, within a timeout.
import type { Address, HealthCheckConfig, ProxyProtocolVersion } from "../config/types.ts";
import { PROXY_V2_LOCAL } from "../net/proxy-protocol.ts";

const PROXY_V1_UNKNOWN = Buffer.from("PROXY UNKNOWN\r\n");
import { outOfDescriptors } from "../os/descriptors.ts";

export interface ProbeResult {
  ok: boolean;
  ms: number;
  /** Why it failed, for the state-change log line; "" on success. */
  reason: string;
  /** The check could not run for want of file descriptors here: it says nothing about the server. */
  local?: boolean;
}

/** Replies longer than this are not searched further: a check expects a short answer. */
const MAX_REPLY = 64 * 1024;

/** A compiled check: bytes to send and a matcher for what came back. */
export interface Probe {
  readonly send: Uint8Array | null;
  matches(reply: Buffer): boolean;
  readonly expectsReply: boolean;
}

/**
 * `sendProxy`: the upstream's send_proxy. Its servers expect a PROXY header on every connection,
 * checks included (HAProxy's check-send-proxy): a check sends a LOCAL one, which says "no client,
 * the balancer itself" (v1 writes that as UNKNOWN).
 */
export function compileProbe(check: HealthCheckConfig, sendProxy?: ProxyProtocolVersion): Probe {
  const payload = check.sendHex ? Buffer.from(check.sendHex, "hex") : null;
  const header = sendProxy === 1 ? PROXY_V1_UNKNOWN : sendProxy === 2 ? PROXY_V2_LOCAL : null;
  const send = header ? Buffer.concat([header, payload ?? new Uint8Array(0)]) : payload;
  const expect = check.expect;
  if (!expect) return { send, expectsReply: false, matches: () => true };
  if (expect.kind === "bytes") {
    const needle = Buffer.from(expect.hex, "hex");
    return { send, expectsReply: true, matches: (reply) => reply.includes(needle) };
  }
  const regex = new RegExp(expect.source);
  return { send, expectsReply: true, matches: (reply) => regex.test(reply.toString("utf8")) };
}

export function runProbe(address: Address, probe: Probe, timeoutMs: number): Promise<ProbeResult> {
  const started = performance.now();
  return new Promise((resolve) => {
    let settled = false;
    let reply = Buffer.alloc(0);
    let socket: { end(): void } | null = null;
    const finish = (ok: boolean, reason: string, local = false) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket?.end();
      resolve({ ok, ms: performance.now() - started, reason, ...(local ? { local } : {}) });
    };
    const timer = setTimeout(() => finish(false, reply.length ? `reply did not match within ${timeoutMs} ms` : `no answer within ${timeoutMs} ms`), timeoutMs);
    Bun.connect({
      hostname: address.host,
      port: address.port,
      socket: {
        open(s) {
          socket = s;
          if (probe.send) s.write(probe.send);
          if (!probe.expectsReply) finish(true, "");
        },
        data(_s, data) {
          if (reply.length < MAX_REPLY) reply = Buffer.concat([reply, data]);
          if (probe.matches(reply)) finish(true, "");
        },
        close() {
          finish(false, reply.length ? `closed after an unexpected reply: ${JSON.stringify(reply.subarray(0, 60).toString("latin1"))}` : "closed without a reply");
        },
        connectError(_s, error) {
          // Bun reports a socket() that failed with EMFILE as ECONNREFUSED: ask before blaming the server.
          if (outOfDescriptors()) return finish(false, "too many open files in aegis", true);
          finish(false, `connect failed: ${(error as NodeJS.ErrnoException).code ?? error.message}`);
        },
        error() {},
      },
    }).catch(() => {}); // connectError has reported it
  });
}
