// Runs a real nginx (Debian's 1.22, stream module) on a temporary config for interoperability tests and reads its access log.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "./aegis.ts";
import { closedPort } from "./backends.ts";
import { capture, stopAndClean, whenServing } from "./haproxy.ts";
import { waitFor } from "./wait.ts";

export const NGINX_STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so";

/**
 * The access log line of every stream session, written when it ends: the peer the connection came
 * from ($remote_addr, the sender of a PROXY header), the address the header claimed
 * ($proxy_protocol_addr, "-" on a listener without proxy_protocol), and the bytes each way.
 */
export const NGINX_LOG_FORMAT =
  "remote=$remote_addr:$remote_port proxy=$proxy_protocol_addr:$proxy_protocol_port server_port=$server_port upstream=$upstream_addr bytes_in=$bytes_received bytes_out=$bytes_sent status=$status";

export interface Nginx {
  readonly pid: number;
  readonly config: string;
  /** The stream access log so far. */
  logs(): string;
  /** The error log so far (startup notices, and why a PROXY header was refused: "broken header"). */
  errors(): string;
  /** The first access log line matching `re`, already written or still to come; rejects after `timeoutMs` with both logs. */
  waitForLog(re: RegExp, timeoutMs?: number): Promise<string>;
  /** SIGTERM (fast shutdown), SIGKILL if it has not exited within 5 s; resolves once it has exited. Safe to call twice. */
  stop(): Promise<void>;
}

function configText(dir: string, streamBlock: string, readyPort: number): string {
  return `# Written by test/helpers/nginx.ts. One process, in the foreground.
load_module ${NGINX_STREAM_MODULE};
daemon off;
master_process off;
worker_processes 1;
pid ${join(dir, "nginx.pid")};
error_log ${join(dir, "error.log")} info;

events {
    worker_connections 256;
}

stream {
    log_format aegis_test '${NGINX_LOG_FORMAT}';
    access_log ${join(dir, "access.log")} aegis_test;

${streamBlock.trim().replace(/^/gm, "    ")}

    # The helper's readiness probe: answered only once the event loop runs, after every listener is bound.
    server {
        listen 127.0.0.1:${readyPort};
        access_log off;
        return "ready\\n";
    }
}
`;
}

/**
 * Start nginx in the foreground (`nginx -p dir -c conf -e error.log`, no daemon, no master) with the
 * stream module loaded and `streamBlock` (the caller's server and upstream blocks, on ports it chose
 * with test/helpers/backends.ts closedPort()) inside a stream block that logs `NGINX_LOG_FORMAT`.
 * Resolves once every listener accepts; rejects with nginx's own messages if it exits first.
 */
export async function startNginx(streamBlock: string, readyTimeoutMs = 15_000): Promise<Nginx> {
  if (!Bun.which("nginx") || !existsSync(NGINX_STREAM_MODULE)) {
    throw new Error(`nginx or its stream module (${NGINX_STREAM_MODULE}) is missing: run \`bash scripts/setup.sh --test\` as root (it installs Debian's nginx and libnginx-mod-stream)`);
  }
  const dir = tempDir("aegis-nginx-");
  const readyPort = closedPort();
  const config = configText(dir, streamBlock, readyPort);
  const path = join(dir, "nginx.conf");
  writeFileSync(path, config);
  const errorLog = join(dir, "error.log");
  const accessLog = join(dir, "access.log");
  const proc = Bun.spawn(["nginx", "-p", `${dir}/`, "-c", path, "-e", errorLog], { cwd: dir, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const output = capture(proc);
  const read = (file: string) => {
    try {
      return readFileSync(file, "utf8");
    } catch {
      return "";
    }
  };
  const errors = () => `${read(errorLog)}${output.text()}`;
  const stop = () => stopAndClean(proc, dir);
  try {
    await whenServing(readyPort, proc, `nginx (config ${path})`, errors, readyTimeoutMs);
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\n--- config ---\n${config}`);
  }
  return {
    pid: proc.pid,
    config,
    logs: () => read(accessLog),
    errors,
    // The access log is a file nginx appends to at the end of each session: checked every 20 ms.
    waitForLog: (re, timeoutMs = 10_000) =>
      waitFor(() => read(accessLog).split("\n").find((line) => re.test(line)), { timeoutMs, what: `an nginx access log line matching ${re} (errors: ${errors()})` }),
    stop,
  };
}
