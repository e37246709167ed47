// Connect-latency and session-length histograms: merged from every Worker's cells at scrape time.
import { afterEach, expect, test } from "bun:test";
import { eventually, startAegis, simpleConfig, type Aegis } from "./helpers/aegis.ts";
import { startEcho, type Backend } from "./helpers/backends.ts";
import { connect } from "./helpers/client.ts";

let aegis: Aegis | null = null;
const backends: Backend[] = [];
afterEach(async () => {
  await aegis?.stop("SIGKILL");
  aegis = null;
  for (const b of backends.splice(0)) b.stop();
});

test("every connect and every finished session is observed once, in cumulative buckets, across Workers", async () => {
  const echo = startEcho();
  backends.push(echo);
  aegis = await startAegis(simpleConfig([echo.address], { workers: 2 }));
  const sessions = 12;
  for (let i = 0; i < sessions; i++) {
    const c = await connect(aegis.port);
    c.write("x");
    await c.waitFor((t) => t === "x");
    if (i === 0) await Bun.sleep(300); // one long session
    c.socket.end();
    await c.closed;
  }
  const server = `upstream="app",server="${echo.address}"`;
  await eventually(async () => (await aegis!.metrics()).get(`aegis_session_duration_seconds_count{listener="main"}`) === sessions, 3000, "all sessions observed");
  const m = await aegis.metrics();
  expect(m.get(`aegis_upstream_connect_duration_seconds_count{${server}}`)).toBe(sessions);
  // The same sessions, by the server they were relayed to.
  expect(m.get(`aegis_upstream_session_duration_seconds_count{${server}}`)).toBe(sessions);
  expect(m.get(`aegis_upstream_session_duration_seconds_bucket{${server},le="0.1"}`)).toBe(sessions - 1);
  expect(m.get(`aegis_upstream_session_duration_seconds_sum{${server}}`)!).toBeGreaterThan(0.3);
  expect(m.get(`aegis_upstream_connect_duration_seconds_bucket{${server},le="+Inf"}`)).toBe(sessions);
  // Loopback connects are fast: all within 25 ms, and the sum is a plausible total.
  expect(m.get(`aegis_upstream_connect_duration_seconds_bucket{${server},le="0.025"}`)).toBe(sessions);
  expect(m.get(`aegis_upstream_connect_duration_seconds_sum{${server}}`)!).toBeGreaterThan(0);
  // The long session lands above 0.1 s; the buckets are cumulative, so they never decrease.
  expect(m.get(`aegis_session_duration_seconds_bucket{listener="main",le="0.1"}`)).toBe(sessions - 1);
  expect(m.get(`aegis_session_duration_seconds_bucket{listener="main",le="0.5"}`)).toBe(sessions);
  expect(m.get(`aegis_session_duration_seconds_sum{listener="main"}`)!).toBeGreaterThan(0.3);
  const buckets = [...m.entries()].filter(([k]) => k.startsWith(`aegis_session_duration_seconds_bucket{listener="main"`)).map(([, v]) => v);
  expect(buckets.length).toBeGreaterThan(10);
  for (let i = 1; i < buckets.length; i++) expect(buckets[i]!).toBeGreaterThanOrEqual(buckets[i - 1]!);
});
