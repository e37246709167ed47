// Long-running streams through a proxy (fixtures/stream-load.ts in a subprocess), for tests that
// change something under load: paced to outlast the change, then ended by the test, every byte checked.
import { expect } from "bun:test";
import { join } from "node:path";

export interface StreamResult {
  ok: number;
  mismatched: number;
  short: number;
  errors: string[];
  elapsedMs: number;
  minSent: number;
}

export interface PacedStreams {
  /** Checks the streams were still running, ends them where they are, and returns the result. */
  finish(): Promise<StreamResult>;
  kill(): void;
}

/**
 * `connections` streams of up to `bytesPerStream` (default 64 MiB) each, paced over 60 s, a fraction
 * of them reading slowly. 40 streams of 64 MiB are 43 MiB/s through aegis and back through the test
 * process's echo servers: on a busy machine that leaves the test process little time for anything
 * else, so a test that also needs other sessions to progress passes a smaller size.
 */
export function pacedStreams(port: number, connections: number, slowFraction: number, bytesPerStream = 64 * 1024 * 1024): PacedStreams {
  const script = join(import.meta.dir, "../fixtures/stream-load.ts");
  const proc = Bun.spawn([process.execPath, script, String(port), String(connections), String(bytesPerStream), String(slowFraction), "80000", "60000"], { stdout: "pipe", stderr: "pipe" });
  return {
    async finish() {
      expect(proc.exitCode).toBeNull(); // still streaming when the change was made
      proc.kill("SIGUSR1");
      const out = await new Response(proc.stdout).text();
      return JSON.parse(out.trim().split("\n").pop()!) as StreamResult;
    },
    kill: () => proc.kill(),
  };
}

/** Every stream came back whole, and each had sent more than a trickle. */
export function expectIntact(result: StreamResult, connections: number): void {
  expect(result.errors).toEqual([]);
  expect(result).toMatchObject({ ok: connections, mismatched: 0, short: 0 });
  expect(result.minSent).toBeGreaterThan(64 * 1024);
}
