// A real redis-server on a free 127.0.0.1 port for tests: no persistence, optionally a password
// (also used to reach its primary) and extra arguments; resolves once it answers PING.
import { tempDir } from "./aegis.ts";
import { closedPort } from "./backends.ts";
import { run } from "./build.ts";
import { waitFor } from "./wait.ts";

export interface Redis {
  port: number;
  /** redis-cli against it, with its password. */
  cli(...args: string[]): ReturnType<typeof run>;
  stop(): void;
}

export async function startRedis(options: { password?: string; args?: string[] } = {}): Promise<Redis> {
  const port = closedPort();
  const args = ["redis-server", "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", tempDir("aegis-redis-")];
  if (options.password) args.push("--requirepass", options.password, "--masterauth", options.password);
  const proc = Bun.spawn([...args, ...(options.args ?? [])], { stdout: "ignore", stderr: "ignore" });
  const cli = (...a: string[]) => run(["redis-cli", "-p", String(port), ...(options.password ? ["-a", options.password, "--no-auth-warning"] : []), ...a], { timeoutMs: 5000 });
  try {
    await waitFor(async () => (await cli("PING")).stdout.trim() === "PONG", { what: "redis-server answers PING", timeoutMs: 15_000 });
  } catch (err) {
    proc.kill("SIGKILL");
    throw err;
  }
  return { port, cli, stop: () => proc.kill("SIGKILL") };
}
