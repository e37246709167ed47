// What a reload changes: which listeners keep their sockets (and ports), and a readable list of changes.
import { formatAddress } from "../config/address.ts";
import { keepsPort, keepsSocket } from "../config/listener-identity.ts";
import type { Config, ListenerConfig } from "../config/types.ts";

export interface ReloadPlan {
  /** For each listener of the new config: the port it keeps, or null when it binds anew. */
  ports: (number | null)[];
  /** Listeners that bind anew (to probe before any Worker changes). */
  fresh: ListenerConfig[];
  /** One line per change, for the log and the API. */
  changes: string[];
}

export function planReload(old: Config, next: Config, oldPorts: readonly number[]): ReloadPlan {
  const changes: string[] = [];
  // The port is kept across new certificates (a second socket binds it beside the first).
  const sameSocket = (a: ListenerConfig, b: ListenerConfig) => keepsPort(a, oldPorts[old.listeners.indexOf(a)] ?? null, b);
  const ports = next.listeners.map((l) => {
    const at = old.listeners.findIndex((o) => sameSocket(o, l));
    return at >= 0 ? oldPorts[at] ?? null : null;
  });
  const fresh = next.listeners.filter((_, i) => ports[i] === null);
  for (const l of fresh) changes.push(`listener ${l.name} added on ${formatAddress(l.bind)}`);
  for (const o of old.listeners) {
    if (!next.listeners.some((l) => sameSocket(o, l))) changes.push(`listener ${o.name} on ${formatAddress(o.bind)} removed: stops accepting, its sessions go on`);
  }
  for (const l of next.listeners) {
    const o = old.listeners.find((x) => sameSocket(x, l));
    if (o && !keepsSocket(o, oldPorts[old.listeners.indexOf(o)] ?? null, l)) {
      changes.push(`listener ${l.name}: new TLS settings or certificates (a new socket on the same port; open sessions go on)`);
    } else if (o && JSON.stringify(o) !== JSON.stringify(l)) {
      changes.push(`listener ${l.name} settings changed`);
    }
  }
  for (const u of next.upstreams) {
    const o = old.upstreams.find((x) => x.name === u.name);
    if (!o) {
      changes.push(`upstream ${u.name} added`);
      continue;
    }
    for (const s of u.servers) if (!o.servers.some((x) => x.name === s.name)) changes.push(`upstream ${u.name}: server ${s.name} added`);
    for (const s of o.servers) if (!u.servers.some((x) => x.name === s.name)) changes.push(`upstream ${u.name}: server ${s.name} removed: its sessions go on, it gets no new ones`);
    const { servers: _a, ...restNew } = u;
    const { servers: _b, ...restOld } = o;
    // Any server setting counts (weight, backup, limits, order), as it does for the Workers' rebuild.
    if (JSON.stringify(restNew) !== JSON.stringify(restOld) || JSON.stringify(u.servers) !== JSON.stringify(o.servers)) {
      if (!changes.some((c) => c.startsWith(`upstream ${u.name}:`))) changes.push(`upstream ${u.name} settings changed`);
    }
  }
  for (const o of old.upstreams) if (!next.upstreams.some((u) => u.name === o.name)) changes.push(`upstream ${o.name} removed`);
  const g = (c: Config) => ({ ...c.global, geoip: null, regions: null });
  if (JSON.stringify(g(old)) !== JSON.stringify(g(next))) changes.push("global settings changed");
  // A database read anew at every reload: its file may change while the config does not.
  if (old.global.geoip?.fingerprint !== next.global.geoip?.fingerprint) {
    changes.push(next.global.geoip ? `geoip: ${next.global.geoip.files.join(", ")} ${old.global.geoip ? "changed" : "added"}` : "geoip removed");
  }
  if (JSON.stringify(old.global.regions) !== JSON.stringify(next.global.regions)) changes.push("regions changed");
  if (JSON.stringify(old.metrics.listen) !== JSON.stringify(next.metrics.listen)) changes.push("metrics address changed: takes effect at restart");
  // Read per request from the running config, so a new list holds from the next request on.
  if (JSON.stringify(old.metrics.allow ?? []) !== JSON.stringify(next.metrics.allow ?? [])) changes.push("metrics allow changed");
  return { ports, fresh, changes };
}
