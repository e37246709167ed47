// Runs every upstream's discovery sources on the main thread and turns each change of a source's
// set into one swap of the servers (Supervisor.refresh); counts changes and errors for /metrics.
import { discoveryLabel } from "../config/discovery.ts";
import type { Config, DiscoveryConfig, ServerConfig } from "../config/types.ts";
import { createSource, type DiscoverySource } from "../discovery/source.ts";
import type { Logger } from "../telemetry/log.ts";
import type { ReloadResult } from "./supervisor.ts";

/** What the manager needs of the supervisor. */
export interface DiscoveryHost {
  readonly config: Config;
  readonly servers: {
    setDiscovered(upstream: string, label: string, servers: readonly ServerConfig[]): boolean;
    discovered(upstream: string, label: string): ServerConfig[] | undefined;
  };
  refresh(why: string): Promise<ReloadResult>;
}

/** One source's counters and last lookup, for /metrics, /metrics.json and the status page. */
export interface SourceView {
  upstream: string;
  source: string;
  servers: number;
  changes: number;
  errors: number;
  last: DiscoverySource["last"];
}

interface Running {
  upstream: string;
  label: string;
  /** The config it runs, to tell after a reload whether it is still the same source. */
  key: string;
  source: DiscoverySource;
  changes: number;
  errors: number;
}

export class DiscoveryManager {
  readonly #running = new Map<string, Running>();
  #stopped = false;

  constructor(readonly host: DiscoveryHost, readonly logger: Logger) {}

  /**
   * Start the sources of `config` that are not running, and stop those no longer in it; a source
   * whose settings are unchanged keeps running (and its set), so a reload does not ask again.
   */
  sync(config: Config): void {
    if (this.#stopped) return;
    const wanted = new Map<string, { upstream: string; d: DiscoveryConfig }>();
    for (const u of config.upstreams) for (const d of u.discovery ?? []) wanted.set(`${u.name}\n${discoveryLabel(d)}`, { upstream: u.name, d });
    for (const [id, r] of this.#running) {
      const w = wanted.get(id);
      if (w && JSON.stringify(w.d) === r.key && JSON.stringify(config.global.resolvers) === this.#resolvers) continue;
      r.source.stop();
      this.#running.delete(id);
    }
    this.#resolvers = JSON.stringify(config.global.resolvers);
    for (const [id, { upstream, d }] of wanted) {
      if (this.#running.has(id)) continue;
      const label = discoveryLabel(d);
      const running: Running = { upstream, label, key: JSON.stringify(d), source: null as unknown as DiscoverySource, changes: 0, errors: 0 };
      const initial = this.host.servers.discovered(upstream, label);
      running.source = createSource(d, config.global.resolvers, this.logger, {
        changed: (servers, why) => this.#changed(running, servers, why),
        failed: () => void running.errors++,
      }, initial);
      this.#running.set(id, running);
      running.source.start();
    }
  }

  #resolvers = "";

  #changed(r: Running, servers: ServerConfig[], why: string): void {
    if (this.#stopped || this.#running.get(`${r.upstream}\n${r.label}`) !== r) return;
    if (!this.host.servers.setDiscovered(r.upstream, r.label, servers)) return;
    r.changes++;
    this.logger.info("discovery changed", { upstream: r.upstream, source: r.label, servers: servers.length, why });
    void this.host.refresh(`${r.label}: ${why}`);
  }

  views(): SourceView[] {
    return [...this.#running.values()].map((r) => ({
      upstream: r.upstream, source: r.label, servers: r.source.servers.length, changes: r.changes, errors: r.errors, last: r.source.last,
    }));
  }

  stop(): void {
    this.#stopped = true;
    for (const r of this.#running.values()) r.source.stop();
    this.#running.clear();
  }
}
