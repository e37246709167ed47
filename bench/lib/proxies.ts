// The contenders: how to configure and launch each proxy so that all of them relay the
// same two listeners (one to Redis, one to the iperf3 server) on 127.0.0.1.

import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export type ColumnId = "none" | "aegis" | "aegis+pool" | "aegis-w1" | "bun" | "c" | "haproxy" | "nginx";
export const ALL_COLUMNS: ColumnId[] = ["none", "aegis", "aegis+pool", "aegis-w1", "bun", "c", "haproxy", "nginx"];
export const PEERS: ColumnId[] = ["haproxy", "nginx"];

export const COLUMN_TITLES: Record<ColumnId, string> = {
  none: "no proxy",
  aegis: "aegis",
  "aegis+pool": "aegis+pool",
  "aegis-w1": "aegis, workers = 1",
  bun: "bare Bun relay",
  c: "C epoll relay",
  haproxy: "HAProxy",
  nginx: "nginx",
};

/** Pre-connected sockets per Worker for the Redis upstream in the aegis+pool column. */
export const AEGIS_POOL = 16;

export interface Ports {
  redis: number;
  iperf: number;
  /** The HTTP backend of the wrk rows (main table only). */
  http?: number;
}

/** The third route of the main table, when both sides have an HTTP port. */
const httpRoute = (listen: Ports, backend: Ports): [number, number] | null =>
  listen.http && backend.http ? [listen.http, backend.http] : null;

export interface Launch {
  cmd: string[];
  configPath: string;
  logPath: string;
}

export interface ProxyOptions {
  aegisPath: string;
  cores: number;
  /** aegis's [metrics] port; unused by the others. */
  metricsPort: number;
}

/** Write the proxy's config under dir and return the command that runs it in the foreground. */
export function prepare(
  id: Exclude<ColumnId, "none">,
  dir: string,
  listen: Ports,
  backend: Ports,
  opts: ProxyOptions,
): Launch {
  mkdirSync(dir, { recursive: true });
  const logPath = join(dir, "output.log");
  switch (id) {
    case "aegis":
    case "aegis+pool":
    case "aegis-w1": {
      const configPath = join(dir, "aegis.toml");
      writeFileSync(configPath, aegisConfig(listen, backend, opts.metricsPort, id === "aegis+pool" ? AEGIS_POOL : 0, id === "aegis-w1" ? 1 : 0));
      return { cmd: [opts.aegisPath, "--config", configPath], configPath, logPath };
    }
    case "bun": {
      // No config file: the routes are its arguments. Compiled as aegis is, so that its code pages are
      // its own: run as a script, Pss would split them with this benchmark's Bun and read low.
      const script = join(import.meta.dir, "bun-relay.ts");
      const binary = compileBunRelay(dir);
      const http = httpRoute(listen, backend);
      const cmd = [binary, String(opts.cores), `${listen.redis}:${backend.redis}`, `${listen.iperf}:${backend.iperf}`, ...(http ? [`${http[0]}:${http[1]}`] : [])];
      writeFileSync(join(dir, "command.txt"), `${cmd.join(" ")}\n`);
      return { cmd, configPath: script, logPath };
    }
    case "c": {
      // The floor of any user-space relay: compiled here with the system's cc (see c-relay.c).
      const binary = compileCRelay(dir);
      const http = httpRoute(listen, backend);
      const cmd = [binary, String(opts.cores), `${listen.redis}:${backend.redis}`, `${listen.iperf}:${backend.iperf}`, ...(http ? [`${http[0]}:${http[1]}`] : [])];
      writeFileSync(join(dir, "command.txt"), `${cmd.join(" ")}\n`);
      return { cmd, configPath: join(import.meta.dir, "c-relay.c"), logPath };
    }
    case "haproxy": {
      const configPath = join(dir, "haproxy.cfg");
      writeFileSync(configPath, haproxyConfig(listen, backend, opts.cores));
      // -db: stay in the foreground, no master process: one process with nbthread threads.
      return { cmd: ["haproxy", "-db", "-f", configPath], configPath, logPath };
    }
    case "nginx": {
      const configPath = join(dir, "nginx.conf");
      writeFileSync(configPath, nginxConfig(dir, listen, backend, opts.cores));
      return {
        cmd: ["nginx", "-p", `${dir}/`, "-c", configPath, "-e", join(dir, "error.log")],
        configPath,
        logPath,
      };
    }
  }
}

/** bench/lib/bun-relay.ts compiled into dir with aegis's build flags; throws with Bun's words if it fails. */
export function compileBunRelay(dir: string): string {
  const out = join(dir, "bun-relay");
  const r = Bun.spawnSync([process.execPath, "build", "--compile", "--minify", "--bytecode", "--format=esm", join(import.meta.dir, "bun-relay.ts"), "--outfile", out], { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`bun build --compile failed on bun-relay.ts: ${r.stderr.toString().trim()}`);
  return out;
}

/** cc -O2 bench/lib/c-relay.c into dir; throws with the compiler's words if it fails. */
export function compileCRelay(dir: string): string {
  const out = join(dir, "c-relay");
  const r = Bun.spawnSync(["cc", "-O2", "-Wall", "-o", out, join(import.meta.dir, "c-relay.c")], { stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`cc failed on c-relay.c: ${r.stderr.toString().trim()}`);
  return out;
}

function aegisConfig(listen: Ports, backend: Ports, metricsPort: number, pool: number, workers: number): string {
  return `# Written by bench/compare.
[global]
workers = ${workers}            # 0: one per core
max_connections = 9960  # as HAProxy's maxconn: what fits the 20,000 open-file limit (two descriptors a session)
log_level = "warn"
access_log = false

[metrics]
listen = "127.0.0.1:${metricsPort}"

[[listener]]
name = "redis"
bind = "127.0.0.1:${listen.redis}"
upstream = "redis"

[[listener]]
name = "iperf"
bind = "127.0.0.1:${listen.iperf}"
upstream = "iperf"

[[upstream]]
name = "redis"
servers = ["127.0.0.1:${backend.redis}"]
pool = ${pool}

[[upstream]]
name = "iperf"
servers = ["127.0.0.1:${backend.iperf}"]
# Never pooled: an idle pre-connected socket would wedge iperf3's one-test-at-a-time server.
pool = 0
${httpRoute(listen, backend) ? `
[[listener]]
name = "http"
bind = "127.0.0.1:${listen.http}"
upstream = "http"

[[upstream]]
name = "http"
servers = ["127.0.0.1:${backend.http}"]
pool = ${pool}
` : ""}`;
}

function haproxyConfig(listen: Ports, backend: Ports, cores: number): string {
  return `# Written by bench/compare. No log lines anywhere.
${haproxyPreamble(cores)}
listen redis
    bind 127.0.0.1:${listen.redis}
    server redis 127.0.0.1:${backend.redis}

listen iperf
    bind 127.0.0.1:${listen.iperf}
    server iperf 127.0.0.1:${backend.iperf}
${httpRoute(listen, backend) ? `
listen http
    bind 127.0.0.1:${listen.http}
    server http 127.0.0.1:${backend.http}
` : ""}`;
}

function nginxConfig(dir: string, listen: Ports, backend: Ports, cores: number): string {
  return `# Written by bench/compare. Stream module only, no access log.
${nginxPreamble(dir, cores)}
stream {
    server {
        listen 127.0.0.1:${listen.redis} reuseport;
        proxy_pass 127.0.0.1:${backend.redis};
        proxy_half_close on;
    }
    server {
        listen 127.0.0.1:${listen.iperf} reuseport;
        proxy_pass 127.0.0.1:${backend.iperf};
        proxy_half_close on;
    }
${httpRoute(listen, backend) ? `    server {
        listen 127.0.0.1:${listen.http} reuseport;
        proxy_pass 127.0.0.1:${backend.http};
        proxy_half_close on;
    }
` : ""}}
`;
}

/**
 * The part every HAProxy config bench/compare writes shares: threads, the connection cap and TCP
 * timeouts. maxconn 9960 needs ~19,920 fds, inside the 20,000 open-file limit.
 */
export function haproxyPreamble(cores: number): string {
  return `global
    nbthread ${cores}
    maxconn 9960

defaults
    mode tcp
    maxconn 9960
    timeout connect 5s
    timeout client 10m
    timeout server 10m
`;
}

/** The part every nginx config bench/compare writes shares: the stream module, workers, limits, files. */
export function nginxPreamble(dir: string, cores: number): string {
  return `load_module /usr/lib/nginx/modules/ngx_stream_module.so;
daemon off;
worker_processes ${cores};
worker_rlimit_nofile 20000;
pid ${join(dir, "nginx.pid")};
error_log ${join(dir, "error.log")} warn;

events {
    worker_connections 20000;
}
`;
}

/** The wrk rows' backend: nginx's http module serving three files, one worker, no log. */
export const HTTP_FILES = { "12b": 12, "5k": 5400, "64k": 65536 } as const;

export function httpBackendConfig(dir: string, port: number): string {
  return `# Written by bench/compare: the HTTP backend of the wrk rows.
daemon off;
worker_processes 1;
worker_rlimit_nofile 20000;
pid ${join(dir, "nginx.pid")};
error_log ${join(dir, "error.log")} warn;
events { worker_connections 10000; }
http {
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 600s;
    server {
        listen 127.0.0.1:${port} reuseport;
        root ${join(dir, "www")};
    }
}
`;
}

export function writeHttpFiles(dir: string): void {
  mkdirSync(join(dir, "www"), { recursive: true });
  for (const [name, size] of Object.entries(HTTP_FILES)) writeFileSync(join(dir, "www", name), "x".repeat(size));
}
