// `aegis demo`: three in-process echo servers behind a listener on 127.0.0.1:8081, metrics on :8082.
import type { Config } from "../config/types.ts";
import { startEchoBackend } from "./echo-backend.ts";

export const DEMO_LISTEN = { host: "127.0.0.1", port: 8081 };
export const DEMO_METRICS = { host: "127.0.0.1", port: 8082 };

export interface Demo {
  config: Config;
  stop(): void;
}

export function startDemo(workers: number): Demo {
  const backends = ["echo-1", "echo-2", "echo-3"].map(startEchoBackend);
  const config: Config = {
    source: "<demo>",
    global: { workers, maxConnections: 10_000, shutdownGraceMs: 5_000, bufferBudget: 256 * 1024 * 1024, logLevel: "info", accessLog: true, watch: false, logFormat: "json", geoip: null, regions: {}, resolvers: [], stateFile: null },
    metrics: { listen: DEMO_METRICS },
    listeners: [{ name: "demo", bind: DEMO_LISTEN, upstream: "echo", idleTimeoutMs: 600_000, bufferLimit: 256 * 1024 }],
    upstreams: [{
      name: "echo",
      balance: "round_robin",
      connectTimeoutMs: 3_000,
      retries: 2,
      pool: 0,
      poolMaxIdleMs: 60_000,
      health: { intervalMs: 2_000, timeoutMs: 1_000, rise: 2, fall: 3, sendHex: null, expect: { kind: "bytes", hex: Buffer.from("hello from").toString("hex") } },
      failThreshold: 5,
      ejectForMs: 10_000,
      servers: backends.map((b) => ({ name: `127.0.0.1:${b.port}`, address: { host: "127.0.0.1", port: b.port }, weight: 1, backup: false })),
    }],
  };
  return { config, stop: () => backends.forEach((b) => b.stop(true)) };
}
