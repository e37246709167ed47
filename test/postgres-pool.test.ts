// A real PostgreSQL behind aegis with a full pool: a crash restart and a fast shutdown must not wait
// for aegis's pooled sockets (which never speak, so PostgreSQL's children for them would wait for the
// startup packet until authentication_timeout, 60 s, and the postmaster waits for those children).
import { afterEach, describe, expect, test } from "bun:test";
import { eventually, startAegis, simpleConfig, type Aegis } from "./helpers/aegis.ts";
import { findPostgresBin, startPostgres, type Postgres } from "./helpers/postgres.ts";

const BIN = findPostgresBin();
const CI = Boolean(process.env.CI) && process.env.CI !== "false" && process.env.CI !== "0";
if (!BIN && !CI) {
  console.warn("test/postgres-pool.test.ts skipped: no PostgreSQL (initdb, pg_ctl, postgres, psql) on PATH or in /usr/lib/postgresql/*/bin; `bash scripts/setup.sh --test` as root installs it");
}
// In CI a missing PostgreSQL is a failure, not a skip.
const pgTest = BIN || CI ? test : test.skip;

const WORKERS = 2;
const POOL = 4;

let aegis: Aegis | null = null;
let pg: Postgres | null = null;
afterEach(async () => {
  // aegis first: its sockets closing lets PostgreSQL's children for them exit.
  await aegis?.stop("SIGKILL");
  aegis = null;
  await pg?.destroy();
  pg = null;
});

async function setUp(): Promise<{ pg: Postgres; aegis: Aegis }> {
  if (!BIN) throw new Error("no PostgreSQL binaries found (initdb, pg_ctl, postgres, psql) and CI is set: install postgresql");
  // authentication_timeout spelled out: the 60 s the bug made every restart wait.
  pg = await startPostgres(BIN, { settings: { authentication_timeout: "60s" } });
  aegis = await startAegis(simpleConfig([`127.0.0.1:${pg.port}`], { workers: WORKERS, logLevel: "info", upstream: `pool = ${POOL}` }));
  await poolFull(aegis, 10_000);
  return { pg, aegis };
}

/**
 * Let the pooled sockets age past a second: in production they have sat idle for a while when the
 * server restarts, and a socket closed within its first second already took a different path.
 * Waiting here is for time itself to pass, not for an event.
 */
async function ageThePool(a: Aegis): Promise<void> {
  await Bun.sleep(1500);
  expect(await idle(a)).toBe(WORKERS * POOL);
}

const idle = async (a: Aegis) => (await a.metrics()).get("aegis_upstream_pool_idle") ?? -1;
const poolFull = (a: Aegis, ms: number) => eventually(async () => (await idle(a)) === WORKERS * POOL, ms, `pool full (${WORKERS * POOL} idle)`);

/** Repeat `select 1` (each attempt bounded by its connect timeout) until one works or `deadline`; the time of success, or null. */
async function firstSuccess(p: Postgres, deadline: number, port?: number): Promise<{ at: number | null; last: string }> {
  let last = "";
  for (let attempt = 0; attempt < 200 && performance.now() < deadline; attempt++) {
    const r = await p.psql("select 1", { port, connectTimeoutS: 2 });
    if (r.code === 0 && r.out.trim() === "1") return { at: performance.now(), last };
    last = r.err.trim();
    await Bun.sleep(100);
  }
  return { at: null, last };
}

describe("pool in front of PostgreSQL", () => {
  pgTest("a crashed backend: PostgreSQL's crash restart is not held up, and the pool fills again afterwards", async () => {
    const { pg, aegis } = await setUp();
    // Through aegis first: a pooled socket works as a session.
    expect((await pg.psql("select 1", { port: aegis.port })).out.trim()).toBe("1");
    await poolFull(aegis, 10_000);
    await ageThePool(aegis);

    // A real backend to crash, found by its query in pg_stat_activity.
    const victim = pg.spawnPsql("select pg_sleep(600)");
    let pid = 0;
    const findBy = performance.now() + 10_000;
    for (let attempt = 0; attempt < 100 && !pid && performance.now() < findBy; attempt++) {
      const r = await pg.psql("select pid from pg_stat_activity where query = 'select pg_sleep(600)'");
      pid = Number(r.out.trim()) || 0;
      if (!pid) await Bun.sleep(50);
    }
    expect(pid).toBeGreaterThan(0);
    expect(pg.children().some((c) => c.pid === pid)).toBe(true);

    process.kill(pid, "SIGKILL");
    const killedAt = performance.now();
    // PostgreSQL now restarts: it ends every child and waits for all of them, pooled ones included.
    // The suite measures no speed in wall-clock bounds, but this one is correctness, as the issue
    // states it: with pooled sockets holding children the restart took 60 s (authentication_timeout),
    // without them well under 1 s. 5 s separates the two with a wide margin; 20 s bounds the wait.
    const { at, last } = await firstSuccess(pg, killedAt + 20_000);
    victim.kill("SIGKILL");
    expect(at, `no direct connection 20 s after the crash; last error: ${last}\n${pg.log().slice(-3000)}`).not.toBeNull();
    const restartMs = at! - killedAt;
    console.log(`postgres-pool: direct psql worked ${restartMs.toFixed(0)} ms after the backend was killed`);
    expect(restartMs).toBeLessThan(5_000);

    // The pool noticed (closed sockets counted), backs off, then fills again and serves sessions.
    const m = await aegis.metrics();
    expect(m.get("aegis_upstream_pool_closed_total") ?? 0).toBeGreaterThan(0);
    const warned = await aegis.waitForLog((l) => l.level === "warn" && String(l.msg).startsWith("server closed idle pooled sockets"), 5_000);
    expect(String(warned.hint)).toContain("pool_max_idle");
    await poolFull(aegis, 20_000);
    const through = await firstSuccess(pg, performance.now() + 10_000, aegis.port);
    expect(through.at, `no session through aegis after the restart: ${through.last}`).not.toBeNull();
    expect((await aegis.metrics()).get("aegis_upstream_pool_connections_total") ?? 0).toBeGreaterThan(WORKERS * POOL);
  }, 90_000);

  pgTest("pg_ctl stop -m fast completes while aegis holds a full pool, and aegis does not refill a stopped server", async () => {
    const { pg, aegis } = await setUp();
    await ageThePool(aegis);
    // Correctness bound as above: a held fast shutdown waited 60 s, a free one takes well under 1 s.
    const stop = await pg.pgCtl(["stop", "-m", "fast", "-w", "-t", "30"], 40_000);
    expect(stop.code, `pg_ctl stop failed: ${stop.err}${stop.out}\n${pg.log().slice(-3000)}`).toBe(0);
    console.log(`postgres-pool: pg_ctl stop -m fast took ${stop.ms.toFixed(0)} ms with a full pool`);
    expect(stop.ms).toBeLessThan(5_000);
    await eventually(async () => (await idle(aegis)) === 0, 5_000, "no idle pooled sockets to a stopped server");
  }, 90_000);
});
