// Reads the [[upstream]] items: schema checks, then duplicate names and duplicate servers.
import type { UpstreamConfig } from "./types.ts";
import { addressKey } from "./address.ts";
import { readSection, firstSeen, stringAt } from "./section.ts";
import { belongsIn } from "./top-level.ts";
import { UPSTREAM } from "./schema.ts";
import { quote } from "./quote.ts";
import type { TlsFiles } from "./tls.ts";
import { sendProxyOf } from "./client.ts";

/** One entry per item, undefined where the item had problems (pushed onto `problems`). */
export function readUpstreams(raw: unknown[], problems: string[], files: TlsFiles): (UpstreamConfig | undefined)[] {
  const names = new Map<string, number>();
  return raw.map((item, i) => {
    const path = `upstream[${i}]`;
    // Duplicates are judged on what was written, so a broken upstream still counts.
    const name = stringAt(item, "name");
    const first = name === undefined ? undefined : firstSeen(names, name, i);
    if (name !== undefined && first !== undefined) problems.push(`${path}.name: duplicate name ${quote(name)} (also upstream[${first}])`);

    const u = readSection(item, UPSTREAM, path, problems, belongsIn);
    if (!u) return undefined;
    const servers = new Map<string, number>();
    u.servers.forEach((s, j) => {
      const dup = firstSeen(servers, addressKey(s.address), j);
      if (dup !== undefined) problems.push(`${path}.servers[${j}]: "${s.name}" is listed twice (also servers[${dup}])`);
      if (s.softLimit !== undefined && s.maxConnections !== undefined && s.softLimit >= s.maxConnections) {
        problems.push(`${path}.servers[${j}].soft_limit: ${s.softLimit} is not below max_connections (${s.maxConnections}), so it would never apply`);
      }
    });
    const tls = u.tls && files.upstream(u.tls, `${path}.tls`);
    if (u.tls && !tls) return undefined;
    return {
      name: u.name, balance: u.balance, connectTimeoutMs: u.connect_timeout, retries: u.retries,
      pool: u.pool, poolMaxIdleMs: u.pool_max_idle, health: u.health ?? null,
      failThreshold: u.fail_threshold, ejectForMs: u.eject_for, servers: u.servers,
      // The queue only matters when a server can be full.
      ...(u.servers.some((s) => s.maxConnections) ? { queue: { size: u.queue, timeoutMs: u.queue_timeout } } : {}),
      ...(tls ? { tls } : {}),
      ...(sendProxyOf(u.send_proxy) ? { sendProxy: sendProxyOf(u.send_proxy) } : {}),
      ...(u.stick ? { stick: u.stick } : {}),
    };
  });
}

/** Upstream names as written, even in items with other problems, so listeners are not blamed too. */
export function upstreamNames(raw: unknown[]): string[] {
  return raw.flatMap((item) => stringAt(item, "name") ?? []);
}
