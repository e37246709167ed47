// The servers each upstream runs with: the file's, then what discovery found, then the admin API's
// additions, removals and moves. The supervisor swaps in the merge whenever one of them changes.
import { addressKey, formatAddress } from "../config/address.ts";
import type { Address, Config, ServerConfig, UpstreamConfig } from "../config/types.ts";

/** What the admin API changed in one upstream. */
export interface ApiChanges {
  /** Servers added (source "api"), in the order they came. */
  added: ServerConfig[];
  /** Names of file or discovered servers taken out. */
  removed: string[];
  /** Name to new address, for file or discovered servers. */
  moved: Record<string, Address>;
}

/** One upstream's part, as the state file keeps it. */
export interface UpstreamSets {
  api: ApiChanges;
  /** Source label to its last good set. */
  discovered: Record<string, ServerConfig[]>;
}

/** A server discovered twice, or under a name or address the file already has: the first one stays. */
export interface Shadowed {
  upstream: string;
  server: string;
  by: string;
}

export class ServerSets {
  readonly #byUpstream = new Map<string, UpstreamSets>();

  #of(upstream: string): UpstreamSets {
    let sets = this.#byUpstream.get(upstream);
    if (!sets) this.#byUpstream.set(upstream, (sets = { api: { added: [], removed: [], moved: {} }, discovered: {} }));
    return sets;
  }

  /** A discovery source's whole set; false when it is what it was. */
  setDiscovered(upstream: string, label: string, servers: readonly ServerConfig[]): boolean {
    const sets = this.#of(upstream);
    const before = sets.discovered[label];
    if (before && JSON.stringify(before) === JSON.stringify(servers)) return false;
    sets.discovered[label] = [...servers];
    return true;
  }

  discovered(upstream: string, label: string): ServerConfig[] | undefined {
    return this.#byUpstream.get(upstream)?.discovered[label];
  }

  /** Sources no longer in `config` (and upstreams no longer there) are forgotten. */
  keepOnly(config: Config, labels: (u: UpstreamConfig) => string[]): void {
    for (const [name, sets] of this.#byUpstream) {
      const u = config.upstreams.find((x) => x.name === name);
      if (!u) {
        this.#byUpstream.delete(name);
        continue;
      }
      const keep = new Set(labels(u));
      for (const label of Object.keys(sets.discovered)) if (!keep.has(label)) delete sets.discovered[label];
    }
  }

  /** The admin API's changes to one upstream, to read and to change in place. */
  api(upstream: string): ApiChanges {
    return this.#of(upstream).api;
  }

  /** Forget every admin API change (a reload without a state file starts from the file again). */
  clearApi(): void {
    for (const sets of this.#byUpstream.values()) sets.api = { added: [], removed: [], moved: {} };
  }

  /** Everything, for the state file. */
  save(): Record<string, UpstreamSets> {
    return structuredClone(Object.fromEntries(this.#byUpstream));
  }

  /** What a state file held (already checked by its reader). */
  restore(saved: Record<string, UpstreamSets>): void {
    this.#byUpstream.clear();
    for (const [name, sets] of Object.entries(saved)) this.#byUpstream.set(name, structuredClone(sets));
  }

  /**
   * `file` with each upstream's servers merged: the file's (moved or removed as the API asked), then
   * each discovery source's in the order the upstream lists them, then the API's additions. A name
   * or address already taken keeps its first server; `shadowed` hears of the others.
   */
  merge(file: Config, labels: (u: UpstreamConfig) => string[], shadowed?: (s: Shadowed) => void): Config {
    const upstreams = file.upstreams.map((u) => {
      const sets = this.#byUpstream.get(u.name);
      if (!sets) return u;
      const names = new Set<string>();
      const addresses = new Set<string>();
      const servers: ServerConfig[] = [];
      const take = (s: ServerConfig) => {
        const key = addressKey(s.address);
        const clash = names.has(s.name) ? `name ${s.name}` : addresses.has(key) ? `address ${formatAddress(s.address)}` : null;
        if (clash) return shadowed?.({ upstream: u.name, server: s.name, by: `${clash} already in use` });
        names.add(s.name);
        addresses.add(key);
        servers.push({ ...s }); // a copy: the running config must not change when these sets do
      };
      const adjust = (s: ServerConfig): ServerConfig | null => {
        if (sets.api.removed.includes(s.name)) return null;
        const to = sets.api.moved[s.name];
        return to ? { ...s, address: to } : s;
      };
      for (const s of u.servers) {
        const a = adjust(s);
        if (a) take(a);
      }
      for (const label of labels(u)) {
        for (const s of sets.discovered[label] ?? []) {
          const a = adjust(s);
          if (a) take(a);
        }
      }
      for (const s of sets.api.added) take(s);
      return { ...u, servers };
    });
    return { ...file, upstreams };
  }
}
