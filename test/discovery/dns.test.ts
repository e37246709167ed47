// DNS discovery against a real dnsmasq: A/AAAA and SRV records added, removed and reweighted, the
// server stopped (the last good set held, then dropped), TTLs honoured (a long TTL not asked again
// while a TTL-0 name is asked every interval); and the wire parser on
// real answers, malformed ones and a seeded fuzz.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { ServerConfig } from "../../src/config/types.ts";
import { lookup } from "../../src/discovery/dns-client.ts";
import { encodeQuery, parseAnswer } from "../../src/discovery/dns-wire.ts";
import { createDnsSource, nextLookupMs } from "../../src/discovery/dns-source.ts";
import { Logger } from "../../src/telemetry/log.ts";
import { startDnsmasq, type Dnsmasq } from "./dnsmasq.ts";
import { seeded } from "../helpers/random.ts";
import { waitFor } from "../helpers/wait.ts";

let dns: Dnsmasq;
const resolvers = () => [{ host: "127.0.0.1", port: dns.port }];
const quiet = new Logger("error");

beforeAll(async () => {
  dns = await startDnsmasq({ hosts: ["127.0.0.2 svc.test", "::2 svc.test", "127.0.0.9 tgt.test"], srv: ["_e._tcp.test,tgt.test,7001,0,5", "_e._tcp.test,tgt.test,7002,1,0"], ttl: 3 });
});
afterAll(() => dns?.stop());

/** A source whose changes and failures the test awaits one by one. */
function watched(config: Parameters<typeof createDnsSource>[0]) {
  const changes: { servers: ServerConfig[]; why: string }[] = [];
  const failures: string[] = [];
  let wake = () => {};
  const source = createDnsSource(config, resolvers(), quiet, {
    changed: (servers, why) => { changes.push({ servers, why }); wake(); },
    failed: (reason) => { failures.push(reason); wake(); },
  });
  const until = async (check: () => boolean, what: string) => {
    for (let i = 0; i < 200 && !check(); i++) await Promise.race([new Promise<void>((r) => (wake = r)), Bun.sleep(1000)]);
    if (!check()) throw new Error(`${what}: not seen (changes ${JSON.stringify(changes.map((c) => c.why))}, failures ${JSON.stringify(failures)})`);
  };
  return { source, changes, failures, until };
}

describe("the wire format", () => {
  test("real answers: A, AAAA, SRV with its additional records, TTLs", async () => {
    const a = await lookup("svc.test", "A", resolvers());
    expect(a).toMatchObject({ rcode: 0, answers: [{ type: "A", address: "127.0.0.2", ttl: 3 }] });
    expect(await lookup("svc.test", "AAAA", resolvers())).toMatchObject({ answers: [{ type: "AAAA", address: "::2" }] });
    const srv = await lookup("_e._tcp.test", "SRV", resolvers());
    if (typeof srv === "string") throw new Error(srv);
    expect(srv.answers.map((r) => r.type === "SRV" && `${r.target}:${r.port}/${r.priority}/${r.weight}`).sort()).toEqual(["tgt.test:7001/0/5", "tgt.test:7002/1/0"]);
    expect(srv.additional).toMatchObject([{ type: "A", name: "tgt.test", address: "127.0.0.9" }]);
  });

  test("malformed answers are refused with a reason", () => {
    const q = Buffer.from(encodeQuery(7, "svc.test", "A"));
    const answer = Buffer.concat([q, Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 10, 0, 0, 1])]);
    answer.writeUInt16BE(0x8180, 2);
    answer.writeUInt16BE(1, 6);
    expect(parseAnswer(answer, 7, "svc.test", "A")).toMatchObject({ answers: [{ address: "10.0.0.1", ttl: 5 }] });
    expect(parseAnswer(answer.subarray(0, 8), 7, "svc.test", "A")).toBe("the answer is shorter than a DNS header");
    expect(parseAnswer(answer, 8, "svc.test", "A")).toBe("the answer's id is not the query's");
    expect(parseAnswer(answer, 7, "other.test", "A")).toBe("the answer is for another question");
    expect(parseAnswer(answer.subarray(0, answer.length - 2), 7, "svc.test", "A")).toMatch(/runs past the end/);
    const huge = Buffer.from(answer);
    huge.writeUInt32BE(0x80000001, q.length + 6); // a TTL with its top bit set (RFC 2181: read as 0)
    expect(parseAnswer(huge, 7, "svc.test", "A")).toMatchObject({ answers: [{ ttl: 0 }] });
    const loop = Buffer.from(answer);
    loop.writeUInt16BE(0xc000 | (q.length), q.length); // the answer's name points at itself
    expect(parseAnswer(loop, 7, "svc.test", "A")).toMatch(/does not point backwards/);
    const counts = Buffer.from(answer);
    counts.writeUInt16BE(40, 6);
    expect(parseAnswer(counts, 7, "svc.test", "A")).toMatch(/malformed/);
    const query = Buffer.from(answer);
    query.writeUInt16BE(0x0100, 2);
    expect(parseAnswer(query, 7, "svc.test", "A")).toBe("the message is not an answer");
  });

  test("a seeded fuzz of mutated real answers never throws", async () => {
    const id = 4242;
    const raw = await new Promise<Buffer>(async (resolve) => {
      const s = await Bun.udpSocket({ socket: { data: (_s, d) => resolve(Buffer.from(d)) } });
      s.send(encodeQuery(id, "_e._tcp.test", "SRV"), dns.port, "127.0.0.1");
    });
    const random = seeded(11);
    for (let i = 0; i < 5000; i++) {
      const m = Buffer.from(raw.subarray(0, Math.floor(random() * (raw.length + 1))));
      for (let k = 0; k < 1 + Math.floor(random() * 4); k++) if (m.length) m[Math.floor(random() * m.length)] = Math.floor(random() * 256);
      const r = parseAnswer(m, id, "_e._tcp.test", "SRV");
      expect(typeof r === "string" || Array.isArray(r.answers)).toBe(true);
    }
  });
});

describe("the source", () => {
  test("next lookup: at the TTL, never sooner than the interval", () => {
    expect(nextLookupMs(10_000, 0)).toBe(10_000);
    expect(nextLookupMs(10_000, 60_000)).toBe(60_000);
    expect(nextLookupMs(1_000, undefined)).toBe(1_000);
    // A TTL of years waits a day at most (Bun fires a timer past 2^31-1 ms at once: a flood of lookups).
    expect(nextLookupMs(10_000, 0x7fffffff * 1000)).toBe(86_400_000);
    // A held set that runs out sooner is looked at when it does, never in a busy loop.
    expect(nextLookupMs(60_000, undefined, 5_000)).toBe(5_000);
    expect(nextLookupMs(60_000, undefined, -3)).toBe(100);
  });

  test("A/AAAA: addresses become servers on the port; added and removed records are changes; the TTL is what dnsmasq sent", async () => {
    const w = watched({ kind: "dns", name: "svc.test", port: 6379, intervalMs: 100, holdMs: 60_000 });
    w.source.start();
    try {
      await w.until(() => w.changes.length >= 1, "the first set");
      expect(w.changes[0]!.servers.map((s) => s.name).sort()).toEqual(["127.0.0.2:6379", "[::2]:6379"]);
      expect(w.changes[0]!.servers.every((s) => s.source === "dns" && s.address.port === 6379)).toBe(true);
      expect(w.source.last).toMatchObject({ ok: true, ttlMs: 3000 });
      await dns.hosts(["127.0.0.2 svc.test", "127.0.0.3 svc.test", "127.0.0.9 tgt.test"]);
      await w.until(() => w.changes.length >= 2, "the change");
      expect(w.changes[1]!.why).toBe("added 127.0.0.3:6379; removed [::2]:6379");
    } finally {
      w.source.stop();
    }
  }, 30_000);

  test("SRV: weight, the lowest priority primary, others backup; a reweight is a change", async () => {
    const w = watched({ kind: "srv", name: "_e._tcp.test", intervalMs: 100, holdMs: 60_000 });
    w.source.start();
    try {
      await w.until(() => w.changes.length >= 1, "the first set");
      expect(w.changes[0]!.servers.map((s) => [s.name, s.address.host, s.weight, s.backup])).toEqual([
        ["tgt.test:7001", "127.0.0.9", 5, false], ["tgt.test:7002", "127.0.0.9", 1, true],
      ]);
      await dns.restart(["_e._tcp.test,tgt.test,7001,0,9", "_e._tcp.test,tgt.test,7002,0,2"]);
      await w.until(() => w.changes.length >= 2, "the reweight");
      expect(w.changes[1]!.why).toBe("changed tgt.test:7001, tgt.test:7002");
      expect(w.changes[1]!.servers.map((s) => [s.weight, s.backup])).toEqual([[9, false], [2, false]]);
    } finally {
      w.source.stop();
    }
  }, 30_000);

  test("the TTL is honoured: a name with a long TTL is not asked again while one with TTL 0 is asked at every interval", async () => {
    const own = await startDnsmasq({ records: ["long.test,127.0.0.5,3600", "short.test,127.0.0.6,0"], logQueries: true });
    const at = (name: string) => createDnsSource({ kind: "dns", name, port: 80, intervalMs: 100, holdMs: 60_000 }, [{ host: "127.0.0.1", port: own.port }], quiet, { changed() {}, failed() {} });
    const long = at("long.test");
    const short = at("short.test");
    long.start();
    short.start();
    try {
      // The short name's lookups are the clock: ten rounds of it, and the long name was asked once.
      await waitFor(() => own.queries("short.test", "A") >= 10, { timeoutMs: 15_000, what: "ten lookups of short.test in dnsmasq's log" });
      expect(own.queries("long.test", "A")).toBe(1);
      expect(long.last).toMatchObject({ ok: true, ttlMs: 3_600_000 });
      expect(long.servers.map((s) => s.name)).toEqual(["127.0.0.5:80"]);
    } finally {
      long.stop();
      short.stop();
      own.stop();
    }
  }, 30_000);

  test("a name whose records vanish (NXDOMAIN: an empty answer) keeps its last good set and is counted a failure", async () => {
    const own = await startDnsmasq({ hosts: ["127.0.0.4 gone.test"], local: "test" });
    const changes: ServerConfig[][] = [];
    const failures: string[] = [];
    const source = createDnsSource({ kind: "dns", name: "gone.test", port: 80, intervalMs: 100, holdMs: 60_000 }, [{ host: "127.0.0.1", port: own.port }], quiet, {
      changed: (servers) => void changes.push(servers), failed: (reason) => void failures.push(reason),
    });
    source.start();
    try {
      await waitFor(() => changes.length >= 1, { what: "the first set" });
      await own.hosts([]);
      await waitFor(() => failures.length >= 1, { timeoutMs: 15_000, what: "the empty answer" });
      expect(failures[0]).toBe("gone.test: NXDOMAIN");
      expect(source.servers.map((s) => s.name)).toEqual(["127.0.0.4:80"]);
      expect(source.last).toMatchObject({ ok: false, reason: "gone.test: NXDOMAIN" });
      expect(source.last!.heldUntil).toBeGreaterThan(Date.now());
      expect(changes).toHaveLength(1);
    } finally {
      source.stop();
      own.stop();
    }
  }, 30_000);

  test("the server stopped: failures reported, the last good set held, then dropped after hold", async () => {
    const w = watched({ kind: "dns", name: "svc.test", port: 80, intervalMs: 100, holdMs: 400 });
    w.source.start();
    try {
      await w.until(() => w.changes.length >= 1, "the first set");
      dns.stop();
      await w.until(() => w.failures.length >= 1, "a failure");
      expect(w.source.servers.length).toBeGreaterThan(0); // held
      expect(w.source.last).toMatchObject({ ok: false });
      await w.until(() => w.changes.length >= 2, "the hold running out");
      expect(w.changes[1]).toMatchObject({ servers: [] });
      expect(w.changes[1]!.why).toMatch(/^hold over/);
    } finally {
      w.source.stop();
      await dns.restart(["_e._tcp.test,tgt.test,7001,0,5"]);
    }
  }, 30_000);
});
