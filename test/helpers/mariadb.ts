// A real MariaDB (Debian's mariadb-server) on a free 127.0.0.1 port for tests: a fresh data directory,
// no binary log, resolves once the server logs that it is ready; killed by PID.
import { join } from "node:path";
import { tempDir } from "./aegis.ts";
import { closedPort } from "./backends.ts";
import { run } from "./build.ts";
import { waitFor } from "./wait.ts";

export interface Mariadb {
  port: number;
  /** The mariadb client against it as root over its socket. */
  sql(query: string): ReturnType<typeof run>;
  stop(): void;
}

export const MARIADBD = ["/usr/sbin/mariadbd", "/usr/sbin/mysqld"].find((p) => Bun.which(p)) ?? null;

export async function startMariadb(args: string[] = []): Promise<Mariadb> {
  if (!MARIADBD) throw new Error("MariaDB is not installed: bash scripts/setup.sh --test installs it");
  const dir = tempDir("aegis-mariadb-");
  const data = join(dir, "data");
  const socket = join(dir, "sock");
  const install = await run(["mariadb-install-db", "--no-defaults", `--datadir=${data}`, "--auth-root-authentication-method=socket", "--skip-test-db", "--user=root"], { timeoutMs: 60_000 });
  if (install.code !== 0) throw new Error(`mariadb-install-db failed: ${install.stderr || install.stdout}`);
  const port = closedPort();
  let log = "";
  const proc = Bun.spawn([MARIADBD, "--no-defaults", `--datadir=${data}`, `--socket=${socket}`, `--port=${port}`, "--bind-address=127.0.0.1",
    "--user=root", "--skip-log-bin", `--pid-file=${join(dir, "pid")}`, ...args], { stdout: "ignore", stderr: "pipe" });
  void (async () => {
    for await (const chunk of proc.stderr as ReadableStream<Uint8Array>) log += new TextDecoder().decode(chunk);
  })();
  try {
    await waitFor(() => {
      if (proc.exitCode !== null) throw new Error(`mariadbd exited: ${log}`);
      return log.includes("ready for connections");
    }, { what: "mariadbd ready for connections", timeoutMs: 60_000 });
  } catch (err) {
    proc.kill("SIGKILL");
    throw err;
  }
  return {
    port,
    sql: (query) => run(["mariadb", "--no-defaults", `--socket=${socket}`, "-uroot", "-N", "-e", query], { timeoutMs: 10_000 }),
    stop: () => proc.kill("SIGKILL"),
  };
}
