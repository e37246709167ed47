// DNS discovery: the A/AAAA records of a name (servers on one port), or its SRV records (target,
// port, weight; the lowest priority primaries, the rest backups), asked again as their TTL runs out.
import { formatAddress } from "../config/address.ts";
import { discoveryLabel } from "../config/discovery.ts";
import type { Address, DiscoveryConfig, ServerConfig } from "../config/types.ts";
import type { Logger } from "../telemetry/log.ts";
import { lookup, systemResolvers } from "./dns-client.ts";
import { rcodeName, type DnsAnswer, type DnsRecord } from "./dns-wire.ts";
import { HeldSource, type DiscoveryEvents } from "./held-set.ts";

type DnsConfig = Extract<DiscoveryConfig, { kind: "dns" | "srv" }>;

/** No wait longer than a day: a timer past 2^31-1 ms fires at once in Bun, and records do change. */
export const MAX_WAIT_MS = 86_400_000;

/**
 * When to ask again: when the smallest TTL runs out, never sooner than `intervalMs`, at most a day
 * later; while a held set waits to run out, no later than when it does.
 */
export function nextLookupMs(intervalMs: number, ttlMs: number | undefined, heldForMs: number | null = null): number {
  const wait = Math.min(MAX_WAIT_MS, Math.max(intervalMs, ttlMs ?? 0));
  // Not sooner than 100 ms: a timer may fire a little early, and the hold must not become a busy loop.
  return heldForMs === null ? wait : Math.min(wait, Math.max(100, heldForMs));
}

const clampWeight = (w: number) => Math.min(1000, Math.max(1, w));

export function createDnsSource(config: DnsConfig, resolvers: Address[], logger: Logger, events: DiscoveryEvents, initial?: ServerConfig[]): DnsSource {
  return new DnsSource(config, resolvers, logger, events, initial);
}

export class DnsSource extends HeldSource {
  #timer: ReturnType<typeof setTimeout> | null = null;
  #stopped = false;
  #started = false;

  constructor(readonly config: DnsConfig, readonly resolvers: Address[], logger: Logger, events: DiscoveryEvents, initial?: ServerConfig[]) {
    super(discoveryLabel(config), config.holdMs, logger, events, initial);
  }

  start(): void {
    if (this.#started || this.#stopped) return;
    this.#started = true;
    void this.#round();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }

  async #round(): Promise<void> {
    let ttlMs: number | undefined;
    try {
      const servers = this.resolvers.length ? this.resolvers : systemResolvers();
      const found = this.config.kind === "dns" ? await this.#addresses(this.config.name, servers) : await this.#srv(servers);
      if (this.#stopped) return;
      if (typeof found === "string") this.held.bad(found);
      else {
        ttlMs = found.ttlMs;
        this.held.good(found.servers, { ttlMs });
      }
    } catch (err) {
      if (!this.#stopped) this.held.bad((err as Error).message);
    }
    const heldUntil = this.held.last?.heldUntil ?? null;
    if (!this.#stopped) this.#timer = setTimeout(() => void this.#round(), nextLookupMs(this.config.intervalMs, ttlMs, heldUntil === null ? null : heldUntil - Date.now()));
  }

  /** A and AAAA of `name`: addresses and the smallest TTL, or why not (NXDOMAIN, SERVFAIL, no answer). */
  async #ask(name: string, servers: Address[]): Promise<{ addresses: string[]; ttlMs: number } | string> {
    const answers = await Promise.all([lookup(name, "A", servers), lookup(name, "AAAA", servers)]);
    const failures = answers.filter((a): a is string => typeof a === "string");
    if (failures.length === 2) return failures[0]!;
    const good = answers.filter((a): a is DnsAnswer => typeof a !== "string");
    const records = good.flatMap((a) => a.answers).filter((r): r is Extract<DnsRecord, { type: "A" | "AAAA" }> => r.type === "A" || r.type === "AAAA");
    if (records.length === 0) {
      const bad = good.find((a) => a.rcode !== 0);
      return bad ? `${name}: ${rcodeName(bad.rcode)}` : failures[0] ?? `${name}: no A or AAAA records`;
    }
    return { addresses: [...new Set(records.map((r) => r.address))], ttlMs: Math.min(...records.map((r) => r.ttl)) * 1000 };
  }

  async #addresses(name: string, servers: Address[]): Promise<{ servers: ServerConfig[]; ttlMs: number } | string> {
    const asked = await this.#ask(name, servers);
    if (typeof asked === "string") return asked;
    const port = (this.config as Extract<DnsConfig, { kind: "dns" }>).port;
    return {
      ttlMs: asked.ttlMs,
      servers: asked.addresses.map((host) => ({ name: formatAddress({ host, port }), address: { host, port }, weight: 1, backup: false, source: "dns" as const })),
    };
  }

  async #srv(servers: Address[]): Promise<{ servers: ServerConfig[]; ttlMs: number } | string> {
    const answer = await lookup(this.config.name, "SRV", servers);
    if (typeof answer === "string") return answer;
    if (answer.rcode !== 0) return `${this.config.name}: ${rcodeName(answer.rcode)}`;
    const records = answer.answers.filter((r): r is Extract<DnsRecord, { type: "SRV" }> => r.type === "SRV" && r.target !== "");
    if (records.length === 0) return `${this.config.name}: no SRV records`;
    const primary = Math.min(...records.map((r) => r.priority));
    let ttl = Math.min(...records.map((r) => r.ttl)) * 1000;
    const out: ServerConfig[] = [];
    for (const r of records) {
      // The target's address: from the answer's additional records when the server sent them.
      const extra = answer.additional.filter((a): a is Extract<DnsRecord, { type: "A" | "AAAA" }> => (a.type === "A" || a.type === "AAAA") && a.name === r.target);
      let host = extra.find((a) => a.type === "A")?.address ?? extra[0]?.address;
      if (host) ttl = Math.min(ttl, ...extra.map((a) => a.ttl * 1000));
      if (!host) {
        const asked = await this.#ask(r.target, servers);
        if (typeof asked === "string") {
          this.logger.warn("discovery: an SRV target does not resolve, left out", { source: this.label, target: r.target, reason: asked });
          continue;
        }
        host = asked.addresses.find((a) => !a.includes(":")) ?? asked.addresses[0]!;
        ttl = Math.min(ttl, asked.ttlMs);
      }
      out.push({ name: `${r.target}:${r.port}`, address: { host, port: r.port }, weight: clampWeight(r.weight), backup: r.priority !== primary, source: "srv" });
    }
    if (out.length === 0) return `${this.config.name}: no SRV target resolves`;
    return { servers: out, ttlMs: ttl };
  }
}
