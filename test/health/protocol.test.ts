// Protocol health checks against real servers: redis-server (roles through a real replica, AUTH
// with requirepass), PostgreSQL, MariaDB (its greeting, and the error packet of a host it refuses),
// an HTTP server switched between 200 and 503; MySQL 8's greeting layout and error packets from a
// scripted server; and malformed replies, each failing with its reason.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { HealthCheckConfig, ProtocolCheck } from "../../src/config/types.ts";
import { compileProbe, runProbe } from "../../src/health/probe.ts";
import { closedPort, startEcho, startScripted, type Backend } from "../helpers/backends.ts";
import { run } from "../helpers/build.ts";
import { waitFor } from "../helpers/wait.ts";
import { startRedis } from "../helpers/redis.ts";
import { findPostgresBin, startPostgres, type Postgres } from "../helpers/postgres.ts";
import { startMariadb } from "../helpers/mariadb.ts";

const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

const health = (check: ProtocolCheck): HealthCheckConfig => ({ intervalMs: 1000, timeoutMs: 3000, rise: 1, fall: 1, sendHex: null, expect: null, check });
const probe = (check: ProtocolCheck, port: number) => runProbe({ host: "127.0.0.1", port }, compileProbe(health(check), undefined, `127.0.0.1:${port}`), 3000);
const redisCheck = (o: Partial<Extract<ProtocolCheck, { kind: "redis" }>> = {}): ProtocolCheck => ({ kind: "redis", password: null, username: null, role: null, ...o });

async function redis(args: string[] = [], password?: string): Promise<number> {
  const r = await startRedis({ args, ...(password ? { password } : {}) });
  cleanups.push(() => r.stop());
  return r.port;
}

describe("redis", () => {
  let primary: number;
  let replica: number;
  beforeAll(async () => {
    primary = await redis();
    replica = await redis(["--replicaof", "127.0.0.1", String(await Promise.resolve(primary))]);
  });

  test("PING, and the role from INFO replication", async () => {
    expect(await probe(redisCheck(), primary)).toMatchObject({ ok: true, reason: "" });
    expect(await probe(redisCheck({ role: "primary" }), primary)).toMatchObject({ ok: true });
    expect(await probe(redisCheck({ role: "replica" }), replica)).toMatchObject({ ok: true });
    expect(await probe(redisCheck({ role: "primary" }), replica)).toMatchObject({ ok: false, reason: "role is replica (role:slave), expected primary" });
    const r = await probe(redisCheck({ role: "replica" }), primary);
    expect(r).toMatchObject({ ok: false, reason: "role is primary (role:master), expected replica" });
    expect(r.reply).toContain("+PONG");
  });

  test("the roles flip with a failover", async () => {
    await run(["redis-cli", "-p", String(replica), "REPLICAOF", "NO", "ONE"]);
    await run(["redis-cli", "-p", String(primary), "REPLICAOF", "127.0.0.1", String(replica)]);
    await waitFor(async () => (await probe(redisCheck({ role: "primary" }), replica)).ok, { what: "the promoted replica", timeoutMs: 15_000 });
    expect(await probe(redisCheck({ role: "replica" }), primary)).toMatchObject({ ok: true });
  });

  test("requirepass: no password, a wrong one, the right one (and an ACL user)", async () => {
    const port = await redis([], "right-one");
    expect(await probe(redisCheck(), port)).toMatchObject({ ok: false, reason: "the server requires a password (NOAUTH): set password_file" });
    const wrong = await probe(redisCheck({ password: "wrong" }), port);
    expect(wrong.ok).toBe(false);
    expect(wrong.reason).toMatch(/^AUTH refused: (WRONGPASS|ERR invalid password)/);
    expect(await probe(redisCheck({ password: "right-one", role: "primary" }), port)).toMatchObject({ ok: true });
    expect(compileProbe(health(redisCheck({ password: "right-one" }))).shown).toBe("AUTH ***; PING");
    await run(["redis-cli", "-p", String(port), "-a", "right-one", "--no-auth-warning", "ACL", "SETUSER", "checker", "on", ">pw2", "+ping", "+info"]);
    expect(await probe(redisCheck({ password: "pw2", username: "checker", role: "primary" }), port)).toMatchObject({ ok: true });
  });

  test("not Redis, cut short, or gone: a reason, never a throw", async () => {
    const echo = startEcho({ greeting: "220 smtp ready\r\n" });
    cleanups.push(() => echo.stop());
    expect((await probe(redisCheck(), echo.port)).reason).toMatch(/^not a Redis reply/);
    const half = startScripted({ data: (s) => void (s.write("$10\r\nabc"), s.end()) });
    cleanups.push(() => half.stop());
    expect((await probe(redisCheck(), half.port)).reason).toMatch(/closed after a partial reply/);
    expect((await probe(redisCheck(), closedPort())).reason).toMatch(/^connect failed/);
  });
});

describe("postgres", () => {
  const bin = findPostgresBin();
  let pg: Postgres | null = null;
  beforeAll(async () => {
    if (bin) pg = await startPostgres(bin);
    cleanups.push(() => pg?.destroy());
  }, 60_000);

  test("a real server answers the StartupMessage; an echo server and a closed port fail with reasons", async () => {
    if (!pg) throw new Error("PostgreSQL is not installed: bash scripts/setup.sh --test installs it");
    expect(await probe({ kind: "postgres", user: "aegis", database: null }, pg.port)).toMatchObject({ ok: true });
    expect(await probe({ kind: "postgres", user: "postgres", database: "postgres" }, pg.port)).toMatchObject({ ok: true });
    const echo = startEcho();
    cleanups.push(() => echo.stop());
    expect((await probe({ kind: "postgres", user: "aegis", database: null }, echo.port)).reason).toMatch(/^not a PostgreSQL reply/);
    expect((await probe({ kind: "postgres", user: "aegis", database: null }, closedPort())).reason).toMatch(/^connect failed/);
  }, 30_000);
});

test("postgres: 57P03 (starting up, shutting down) is not live; other errors are", async () => {
  const errorResponse = (code: string, message: string) => {
    const body = Buffer.from(`SFATAL\0C${code}\0M${message}\0\0`);
    const head = Buffer.alloc(5);
    head.write("E", 0);
    head.writeInt32BE(body.length + 4, 1);
    return Buffer.concat([head, body]);
  };
  const starting = startScripted({ data: (s) => void (s.write(errorResponse("57P03", "the database system is starting up")), s.end()) });
  const noRole = startScripted({ data: (s) => void (s.write(errorResponse("28000", "role \"aegis\" does not exist")), s.end()) });
  cleanups.push(() => starting.stop(), () => noRole.stop());
  expect(await probe({ kind: "postgres", user: "aegis", database: null }, starting.port)).toMatchObject({ ok: false, reason: "the server cannot take clients now: the database system is starting up (57P03)" });
  expect(await probe({ kind: "postgres", user: "aegis", database: null }, noRole.port)).toMatchObject({ ok: true });
});

describe("mysql", () => {
  const greeting = () => {
    const payload = Buffer.concat([Buffer.from([0x0a]), Buffer.from("8.0.36\0"), Buffer.from([8, 0, 0, 0]), Buffer.alloc(8, 0x41), Buffer.from([0]),
      Buffer.from([0xff, 0xff, 0xff, 0x02, 0x00, 0xff, 0xdf, 0x15]), Buffer.alloc(10), Buffer.alloc(12, 0x42), Buffer.from([0]), Buffer.from("caching_sha2_password\0")]);
    return Buffer.concat([Buffer.from([payload.length, 0, 0, 0]), payload]);
  };
  test("a greeting passes, in pieces too; an error packet fails with its message; a short one with a reason", async () => {
    const servers: Backend[] = [
      startScripted({ open: (s) => void s.write(greeting()) }),
      startScripted({ open: (s) => { const g = greeting(); s.write(g.subarray(0, 3)); setTimeout(() => s.write(g.subarray(3)), 20); } }),
      startScripted({ open: (s) => { const msg = Buffer.from("Host '127.0.0.1' is blocked because of many connection errors"); s.write(Buffer.concat([Buffer.from([msg.length + 3, 0, 0, 0, 0xff, 0x69, 0x04]), msg])); s.end(); } }),
      startScripted({ open: (s) => void (s.write(Buffer.from([40, 0, 0, 0, 0x0a, 0x38])), s.end()) }),
    ];
    for (const b of servers) cleanups.push(() => b.stop());
    expect(await probe({ kind: "mysql" }, servers[0]!.port)).toMatchObject({ ok: true });
    expect(await probe({ kind: "mysql" }, servers[1]!.port)).toMatchObject({ ok: true });
    expect((await probe({ kind: "mysql" }, servers[2]!.port)).reason).toBe("the server refused: Host '127.0.0.1' is blocked because of many connection errors (error 1129)");
    expect((await probe({ kind: "mysql" }, servers[3]!.port)).reason).toMatch(/^closed inside the greeting/);
  });
});

describe("mysql against a real MariaDB", () => {
  test("a host it refuses fails with the server's own message; once allowed, its greeting passes, check after check", async () => {
    // skip-name-resolve: 127.0.0.1 is not "localhost", and no account names it yet.
    const db = await startMariadb(["--skip-name-resolve"]);
    cleanups.push(() => db.stop());
    const refused = await probe({ kind: "mysql" }, db.port);
    expect(refused.ok).toBe(false);
    expect(refused.reason).toBe("the server refused: Host '127.0.0.1' is not allowed to connect to this MariaDB server (error 1130)");
    expect((await db.sql("CREATE USER 'aegis'@'127.0.0.1'")).code).toBe(0);
    for (let i = 0; i < 3; i++) expect(await probe({ kind: "mysql" }, db.port)).toMatchObject({ ok: true, reason: "" });
  }, 90_000);
});

describe("http", () => {
  test("the status of GET path, switched at run time; a class, a list; not HTTP", async () => {
    let status = 200;
    const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (req) => new Response(new URL(req.url).pathname === "/primary" ? "ok" : "no", { status: new URL(req.url).pathname === "/primary" ? status : 404 }) });
    cleanups.push(() => server.stop(true));
    const check = (path: string, s = "2xx"): ProtocolCheck => ({ kind: "http", path, status: s, host: null });
    expect(await probe(check("/primary"), server.port!)).toMatchObject({ ok: true });
    status = 503;
    expect(await probe(check("/primary"), server.port!)).toMatchObject({ ok: false, reason: "status 503 Service Unavailable, expected 2xx" });
    expect(await probe(check("/primary", "200,503"), server.port!)).toMatchObject({ ok: true });
    expect((await probe(check("/elsewhere", "200"), server.port!)).reason).toBe("status 404 Not Found, expected 200");
    const smtp = startEcho({ greeting: "220 smtp ready\r\n" });
    cleanups.push(() => smtp.stop());
    expect((await probe(check("/"), smtp.port)).reason).toMatch(/^not an HTTP status line/);
  });
});
