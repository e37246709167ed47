// SQLite discovery through the compiled binary, in edgeProxy's schema: rows inserted, reweighted,
// marked unhealthy, deleted and removed while 50 sha256-checked streams run. Servers come and go
// without touching sessions on the others (a removed server's own sessions drain: on_down = keep),
// new sessions follow the table, a locked or corrupted file keeps the last good set, and a new file
// renamed over the old one is read.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { join } from "node:path";
import { renameSync, rmSync, writeFileSync } from "node:fs";
import { simpleConfig, startAegis, tempDir, type Aegis } from "./helpers/aegis.ts";
import { ensureBinary } from "./helpers/build.ts";
import { startEcho, type Backend } from "./helpers/backends.ts";
import { pacedStreams, expectIntact } from "./helpers/streams.ts";
import { waitFor } from "./helpers/wait.ts";

const TOKEN = "sqlite-token-0123456789abcdef";
const SCHEMA = `CREATE TABLE backends (id TEXT PRIMARY KEY, app TEXT, region TEXT, wg_ip TEXT, port INTEGER,
  healthy INTEGER DEFAULT 1, weight INTEGER DEFAULT 1, soft_limit INTEGER DEFAULT 0, hard_limit INTEGER DEFAULT 0, deleted INTEGER DEFAULT 0)`;

let aegis: Aegis;
let db: Database;
let dbPath: string;
const backends: Backend[] = [];

beforeAll(async () => {
  const dir = tempDir();
  dbPath = join(dir, "routing.db");
  db = new Database(dbPath);
  // The rollback journal (SQLite's default), where a writer's exclusive lock keeps readers out.
  db.run(SCHEMA);
  for (let i = 0; i < 4; i++) backends.push(startEcho());
  insert("node-a", 0);
  insert("node-b", 1);
  db.run("INSERT INTO backends (id, app, wg_ip, port) VALUES ('other', 'postgres', '127.0.0.1', ?)", [backends[3]!.port]);
  const toml = simpleConfig([], {
    logLevel: "info",
    adminToken: TOKEN,
    global: "access_log = false",
    upstream: `discovery = [{ sqlite = "${dbPath}", app = "echo", interval = "100ms", hold = "1h" }]`,
  });
  aegis = await startAegis(toml, { command: [ensureBinary()], cwd: dir });
});
afterAll(async () => {
  await aegis?.stop("SIGKILL");
  db?.close();
  for (const b of backends) b.stop();
});

function insert(id: string, backend: number, extra: Record<string, number | string> = {}): void {
  const cols = ["id", "app", "region", "wg_ip", "port", ...Object.keys(extra)];
  const values = [id, "echo", "eu-west", "127.0.0.1", backends[backend]!.port, ...Object.values(extra)];
  db.run(`INSERT INTO backends (${cols.join(", ")}) VALUES (${cols.map(() => "?").join(", ")})`, values);
}

interface ServerView { name: string; weight: number; source?: string; state: string; region: string | null }
async function servers(): Promise<ServerView[]> {
  const r = await fetch(`http://127.0.0.1:${aegis.metricsPort}/api/upstreams/app`, { headers: { authorization: `Bearer ${TOKEN}` } });
  return ((await r.json()) as { servers: ServerView[] }).servers;
}
const names = async () => (await servers()).map((s) => s.name).sort();
const until = (want: string[], what: string) => waitFor(async () => JSON.stringify(await names()) === JSON.stringify(want), { timeoutMs: 15_000, what });

/** A new session reaches backend `i` (the others may take some first: round robin). */
async function reaches(i: number): Promise<void> {
  const before = backends[i]!.accepted;
  await waitFor(async () => {
    const s = await Bun.connect({ hostname: "127.0.0.1", port: aegis.port, socket: { data() {} } });
    s.end();
    return backends[i]!.accepted > before;
  }, { timeoutMs: 15_000, what: `a session on backend ${i}` });
}

describe("sqlite discovery", () => {
  test("the table's rows for the app are the servers, with their weight and region", async () => {
    await until(["node-a", "node-b"], "the first two rows");
    const view = await servers();
    expect(view.every((s) => s.state === "up" && s.region === "eu-west" && s.source === "sqlite")).toBe(true);
    // The discovery families pass Prometheus's own linter.
    const text = await (await fetch(`http://127.0.0.1:${aegis.metricsPort}/metrics`)).text();
    expect(text).toContain(`aegis_discovery_servers{upstream="app",source="sqlite:${dbPath}#echo"} 2`);
    const lint = Bun.spawnSync(["promtool", "check", "metrics"], { stdin: Buffer.from(text), stderr: "pipe", stdout: "pipe" });
    expect(lint.stderr.toString() + lint.stdout.toString()).toBe("");
    expect(lint.exitCode).toBe(0);
  });

  test("rows change under 50 streams: none drops, new sessions follow the table", async () => {
    const streams = pacedStreams(aegis.port, 50, 0.1, 4 * 1024 * 1024);
    // The streams are spread over node-a and node-b before anything changes.
    await waitFor(() => backends[0]!.open + backends[1]!.open >= 50, { timeoutMs: 30_000, what: "50 streams open" });
    insert("node-c", 2, { weight: 3 });
    await until(["node-a", "node-b", "node-c"], "node-c inserted");
    await reaches(2);
    db.run("UPDATE backends SET weight = 5 WHERE id = 'node-a'");
    await waitFor(async () => (await servers()).find((s) => s.name === "node-a")?.weight === 5, { timeoutMs: 15_000, what: "node-a reweighted" });
    db.run("UPDATE backends SET healthy = 0 WHERE id = 'node-b'");
    await until(["node-a", "node-c"], "node-b unhealthy");
    const bBefore = backends[1]!.accepted;
    db.run("UPDATE backends SET deleted = 1 WHERE id = 'node-a'");
    await until(["node-c"], "node-a deleted");
    await reaches(2);
    expect(backends[1]!.accepted).toBe(bBefore); // no new session went to the unhealthy row's server
    db.run("DELETE FROM backends WHERE id = 'node-c'");
    insert("node-d", 0);
    await until(["node-d"], "node-c deleted, node-d inserted");
    // The streams ran on through every change: let each move a fair amount (aegis counts what it relayed).
    const relayed = async () => (await aegis.metrics()).get(`aegis_bytes_received_total{listener="main"}`) ?? 0;
    await waitFor(async () => (await relayed()) > 50 * 256 * 1024, { timeoutMs: 60_000, what: "12.5 MiB relayed" });
    expectIntact(await streams.finish(), 50);
  }, 120_000);

  test("a locked database keeps the last good set; the change shows once the lock goes", async () => {
    const errors = async () => (await aegis.metrics()).get(`aegis_discovery_errors_total{upstream="app",source="sqlite:${dbPath}#echo"}`) ?? 0;
    const before = await errors();
    const locker = new Database(dbPath);
    locker.run("BEGIN EXCLUSIVE");
    locker.run("UPDATE backends SET weight = 7 WHERE id = 'node-d'");
    // aegis's next poll finds the file locked: counted, and the set it had stays.
    await waitFor(async () => (await errors()) > before, { timeoutMs: 15_000, what: "a locked read counted" });
    expect(await names()).toEqual(["node-d"]);
    expect((await servers())[0]!.weight).toBe(1);
    locker.run("COMMIT");
    locker.close();
    await waitFor(async () => (await servers()).find((s) => s.name === "node-d")?.weight === 7, { timeoutMs: 15_000, what: "the committed weight" });
    expect(await names()).toEqual(["node-d"]);
  }, 60_000);

  test("the last row drained leaves no server (the table was read: that is an answer, not a failure)", async () => {
    db.run("UPDATE backends SET healthy = 0 WHERE id = 'node-d'");
    await until([], "no rows left");
    db.run("UPDATE backends SET healthy = 1 WHERE id = 'node-d'");
    await until(["node-d"], "node-d back");
  }, 60_000);

  test("a corrupt file keeps the last good set and counts errors", async () => {
    const metric = `aegis_discovery_errors_total{upstream="app",source="sqlite:${dbPath}#echo"}`;
    const before = (await aegis.metrics()).get(metric) ?? 0;
    db.close();
    writeFileSync(dbPath, Buffer.alloc(8192, 0x5a));
    for (const suffix of ["-wal", "-shm"]) writeFileSync(dbPath + suffix, "");
    await waitFor(async () => ((await aegis.metrics()).get(metric) ?? 0) > before, { timeoutMs: 15_000, what: "an error counted" });
    expect(await names()).toEqual(["node-d"]);
    await reaches(0);
  }, 60_000);

  test("a new file renamed over the old one (as a deploy writes it) is opened and read", async () => {
    const fresh = `${dbPath}.new`;
    const next = new Database(fresh);
    next.run(SCHEMA);
    next.run("INSERT INTO backends (id, app, region, wg_ip, port, weight) VALUES ('node-e', 'echo', 'us-east', '127.0.0.1', ?, 2)", [backends[1]!.port]);
    next.close();
    for (const suffix of ["-wal", "-shm"]) rmSync(dbPath + suffix, { force: true });
    renameSync(fresh, dbPath);
    await until(["node-e"], "the renamed file's row");
    expect((await servers())[0]).toMatchObject({ name: "node-e", weight: 2, source: "sqlite", region: "us-east" });
    await reaches(1);
  }, 60_000);
});
