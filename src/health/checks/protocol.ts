// Health checks that speak the server's protocol: what to send, and a judge that reads the reply as
// the protocol defines it (Redis RESP, PostgreSQL's first message, MySQL's greeting, an HTTP status).
import type { ProtocolCheck } from "../../config/types.ts";
import { readReply, type RespReply } from "./resp.ts";

/** The reply so far: enough to decide (ok, or why not), or null for "wait for more". */
export type Verdict = { ok: true } | { ok: false; reason: string };
export type Judge = (reply: Buffer, ended: boolean) => Verdict | null;

export interface ProtocolProbe {
  send: Uint8Array | null;
  /** What was sent, for the last check's view: the password as ***. */
  shown: string;
  judge: Judge;
}

const fail = (reason: string): Verdict => ({ ok: false, reason });
const cut = (b: Buffer) => JSON.stringify(b.subarray(0, 80).toString("latin1"));

export function protocolProbe(check: ProtocolCheck, host: string): ProtocolProbe {
  switch (check.kind) {
    case "redis": return redis(check);
    case "postgres": return postgres(check);
    case "mysql": return { send: null, shown: "", judge: mysql };
    case "http": return http(check, host);
  }
}

const command = (...args: string[]) => `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join("")}`;

function redis(c: Extract<ProtocolCheck, { kind: "redis" }>): ProtocolProbe {
  const auth = c.password === null ? null : c.username ? ["AUTH", c.username, c.password] : ["AUTH", c.password];
  const parts = [...(auth ? [command(...auth)] : []), command("PING"), ...(c.role ? [command("INFO", "replication")] : [])];
  const shown = [auth ? (c.username ? `AUTH ${c.username} ***` : "AUTH ***") : "", "PING", c.role ? "INFO replication" : ""].filter(Boolean).join("; ");
  return {
    send: Buffer.from(parts.join("")),
    shown,
    judge(reply, ended) {
      let at = 0;
      for (let i = 0; i < parts.length; i++) {
        const r = readReply(reply, at);
        if (typeof r === "string") return fail(r);
        if (r === null) return ended ? fail(reply.length ? `closed after a partial reply: ${cut(reply)}` : "closed without a reply") : null;
        at = r[1];
        const verdict = step(i - (auth ? 1 : 0), r[0]);
        if (verdict) return verdict;
      }
      return { ok: true };
    },
  };

  /** Each reply in order: -1 AUTH, 0 PING, 1 INFO. null: fine, go on. */
  function step(which: number, r: RespReply): Verdict | null {
    if (which === -1) return r.kind === "error" ? fail(`AUTH refused: ${r.text}`) : null;
    if (which === 0) {
      if (r.kind === "simple" && r.text === "PONG") return null;
      if (r.kind === "error" && r.text.startsWith("NOAUTH")) return fail("the server requires a password (NOAUTH): set password_file");
      if (r.kind === "error" && r.text.startsWith("LOADING")) return fail("the server is loading its dataset (LOADING)");
      return fail(r.kind === "error" ? `PING answered: -${r.text}` : "PING was not answered +PONG");
    }
    if (r.kind === "error") return fail(`INFO replication answered: -${r.text}`);
    if (r.kind !== "bulk" || r.text === null) return fail("INFO replication was not answered with its text");
    const role = /^role:(\w+)/m.exec(r.text)?.[1];
    if (!role) return fail("INFO replication has no role line");
    const is = role === "master" ? "primary" : role === "slave" ? "replica" : role;
    return is === c.role ? null : fail(`role is ${is} (role:${role}), expected ${c.role}`);
  }
}

function postgres(c: Extract<ProtocolCheck, { kind: "postgres" }>): ProtocolProbe {
  const fields = ["user", c.user, ...(c.database ? ["database", c.database] : [])].map((f) => `${f}\0`).join("") + "\0";
  const body = Buffer.from(fields);
  const msg = Buffer.alloc(8 + body.length);
  msg.writeInt32BE(msg.length, 0);
  msg.writeInt32BE(196608, 4); // protocol 3.0
  body.copy(msg, 8);
  return {
    send: msg,
    shown: `StartupMessage user=${c.user}${c.database ? ` database=${c.database}` : ""}`,
    judge(reply, ended) {
      if (reply.length === 0) return ended ? fail("closed without a reply") : null;
      const type = String.fromCharCode(reply[0]!);
      if (type === "R") return { ok: true }; // an authentication request: a live PostgreSQL
      if (type === "E") {
        // An error (unknown role, too many clients) is a live server too, except 57P03 "cannot connect
        // now": starting up, shutting down or in recovery, it takes no clients.
        if (reply.length < 5 || reply.length < 1 + reply.readInt32BE(1)) return ended ? fail(`closed inside an ErrorResponse: ${cut(reply)}`) : null;
        const fields = reply.toString("utf8", 5, 1 + reply.readInt32BE(1)).split("\0");
        const code = fields.find((f) => f.startsWith("C"))?.slice(1);
        const message = fields.find((f) => f.startsWith("M"))?.slice(1);
        return code === "57P03" ? fail(`the server cannot take clients now: ${message ?? "57P03"} (57P03)`) : { ok: true };
      }
      return fail(`not a PostgreSQL reply: ${cut(reply)}`);
    },
  };
}

function mysql(reply: Buffer, ended: boolean): Verdict | null {
  if (reply.length < 4 || reply.length < 4 + reply.readUIntLE(0, 3)) {
    return ended ? fail(reply.length ? `closed inside the greeting: ${cut(reply)}` : "closed without a greeting") : null;
  }
  const payload = reply.subarray(4, 4 + reply.readUIntLE(0, 3));
  if (payload[0] === 0xff) {
    const message = payload.length > 3 ? payload.subarray(payload[3] === 0x23 ? 9 : 3).toString("utf8") : "";
    return fail(`the server refused: ${message || "an error packet"} (error ${payload.length >= 3 ? payload.readUInt16LE(1) : "?"})`);
  }
  if (payload[0] !== 0x0a) return fail(`not a MySQL greeting (protocol ${payload[0]}): ${cut(reply)}`);
  const end = payload.indexOf(0, 1);
  if (end < 0) return fail("a MySQL greeting without its version string");
  return { ok: true };
}

function http(c: Extract<ProtocolCheck, { kind: "http" }>, host: string): ProtocolProbe {
  const request = `GET ${c.path} HTTP/1.1\r\nHost: ${c.host ?? host}\r\nUser-Agent: aegis-health\r\nConnection: close\r\n\r\n`;
  const wanted = c.status.split(",").map((s) => s.trim());
  return {
    send: Buffer.from(request),
    shown: `GET ${c.path}`,
    judge(reply, ended) {
      const eol = reply.indexOf("\r\n");
      if (eol < 0) return ended || reply.length > 8192 ? fail(reply.length ? `not an HTTP status line: ${cut(reply)}` : "closed without a reply") : null;
      const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(reply.toString("latin1", 0, eol));
      if (!m) return fail(`not an HTTP status line: ${cut(reply.subarray(0, eol))}`);
      const code = m[1]!;
      const ok = wanted.some((w) => (w.endsWith("xx") ? code[0] === w[0] : code === w));
      return ok ? { ok: true } : fail(`status ${code}${m[2] ? ` ${m[2]}` : ""}, expected ${c.status}`);
    },
  };
}
