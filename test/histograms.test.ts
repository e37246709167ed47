// Connect-latency and session-length histograms: merged from every Worker's cells at scrape time.
import { expect, test } from "bun:test";
import { startAegis, simpleConfig, type Aegis } from "./helpers/aegis.ts";
import { startEcho } from "./helpers/backends.ts";
import { connect } from "./helpers/client.ts";
import { waitFor } from "./helpers/wait.ts";
import { stopAfterEach } from "./helpers/teardown.ts";

let aegis: Aegis | null = null;
const { backends } = stopAfterEach(() => aegis);

test("every connect and every finished session is observed once, in cumulative buckets, across Workers", async () => {
  const echo = startEcho();
  backends.push(echo);
  aegis = await startAegis(simpleConfig([echo.address], { workers: 2 }));
  const sessions = 12;
  const HOLD_MS = 700; // one long session, well past the 0.5 s bucket
  const count = async () => (await aegis!.metrics()).get(`aegis_session_duration_seconds_count{listener="main"}`) ?? 0;
  // What the client saw of each session, from before its connect until aegis had counted it: aegis's
  // own measure (accept to close) lies inside, so it is never longer. Nothing here assumes speed.
  const outside: number[] = [];
  for (let i = 0; i < sessions; i++) {
    const started = performance.now();
    const c = await connect(aegis.port);
    c.write("x");
    await c.waitFor((t) => t === "x", 10_000);
    if (i === 0) await Bun.sleep(HOLD_MS); // part of what is measured, not a wait for something
    c.socket.end();
    await c.closed;
    await waitFor(async () => (await count()) === i + 1, { what: `session ${i + 1} observed` });
    outside.push((performance.now() - started) / 1000);
  }
  const server = `upstream="app",server="${echo.address}"`;
  const m = await aegis.metrics();
  const bucket = (name: string, labels: string, le: string) => m.get(`${name}_bucket{${labels},le="${le}"}`)!;
  const LISTENER = `listener="main"`;
  const SESSION = "aegis_session_duration_seconds";
  const UP_SESSION = "aegis_upstream_session_duration_seconds";
  const CONNECT = "aegis_upstream_connect_duration_seconds";
  expect(m.get(`${CONNECT}_count{${server}}`)).toBe(sessions);
  expect(bucket(CONNECT, server, "+Inf")).toBe(sessions);
  // The same sessions, by the server they were relayed to.
  expect(m.get(`${UP_SESSION}_count{${server}}`)).toBe(sessions);
  expect(bucket(SESSION, LISTENER, "+Inf")).toBe(sessions);
  expect(bucket(UP_SESSION, server, "+Inf")).toBe(sessions);
  // The long session lasted at least HOLD_MS in aegis, however slow the machine: above 0.5 s.
  expect(bucket(SESSION, LISTENER, "0.5")).toBeLessThanOrEqual(sessions - 1);
  expect(bucket(UP_SESSION, server, "0.5")).toBeLessThanOrEqual(sessions - 1);
  expect(m.get(`${SESSION}_sum{${LISTENER}}`)!).toBeGreaterThan(HOLD_MS / 1000);
  expect(m.get(`${UP_SESSION}_sum{${server}}`)!).toBeGreaterThan(HOLD_MS / 1000);
  // And no longer than the client's outside view: the sums, and every bucket holds at least the
  // sessions the client saw end within its bound (on a quiet machine, the 11 short ones under 0.1 s).
  const total = outside.reduce((a, b) => a + b, 0);
  expect(m.get(`${SESSION}_sum{${LISTENER}}`)!).toBeLessThanOrEqual(total);
  for (const le of ["0.01", "0.1", "0.5", "1", "5"]) {
    const within = outside.filter((s) => s <= Number(le)).length;
    expect(bucket(SESSION, LISTENER, le)).toBeGreaterThanOrEqual(within);
    expect(bucket(UP_SESSION, server, le)).toBeGreaterThanOrEqual(within);
    // A connect is part of its session, so no session bucket holds more than the connect bucket.
    expect(bucket(CONNECT, server, le)).toBeGreaterThanOrEqual(bucket(UP_SESSION, server, le));
  }
  expect(m.get(`${CONNECT}_sum{${server}}`)!).toBeGreaterThan(0);
  expect(m.get(`${CONNECT}_sum{${server}}`)!).toBeLessThanOrEqual(m.get(`${UP_SESSION}_sum{${server}}`)!);
  // The buckets are cumulative, so they never decrease.
  for (const [name, labels] of [[SESSION, LISTENER], [UP_SESSION, server], [CONNECT, server]] as const) {
    const buckets = [...m.entries()].filter(([k]) => k.startsWith(`${name}_bucket{${labels},`)).map(([, v]) => v);
    expect(buckets.length).toBeGreaterThan(10);
    for (let i = 1; i < buckets.length; i++) expect(buckets[i]!).toBeGreaterThanOrEqual(buckets[i - 1]!);
  }
});
