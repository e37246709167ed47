// One active check of one server: connect, optionally send, and wait for the expected reply, within a timeout.
import type { Address, HealthCheckConfig, ProxyProtocolVersion } from "../config/types.ts";
import { PROXY_V2_LOCAL } from "../net/proxy-protocol.ts";

const PROXY_V1_UNKNOWN = Buffer.from("PROXY UNKNOWN\r\n");
import { outOfDescriptors } from "../os/descriptors.ts";
import { protocolProbe, type Verdict } from "./checks/protocol.ts";

export interface ProbeResult {
  ok: boolean;
  ms: number;
  /** Why it failed, for the state-change log line; "" on success. */
  reason: string;
  /** The check could not run for want of file descriptors here: it says nothing about the server. */
  local?: boolean;
  /** What came back (its start, as text), for the last check's view. */
  reply?: string;
}

/** Replies longer than this are not searched further: a check expects a short answer. */
const MAX_REPLY = 64 * 1024;
/** How much of a reply the last check's view keeps. */
const SHOWN_REPLY = 200;

/** A compiled check: bytes to send and a judge of what came back. */
export interface Probe {
  readonly send: Uint8Array | null;
  readonly expectsReply: boolean;
  /** What the reply so far says: ok, or why not; null to wait for more (or for the close, when `ended`). */
  judge(reply: Buffer, ended: boolean): Verdict | null;
  /** What is sent, for the last check's view (a password as ***). */
  readonly shown: string;
}

/** The check's part that is the same for every server of the upstream, and the Host an http check names. */
export function compileProbe(check: HealthCheckConfig, sendProxy?: ProxyProtocolVersion, host = "localhost"): Probe {
  const header = sendProxy === 1 ? PROXY_V1_UNKNOWN : sendProxy === 2 ? PROXY_V2_LOCAL : null;
  const withHeader = (payload: Uint8Array | null) => (header ? Buffer.concat([header, payload ?? new Uint8Array(0)]) : payload);
  const proxyShown = sendProxy ? `PROXY v${sendProxy} LOCAL; ` : "";
  if (check.check) {
    const p = protocolProbe(check.check, host);
    return { send: withHeader(p.send), expectsReply: true, judge: p.judge, shown: proxyShown + p.shown };
  }
  const payload = check.sendHex ? Buffer.from(check.sendHex, "hex") : null;
  const send = withHeader(payload);
  const shown = proxyShown + (payload ? JSON.stringify(payload.subarray(0, 80).toString("latin1")) : "");
  const expect = check.expect;
  if (!expect) return { send, shown, expectsReply: false, judge: () => ({ ok: true }) };
  const matches = expect.kind === "bytes"
    ? ((needle: Buffer) => (reply: Buffer) => reply.includes(needle))(Buffer.from(expect.hex, "hex"))
    : ((regex: RegExp) => (reply: Buffer) => regex.test(reply.toString("utf8")))(new RegExp(expect.source));
  return {
    send, shown, expectsReply: true,
    judge: (reply, ended) => (matches(reply) ? { ok: true } : ended ? { ok: false, reason: reply.length ? `closed after an unexpected reply: ${JSON.stringify(reply.subarray(0, 60).toString("latin1"))}` : "closed without a reply" } : null),
  };
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
      const shown = reply.length ? reply.subarray(0, SHOWN_REPLY).toString("latin1").replace(/[^\x20-\x7e]/g, (c) => (c === "\r" ? "\\r" : c === "\n" ? "\\n" : ".")) : "";
      resolve({ ok, ms: performance.now() - started, reason, ...(local ? { local } : {}), ...(shown ? { reply: shown } : {}) });
    };
    const decide = (ended: boolean) => {
      const verdict = probe.judge(reply, ended);
      if (verdict) finish(verdict.ok, verdict.ok ? "" : verdict.reason);
      else if (ended) finish(false, "closed without a reply");
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
          decide(false);
        },
        close() {
          decide(true);
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
