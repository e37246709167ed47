// What a reload changes: which listeners keep their sockets (and ports), and a readable list of changes.
import { formatAddress } from "../config/address.ts";
import { keepsPort, keepsSocket } from "../config/listener-identity.ts";
import type { Config, ListenerConfig, UpstreamConfig } from "../config/types.ts";
import { settingChanges, someNames } from "./setting-changes.ts";

export interface ReloadPlan {
  /** For each listener of the new config: the port it keeps, or null when it binds anew. */
  ports: (number | null)[];
  /** Listeners that bind anew (to probe before any Worker changes). */
  fresh: ListenerConfig[];
  /** One line per change, each starting with the key path it is about, for the log and the API. */
  changes: string[];
}

/**
 * The plan of a reload from `old` to `next`; `oldPorts` are the ports `old`'s listeners are bound
 * to. Every change is one line that starts with the key path it is about, as the file names it
 * (listeners and upstreams by name, which outlast their place in the file): a listener added or
 * removed, servers added or removed, and each setting that differs, with its old and new value.
 */
export function planReload(old: Config, next: Config, oldPorts: readonly number[]): ReloadPlan {
  const changes: string[] = [];
  // The port is kept across new certificates (a second socket binds it beside the first).
  const sameSocket = (a: ListenerConfig, b: ListenerConfig) => keepsPort(a, oldPorts[old.listeners.indexOf(a)] ?? null, b);
  const ports = next.listeners.map((l) => {
    const at = old.listeners.findIndex((o) => sameSocket(o, l));
    return at >= 0 ? oldPorts[at] ?? null : null;
  });
  const fresh = next.listeners.filter((_, i) => ports[i] === null);
  for (const l of fresh) changes.push(`listeners.${l.name}: added on ${formatAddress(l.bind)}`);
  for (const o of old.listeners) {
    if (!next.listeners.some((l) => sameSocket(o, l))) changes.push(`listeners.${o.name}: removed from ${formatAddress(o.bind)} (it stops accepting, its sessions go on)`);
  }
  for (const l of next.listeners) {
    const o = old.listeners.find((x) => sameSocket(x, l));
    if (!o) continue;
    if (!keepsSocket(o, oldPorts[old.listeners.indexOf(o)] ?? null, l)) {
      changes.push(`listeners.${l.name}.tls: new settings or certificates (a new socket on the same port; open sessions go on)`);
    }
    // The bind is the same socket (a port written 0 reads as the one the kernel gave).
    changes.push(...settingChanges(o, l, `listeners.${l.name}`, ["name", "bind"]));
  }
  for (const u of next.upstreams) {
    const o = old.upstreams.find((x) => x.name === u.name);
    if (!o) {
      changes.push(`upstreams.${u.name}: added`);
      continue;
    }
    changes.push(...serverChanges(o, u), ...settingChanges(o, u, `upstreams.${u.name}`, ["name", "servers"]));
  }
  for (const o of old.upstreams) if (!next.upstreams.some((u) => u.name === o.name)) changes.push(`upstreams.${o.name}: removed`);
  changes.push(...settingChanges(old.global, next.global, "global", ["geoip"]));
  // A database read anew at every reload: its file may change while the config does not.
  if (old.global.geoip?.fingerprint !== next.global.geoip?.fingerprint) {
    changes.push(next.global.geoip ? `global.geoip: ${next.global.geoip.files.join(", ")} ${old.global.geoip ? "changed" : "added"}` : "global.geoip: removed");
  }
  // The metrics address takes effect at restart; its allow list is read per request, so at once.
  changes.push(...settingChanges(old.metrics, next.metrics, "metrics").map((c) => (c.startsWith("metrics.allow") ? c : `${c} (takes effect at restart)`)));
  changes.push(...settingChanges(old.admin ?? { token: null }, next.admin ?? { token: null }, "admin"));
  return { ports, fresh, changes };
}

/**
 * `upstreams.<name>.servers (+added -removed): ...` when the set changed, then each kept server's
 * changed settings under its name (`servers["10.0.0.1:6379"].weight: 1 -> 5`), and a new order.
 */
function serverChanges(o: UpstreamConfig, u: UpstreamConfig): string[] {
  const at = `upstreams.${u.name}.servers`;
  const added = u.servers.filter((s) => !o.servers.some((x) => x.name === s.name)).map((s) => s.name);
  const removed = o.servers.filter((s) => !u.servers.some((x) => x.name === s.name)).map((s) => s.name);
  const out: string[] = [];
  if (added.length + removed.length > 0) {
    const parts = [
      ...(added.length ? [`added ${someNames(added)}`] : []),
      ...(removed.length ? [`removed ${someNames(removed)} (their sessions go on, they get no new ones)`] : []),
    ];
    out.push(`${at} (+${added.length} -${removed.length}): ${parts.join("; ")}`);
  }
  for (const s of u.servers) {
    const before = o.servers.find((x) => x.name === s.name);
    if (before) out.push(...settingChanges(before, s, `${at}[${JSON.stringify(s.name)}]`, ["name"]));
  }
  // The order counts too: first and the hashes read it.
  const kept = (list: UpstreamConfig["servers"], other: UpstreamConfig["servers"]) => list.filter((s) => other.some((x) => x.name === s.name)).map((s) => s.name);
  if (JSON.stringify(kept(u.servers, o.servers)) !== JSON.stringify(kept(o.servers, u.servers))) out.push(`${at}: order changed`);
  return out;
}
