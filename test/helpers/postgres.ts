// A throwaway PostgreSQL server for tests: initdb into a temp dir, postgres on a free 127.0.0.1 port
// (its unix socket in the temp dir too), psql and pg_ctl against it, everything removed at the end.
// Run as root (CI), the server runs as the `postgres` user (made by Debian's postgresql package) or,
// without it, as `nobody`: PostgreSQL refuses to run as root.
import type { Subprocess } from "bun";
import { chownSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const TOOLS = ["initdb", "pg_ctl", "postgres", "psql"] as const;

/**
 * The directory holding initdb, pg_ctl, postgres and psql, or null. Debian keeps them in
 * /usr/lib/postgresql/<version>/bin (only wrappers are on PATH), so that is searched too, newest first.
 */
export function findPostgresBin(): string | null {
  const onPath = Bun.which("initdb");
  if (onPath) {
    const dir = join(onPath, "..");
    if (TOOLS.every((t) => existsSync(join(dir, t)))) return dir;
  }
  const root = "/usr/lib/postgresql";
  let versions: string[] = [];
  try {
    versions = readdirSync(root).filter((v) => /^\d+(\.\d+)?$/.test(v)).sort((a, b) => Number(b) - Number(a));
  } catch {
    return null;
  }
  for (const v of versions) {
    const dir = join(root, v, "bin");
    if (TOOLS.every((t) => existsSync(join(dir, t)))) return dir;
  }
  return null;
}

/** uid and gid of a user from /etc/passwd, or null. */
function lookupUser(name: string): { uid: number; gid: number } | null {
  for (const line of readFileSync("/etc/passwd", "utf8").split("\n")) {
    const f = line.split(":");
    if (f[0] === name && f.length >= 4) return { uid: Number(f[2]), gid: Number(f[3]) };
  }
  return null;
}

export interface RunResult {
  code: number;
  out: string;
  err: string;
  ms: number;
}

export interface Postgres {
  readonly port: number;
  readonly dataDir: string;
  /** Pid of the postmaster (from postmaster.pid). */
  readonly postmasterPid: number;
  /** psql -c `sql` to 127.0.0.1:`port` (default: this server directly), one attempt of at most `connectTimeoutS`. */
  psql(sql: string, options?: { port?: number; connectTimeoutS?: number; timeoutMs?: number }): Promise<RunResult>;
  /** Start psql running `sql` and leave it running (for a backend to kill). */
  spawnPsql(sql: string): Subprocess;
  /** pg_ctl `args` against the data dir, as the server's user. */
  pgCtl(args: string[], timeoutMs?: number): Promise<RunResult>;
  /** Pids of the postmaster's children with their command lines. */
  children(): { pid: number; args: string }[];
  /** Server log so far (for failure messages). */
  log(): string;
  /** Stop immediately (if running) and remove every file. */
  destroy(): Promise<void>;
}

/** Run `cmd`, killing it after `timeoutMs`; never throws for a non-zero exit. */
export async function run(cmd: string[], options: { env?: Record<string, string>; timeoutMs?: number; cwd?: string } = {}): Promise<RunResult> {
  const started = performance.now();
  const proc = Bun.spawn(cmd, { stdin: "ignore", stdout: "pipe", stderr: "pipe", cwd: options.cwd ?? "/", env: { ...process.env, ...options.env } });
  const timer = setTimeout(() => proc.kill("SIGKILL"), options.timeoutMs ?? 30_000);
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { code, out, err, ms: performance.now() - started };
}

/** A port the kernel just handed out on 127.0.0.1 and that nothing holds now. */
function freePort(): number {
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = probe.port;
  probe.stop(true);
  return port;
}

export interface StartPostgresOptions {
  /** Extra `-c name=value` settings. */
  settings?: Record<string, string>;
}

/** initdb and start a server; resolves once it answers `select 1`. */
export async function startPostgres(bin: string, options: StartPostgresOptions = {}): Promise<Postgres> {
  const root = process.getuid?.() === 0;
  const user = root ? (lookupUser("postgres") ? "postgres" : "nobody") : null;
  const ids = user ? lookupUser(user) : null;
  if (root && !ids) throw new Error("running as root and neither a postgres nor a nobody user exists");
  // As another user: runuser (util-linux, on every Debian) drops root before exec.
  const asUser = (cmd: string[]) => (user ? ["runuser", "-u", user, "--", ...cmd] : cmd);

  // Under /tmp when the server runs as another user: TMPDIR may be inside root's home, which it cannot enter.
  const dir = mkdtempSync(join(user ? "/tmp" : tmpdir(), "aegis-pg-"));
  if (ids) chownSync(dir, ids.uid, ids.gid);
  const dataDir = join(dir, "data");
  const logFile = join(dir, "server.log");
  const cleanup = () => rmSync(dir, { recursive: true, force: true });

  const init = await run(asUser([join(bin, "initdb"), "-D", dataDir, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"]), { timeoutMs: 60_000 });
  if (init.code !== 0) {
    cleanup();
    throw new Error(`initdb failed (${init.code}): ${init.err || init.out}`);
  }

  const port = freePort();
  const settings: Record<string, string> = {
    listen_addresses: "127.0.0.1", fsync: "off", logging_collector: "off", log_min_messages: "info", ...options.settings,
  };
  const args = [join(bin, "pg_ctl"), "start", "-D", dataDir, "-l", logFile, "-w", "-t", "30",
    "-o", [`-p ${port}`, `-k ${dir}`, ...Object.entries(settings).map(([k, v]) => `-c ${k}=${v}`)].join(" ")];
  const started = await run(asUser(args), { timeoutMs: 40_000 });
  const log = () => { try { return readFileSync(logFile, "utf8"); } catch { return ""; } };
  if (started.code !== 0) {
    cleanup();
    throw new Error(`pg_ctl start failed (${started.code}): ${started.err || started.out}\n${log()}`);
  }
  const postmasterPid = Number(readFileSync(join(dataDir, "postmaster.pid"), "utf8").split("\n")[0]);
  const psqlPath = join(bin, "psql");

  const pg: Postgres = {
    port,
    dataDir,
    postmasterPid,
    psql(sql, o = {}) {
      const timeout = o.connectTimeoutS ?? 2;
      return run([psqlPath, "-X", "-w", "-A", "-t", "-h", "127.0.0.1", "-p", String(o.port ?? port), "-U", "postgres", "-d", "postgres", "-c", sql],
        { env: { PGCONNECT_TIMEOUT: String(timeout) }, timeoutMs: o.timeoutMs ?? timeout * 1000 + 5000 });
    },
    spawnPsql(sql) {
      return Bun.spawn([psqlPath, "-X", "-w", "-h", "127.0.0.1", "-p", String(port), "-U", "postgres", "-d", "postgres", "-c", sql],
        { stdin: "ignore", stdout: "ignore", stderr: "ignore", cwd: "/" });
    },
    pgCtl(extra, timeoutMs = 30_000) {
      return run(asUser([join(bin, "pg_ctl"), ...extra, "-D", dataDir]), { timeoutMs });
    },
    children() {
      // From /proc rather than ps: a minimal Debian has no procps.
      const out: { pid: number; args: string }[] = [];
      for (const name of readdirSync("/proc")) {
        if (!/^\d+$/.test(name)) continue;
        try {
          const stat = readFileSync(`/proc/${name}/stat`, "utf8");
          const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
          if (ppid !== postmasterPid) continue;
          out.push({ pid: Number(name), args: readFileSync(`/proc/${name}/cmdline`, "utf8").replaceAll("\0", " ").trim() });
        } catch {
          // exited meanwhile
        }
      }
      return out;
    },
    log,
    async destroy() {
      if (existsSync(join(dataDir, "postmaster.pid"))) await pg.pgCtl(["stop", "-m", "immediate", "-w", "-t", "10"], 15_000);
      try { process.kill(postmasterPid, 0); process.kill(postmasterPid, "SIGKILL"); } catch { /* gone */ }
      cleanup();
    },
  };

  // pg_ctl -w has seen the server accept; one real query makes sure it also serves.
  const deadline = performance.now() + 20_000;
  for (let attempt = 0; attempt < 100; attempt++) {
    const r = await pg.psql("select 1");
    if (r.code === 0) return pg;
    if (performance.now() > deadline) break;
    await Bun.sleep(100);
  }
  await pg.destroy();
  throw new Error(`postgres on port ${port} never answered select 1\n${log()}`);
}
