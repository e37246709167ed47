// A steady stream of short new connections through an echo proxy: each connects, sends a nonce, waits
// for it to come back, and closes. Counts what went wrong by kind (refused, reset, cut short), for
// tests and benchmarks that change something under the listener (an upgrade, a reload).
import type { Socket } from "bun";

export interface ChurnResult {
  ok: number;
  /** Failures by kind: "refused", "reset", "closed early", "mismatch", "timeout", or an error code. */
  failures: Record<string, number>;
  /** The first few failures, in words. */
  errors: string[];
}

export interface Churn {
  /** Connections done so far (ok or not). */
  done(): number;
  /** Stops starting new connections, waits for those under way, and returns the counts. */
  stop(): Promise<ChurnResult>;
}

interface ConnState {
  nonce: Buffer;
  got: Buffer[];
  settle: (outcome: string | null) => void;
}

/** One connection; resolves with null when the nonce came back whole, else the kind of failure. */
function once(port: number, timeoutMs: number): Promise<string | null> {
  const nonce = Buffer.from(crypto.getRandomValues(new Uint8Array(24)));
  return new Promise((resolve) => {
    let settled = false;
    let socket: Socket<ConnState> | null = null;
    const timer = setTimeout(() => state.settle("timeout"), timeoutMs);
    const state: ConnState = {
      nonce,
      got: [],
      settle: (outcome) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket?.end();
        resolve(outcome);
      },
    };
    const kind = (err: Error | undefined) => {
      const code = (err as NodeJS.ErrnoException | undefined)?.code;
      return code === "ECONNRESET" ? "reset" : code === "ECONNREFUSED" ? "refused" : code ?? "closed early";
    };
    Bun.connect<ConnState>({
      hostname: "127.0.0.1",
      port,
      data: state,
      socket: {
        open(s) {
          socket = s;
          s.write(nonce);
        },
        data(_s, data) {
          state.got.push(Buffer.from(data));
          const got = Buffer.concat(state.got);
          if (got.length >= nonce.length) state.settle(got.subarray(0, nonce.length).equals(nonce) ? null : "mismatch");
        },
        error(_s, err) {
          state.settle(kind(err));
        },
        close(_s, err) {
          state.settle(kind(err));
        },
        connectError(_s, err) {
          state.settle(kind(err));
        },
      },
    }).catch((err: Error) => state.settle(kind(err)));
  });
}

/**
 * `concurrency` loops of back-to-back connections to `port` until stop(), or `maxMs` (a bound, so a
 * forgotten churn ends by itself). Each connection gives up after `connTimeoutMs`.
 */
export function startChurn(port: number, concurrency = 4, maxMs = 120_000, connTimeoutMs = 10_000): Churn {
  const result: ChurnResult = { ok: 0, failures: {}, errors: [] };
  let stopped = false;
  let count = 0;
  const deadline = performance.now() + maxMs;
  const loop = async () => {
    while (!stopped && performance.now() < deadline) {
      const outcome = await once(port, connTimeoutMs);
      count++;
      if (outcome === null) result.ok++;
      else {
        result.failures[outcome] = (result.failures[outcome] ?? 0) + 1;
        if (result.errors.length < 10) result.errors.push(`connection ${count}: ${outcome}`);
      }
    }
  };
  const loops = Array.from({ length: concurrency }, loop);
  return {
    done: () => count,
    async stop() {
      stopped = true;
      await Promise.all(loops);
      return result;
    },
  };
}
