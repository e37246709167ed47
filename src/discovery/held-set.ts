// A source's last good set, kept for `hold` while lookups fail, and the change log lines: shared by every source.
import type { ServerConfig } from "../config/types.ts";
import type { Logger } from "../telemetry/log.ts";

export interface DiscoveryEvents {
  /** The source's whole current set, only when it changed; `why` says what changed. */
  changed(servers: ServerConfig[], why: string): void;
  /** A lookup or read failed (already logged); for aegis_discovery_errors_total. */
  failed(reason: string): void;
}

/** What the last lookup saw, for the status page, /metrics.json and tests. */
export interface LastLookup {
  /** Wall-clock milliseconds. */
  at: number;
  ok: boolean;
  /** "" when ok. */
  reason: string;
  /** The answer's smallest TTL (DNS sources). */
  ttlMs?: number;
  records: number;
  /** While failing: when the held set goes (wall clock); null when not holding. */
  heldUntil: number | null;
}

const sorted = (servers: readonly ServerConfig[]) => [...servers].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

/** "added a; removed b; reweighted c": what differs between two sets, by name. */
export function describeChange(before: readonly ServerConfig[], after: readonly ServerConfig[]): string {
  const was = new Map(before.map((s) => [s.name, s]));
  const now = new Map(after.map((s) => [s.name, s]));
  const added = after.filter((s) => !was.has(s.name)).map((s) => s.name);
  const removed = before.filter((s) => !now.has(s.name)).map((s) => s.name);
  const changed = after.filter((s) => was.has(s.name) && JSON.stringify(was.get(s.name)) !== JSON.stringify(s)).map((s) => s.name);
  return [
    added.length ? `added ${added.join(", ")}` : "",
    removed.length ? `removed ${removed.join(", ")}` : "",
    changed.length ? `changed ${changed.join(", ")}` : "",
  ].filter(Boolean).join("; ") || "no change";
}

/**
 * The set a source gives. `good` takes a successful lookup's set; `bad` a failure, which keeps the
 * last good set until `holdMs` after the first failure in a row, then empties it. An empty DNS
 * answer counts as a failure: a name that suddenly has no records is likelier broken than right.
 * A SQLite table read whole is an answer even when no row is left: the operator drained them all.
 */
export class HeldSet {
  servers: ServerConfig[] = [];
  last: LastLookup | null = null;
  #failingSince: number | null = null;
  #lastReason = "";

  constructor(readonly label: string, readonly holdMs: number, readonly logger: Logger, readonly events: DiscoveryEvents, initial?: readonly ServerConfig[]) {
    if (initial?.length) {
      this.servers = sorted(initial);
      // A set restored from the state file is held as if its source were failing since start.
      this.#failingSince = Date.now();
    }
  }

  /** `emptyIsAnswer`: the source can say "none" and mean it (a table read whole), unlike a DNS answer. */
  good(servers: readonly ServerConfig[], extra: { ttlMs?: number } = {}, emptyIsAnswer = false): void {
    if (servers.length === 0 && !emptyIsAnswer) return this.bad("the answer is empty", extra);
    const now = Date.now();
    if (this.#failingSince !== null && this.#lastReason) this.logger.info("discovery recovered", { source: this.label, servers: servers.length });
    this.#failingSince = null;
    this.#lastReason = "";
    this.last = { at: now, ok: true, reason: "", records: servers.length, heldUntil: null, ...extra };
    this.#set(sorted(servers));
  }

  bad(reason: string, extra: { ttlMs?: number } = {}): void {
    const now = Date.now();
    this.#failingSince ??= now;
    const heldUntil = this.#failingSince + this.holdMs;
    this.last = { at: now, ok: false, reason, records: 0, heldUntil: this.servers.length ? heldUntil : null, ...extra };
    this.events.failed(reason);
    if (reason !== this.#lastReason) {
      this.#lastReason = reason;
      this.logger.warn("discovery failed", { source: this.label, reason, keeping: this.servers.length, until: this.servers.length ? new Date(heldUntil).toISOString() : null });
    }
    if (this.servers.length && now >= heldUntil) {
      this.logger.warn("discovery hold over: its servers go", { source: this.label, servers: this.servers.length, reason });
      this.last.heldUntil = null;
      this.#set([], `hold over (${reason})`);
    }
  }

  #set(next: ServerConfig[], why?: string): void {
    if (JSON.stringify(next) === JSON.stringify(this.servers)) return;
    const change = why ?? describeChange(this.servers, next);
    this.servers = next;
    this.events.changed(next, change);
  }
}

/** What every source shows of its held set: the current servers and the last lookup. */
export abstract class HeldSource {
  protected readonly held: HeldSet;

  constructor(readonly label: string, holdMs: number, readonly logger: Logger, events: DiscoveryEvents, initial?: readonly ServerConfig[]) {
    this.held = new HeldSet(label, holdMs, logger, events, initial);
  }

  get servers(): readonly ServerConfig[] {
    return this.held.servers;
  }

  get last(): LastLookup | null {
    return this.held.last;
  }
}
