// Reads the [[upstream]] items: schema checks, then duplicate names and duplicate servers.
import type { HealthCheckConfig, UpstreamConfig } from "./types.ts";
import { fromConfig, MAX_TOKEN_BYTES, readBoundedFile } from "./read-file.ts";
import { addressKey, quietAddress } from "./address.ts";
import { readFields, firstSeen, stringAt, isTable } from "./section.ts";
import type { Values } from "./fields.ts";
import { belongsIn } from "./top-level.ts";
import { UPSTREAM } from "./schema.ts";
import { quote } from "./quote.ts";
import type { TlsFiles } from "./tls.ts";
import { sendProxyOf } from "./client.ts";
import { readDiscovery } from "./discovery.ts";

/** One entry per item, undefined where the item had problems (pushed onto `problems`). */
export function readUpstreams(raw: unknown[], problems: string[], files: TlsFiles, source: string): (UpstreamConfig | undefined)[] {
  const names = new Map<string, number>();
  return raw.map((item, i) => {
    const path = `upstream[${i}]`;
    // Duplicates are judged on what was written, so a broken upstream still counts.
    const name = stringAt(item, "name");
    const first = name === undefined ? undefined : firstSeen(names, name, i);
    if (name !== undefined && first !== undefined) problems.push(`${path}.name: duplicate name ${quote(name)} (also upstream[${first}])`);

    const before = problems.length;
    // What did convert, even beside a key that did not: its discovery, files and servers are checked too.
    const v = readFields(item, UPSTREAM, path, problems, belongsIn);
    // servers may be left out only when discovery is there to find them.
    const has = (key: string) => typeof item === "object" && item !== null && key in item;
    if (!has("servers") && !has("discovery")) problems.push(`${path}: missing required key "servers" (or discovery, to find them)`);
    if (isTable(item)) checkServers(item.servers, path, problems);
    const discovery = readDiscovery(v?.discovery ?? [], path, source, problems);
    if (v?.servers?.length === 0 && !has("discovery")) problems.push(`${path}.servers: needs at least one server (or discovery, to find them)`);
    const health = v?.health ? readPassword(v.health, `${path}.health.password_file`, source, problems) : null;
    const tls = v?.tls && files.upstream(v.tls, `${path}.tls`);
    const u = v && problems.length === before ? (v as Values<typeof UPSTREAM>) : undefined;
    if (!u) return undefined;
    const listed = u.servers ?? [];
    if (u.tls && !tls) return undefined;
    return {
      name: u.name, balance: u.balance, connectTimeoutMs: u.connect_timeout, retries: u.retries,
      pool: u.pool, poolMaxIdleMs: u.pool_max_idle, health,
      failThreshold: u.fail_threshold, ejectForMs: u.eject_for, servers: listed,
      // The queue only matters when a server can be full (a discovered one may be: SQLite rows carry hard_limit).
      ...(listed.some((s) => s.maxConnections) || discovery.some((d) => d.kind === "sqlite") ? { queue: { size: u.queue, timeoutMs: u.queue_timeout } } : {}),
      ...(tls ? { tls } : {}),
      ...(sendProxyOf(u.send_proxy) ? { sendProxy: sendProxyOf(u.send_proxy) } : {}),
      ...(u.stick ? { stick: u.stick } : {}),
      ...(discovery.length ? { discovery } : {}),
      ...(u.on_down === "close_sessions" ? { onDown: "close_sessions" as const } : {}),
    };
  });
}

/**
 * Checks across servers, on what was written: a server listed twice, a name used twice, a
 * soft_limit that can never apply. They run even when some server or key is mis-written, so
 * their problems come out together with that one.
 */
function checkServers(written: unknown, path: string, problems: string[]): void {
  if (!Array.isArray(written)) return;
  const addresses = new Map<string, number>();
  const names = new Map<string, number>();
  written.forEach((s: unknown, j) => {
    const table = typeof s === "string" ? { address: s } : isTable(s) ? s : undefined;
    const text = stringAt(table, "address");
    if (!table || text === undefined) return;
    // The label is the address as written, unless a name is given (as in the schema's build).
    const label = stringAt(table, "name") ?? text;
    const address = quietAddress(text, "connect");
    const dup = address && firstSeen(addresses, addressKey(address), j);
    if (dup !== undefined) problems.push(`${path}.servers[${j}]: "${label}" is listed twice (also servers[${dup}])`);
    const sameName = dup === undefined ? firstSeen(names, label, j) : undefined;
    if (sameName !== undefined) problems.push(`${path}.servers[${j}].name: duplicate name ${quote(label)} (also servers[${sameName}])`);
    const { soft_limit: soft, max_connections: max } = table as Record<string, unknown>;
    if (typeof soft === "bigint" && typeof max === "bigint" && soft > 0n && max > 0n && soft >= max) {
      problems.push(`${path}.servers[${j}].soft_limit: ${soft} is not below max_connections (${max}), so it would never apply`);
    }
  });
}

/** Upstream names as written, even in items with other problems, so listeners are not blamed too. */
export function upstreamNames(raw: unknown[]): string[] {
  return raw.flatMap((item) => stringAt(item, "name") ?? []);
}

/** A redis check's password, read now from password_file (relative to the config file) so a missing one is a config error. */
function readPassword(h: HealthCheckConfig, path: string, source: string, problems: string[]): HealthCheckConfig {
  const { passwordFile, ...health } = h;
  if (passwordFile === undefined || health.check?.kind !== "redis") return health;
  const full = fromConfig(source, passwordFile);
  try {
    const password = readBoundedFile(full, MAX_TOKEN_BYTES).toString("utf8").trim();
    if (password === "") problems.push(`${path}: ${full} is empty`);
    return { ...health, check: { ...health.check, password } };
  } catch (err) {
    problems.push(`${path}: cannot read ${full}: ${(err as Error).message}`);
    return health;
  }
}
