// The configs of the client-identity rows (lib/client.ts): the HAProxy front that reads PROXY headers, and each program's listeners.

import { join } from "node:path";
import { haproxyPreamble, nginxPreamble } from "./proxies.ts";

/** How many [[listener.route]] entries (HAProxy: use_backend rules) the routes column tests per connection. */
export const ROUTE_COUNT = 50;

/**
 * The source blocks of those routes: 10.0.0.0/16, 10.1.0.0/16, ... None holds 127.0.0.1, so every
 * connection tests all of them and goes to the default. Source only: an sni route would make the
 * listener wait for a ClientHello that redis-benchmark never sends.
 */
export const MISSING_BLOCKS: string[] = Array.from({ length: ROUTE_COUNT }, (_, i) => `10.${i}.0.0/16`);

/** The two doors of the front to the one redis-server: without and with a PROXY header. */
export interface FrontPorts {
  plain: number;
  proxied: number;
}

/**
 * redis-server cannot read a PROXY header, so a HAProxy stands in front of it with two binds: a
 * plain one, and one with accept-proxy (v1 or v2, as the sender chose; a connection without a valid
 * header is closed, so a column whose header is missing or malformed fails instead of passing).
 *
 * Both binds connect to redis-server only once the client's first bytes are in. accept-proxy has to
 * wait for the header before it connects; a plain bind would connect at accept, while the request is
 * still on its way, a step ahead. Measured so, a header column paid for the front's wait, which no
 * sender can avoid (HAProxy's own send-proxy-v2 lost as much as aegis's), instead of for its header.
 * With the wait on both binds, the columns differ only by the header's bytes and the front's parse.
 */
export function frontConfig(front: FrontPorts, redis: number, cores: number): string {
  return `# Written by bench/compare for the client-identity rows: the backend side, in every column.
${haproxyPreamble(cores)}
listen front
    bind 127.0.0.1:${front.plain}
    bind 127.0.0.1:${front.proxied} accept-proxy
    tcp-request inspect-delay 30s
    tcp-request content accept if { req.len gt 0 }
    server redis 127.0.0.1:${redis}
`;
}

/** The listeners of one program: the plain one, the one whose upstream sends a header, and (aegis, HAProxy) the one with the routes. */
export interface ProgramPorts {
  plain: number;
  header: number;
  routes: number | null;
}

export function aegisConfig(p: ProgramPorts, front: FrontPorts, metricsPort: number): string {
  const routes = MISSING_BLOCKS.map((block) => `[[listener.route]]
source = ["${block}"]
upstream = "missed"
`).join("");
  return `# Written by bench/compare for the client-identity rows. As lib/proxies.ts otherwise.
[global]
workers = 0            # one per core
max_connections = 9000  # what the 20,000 open-file limit fits, as in lib/proxies.ts
log_level = "warn"
access_log = false

[metrics]
listen = "127.0.0.1:${metricsPort}"

[[listener]]
name = "plain"
bind = "127.0.0.1:${p.plain}"
upstream = "plain"

[[listener]]
name = "v2"
bind = "127.0.0.1:${p.header}"
upstream = "v2"

[[listener]]
name = "routes"
bind = "127.0.0.1:${p.routes}"
upstream = "routes"
${routes}
[[upstream]]
name = "plain"
servers = ["127.0.0.1:${front.plain}"]

[[upstream]]
name = "v2"
servers = ["127.0.0.1:${front.proxied}"]
send_proxy = "v2"

[[upstream]]
name = "routes"
servers = ["127.0.0.1:${front.plain}"]

# Where a matching route would send: checked on /metrics to have had no connection at all.
[[upstream]]
name = "missed"
servers = ["127.0.0.1:${front.plain}"]
`;
}

export function haproxyConfig(p: ProgramPorts, front: FrontPorts, cores: number): string {
  const rules = MISSING_BLOCKS.map((block) => `    use_backend missed if { src ${block} }`).join("\n");
  return `# Written by bench/compare for the client-identity rows. As lib/proxies.ts otherwise.
${haproxyPreamble(cores)}
listen plain
    bind 127.0.0.1:${p.plain}
    server s 127.0.0.1:${front.plain}

listen v2
    bind 127.0.0.1:${p.header}
    server s 127.0.0.1:${front.proxied} send-proxy-v2

listen routes
    bind 127.0.0.1:${p.routes}
${rules}
    server s 127.0.0.1:${front.plain}

backend missed
    server s 127.0.0.1:${front.plain}
`;
}

/** nginx's stream module sends only version 1 of the header (proxy_protocol on): its column is v1. */
export function nginxConfig(dir: string, p: ProgramPorts, front: FrontPorts, cores: number): string {
  return `# Written by bench/compare for the client-identity rows. As lib/proxies.ts otherwise.
${nginxPreamble(dir, cores)}
stream {
    server {
        listen 127.0.0.1:${p.plain} reuseport;
        proxy_pass 127.0.0.1:${front.plain};
        proxy_half_close on;
    }
    server {
        listen 127.0.0.1:${p.header} reuseport;
        proxy_pass 127.0.0.1:${front.proxied};
        proxy_protocol on;
        proxy_half_close on;
    }
}
`;
}

/** The file an nginx of these rows logs its errors to (the preamble's error_log). */
export const nginxErrorLog = (dir: string): string => join(dir, "error.log");
