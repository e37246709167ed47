// The stick tables of every upstream with `stick`: allocated by the main thread, shared with each Worker, kept across reloads.
import type { Config, UpstreamConfig } from "../config/types.ts";
import { takesStuckClients, type ServerState } from "../health/server-state.ts";
import { allocateStickTable, StickTable } from "../stick/table.ts";
import { stickId } from "../upstream/sticky.ts";

interface Held {
  readonly maxEntries: number;
  readonly sab: SharedArrayBuffer;
  readonly table: StickTable;
}

export class StickTables {
  /** By upstream name: a reload that keeps the name and max_entries keeps the table, entries and all. */
  readonly #byName = new Map<string, Held>();
  /** Tables allocated for a reload in progress: running only once it is taken (`settle`). */
  readonly #pending = new Map<string, Held>();

  /**
   * The buffers for `config`'s upstreams, allocating those it adds or resizes (a table is sized
   * once, so a new max_entries starts empty). Posted to the Workers with a start or a reload.
   */
  buffers(config: Config): Record<string, SharedArrayBuffer> {
    const out: Record<string, SharedArrayBuffer> = {};
    for (const u of config.upstreams) {
      if (!u.stick) continue;
      const { maxEntries } = u.stick;
      let held = this.#byName.get(u.name);
      if (held?.maxEntries !== maxEntries) held = this.#pending.get(u.name);
      if (held?.maxEntries !== maxEntries) {
        const sab = allocateStickTable(maxEntries);
        held = { maxEntries, sab, table: new StickTable(sab) };
        if (this.#byName.has(u.name)) this.#pending.set(u.name, held);
        else this.#byName.set(u.name, held); // nobody else can be using this name's table yet
      }
      out[u.name] = held.sab;
    }
    return out;
  }

  /**
   * A start or reload ended with `running` in force: its new tables take over, and tables no
   * upstream of it uses are let go.
   */
  settle(running: Config): void {
    for (const u of running.upstreams) {
      const pending = this.#pending.get(u.name);
      if (u.stick && pending?.maxEntries === u.stick.maxEntries) this.#byName.set(u.name, pending);
    }
    this.#pending.clear();
    for (const [name, held] of [...this.#byName]) {
      const u = running.upstreams.find((x) => x.name === name);
      if (u?.stick?.maxEntries !== held.maxEntries) this.#byName.delete(name);
    }
  }

  /** A reload from `before` to `after` was taken: entries of servers a kept upstream no longer lists go at once. */
  forgetRemovedServers(before: Config, after: Config): void {
    for (const u of after.upstreams) {
      const old = before.upstreams.find((x) => x.name === u.name);
      const table = this.table(u.name);
      if (!old || !table) continue;
      const kept = new Set(u.servers.map(stickId));
      for (const s of old.servers) if (!kept.has(stickId(s))) table.dropServer(stickId(s));
    }
  }

  table(upstream: string): StickTable | null {
    return this.#byName.get(upstream)?.table ?? null;
  }

  /** A health or admin snapshot: entries of servers that take no stuck clients go now (a draining one keeps them). */
  dropUnavailable(upstream: UpstreamConfig, states: readonly ServerState[]): void {
    const table = this.table(upstream.name);
    if (!table) return;
    states.forEach((state, i) => {
      const server = upstream.servers[i];
      if (server && !takesStuckClients(state)) table.dropServer(stickId(server));
    });
  }
}
