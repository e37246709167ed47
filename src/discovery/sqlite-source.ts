// SQLite discovery in edgeProxy's schema: the rows of one app in `backends` are the servers, read
// again whenever the file's data version (or the file itself) changes. Runs on the main thread.
import { Database } from "bun:sqlite";
import { statSync } from "node:fs";
import { parseAddress } from "../config/address.ts";
import { discoveryLabel } from "../config/discovery.ts";
import type { DiscoveryConfig, ServerConfig } from "../config/types.ts";
import type { Logger } from "../telemetry/log.ts";
import { HeldSource, type DiscoveryEvents } from "./held-set.ts";

type SqliteConfig = Extract<DiscoveryConfig, { kind: "sqlite" }>;

interface Row {
  id: unknown; region: unknown; wg_ip: unknown; port: unknown; weight: unknown; soft_limit: unknown; hard_limit: unknown;
}

const clampWeight = (w: unknown) => Math.min(1000, Math.max(1, Number.isFinite(Number(w)) ? Math.round(Number(w)) : 1));
const positive = (v: unknown) => (Number.isInteger(Number(v)) && Number(v) > 0 ? Number(v) : undefined);

export class SqliteSource extends HeldSource {
  #db: Database | null = null;
  /** What identified the file when it was opened: a file replaced (renamed over) is opened anew. */
  #identity = "";
  #version = -1;
  #timer: ReturnType<typeof setInterval> | null = null;
  /** Rows refused, each logged once. */
  readonly #refused = new Set<string>();

  constructor(readonly config: SqliteConfig, logger: Logger, events: DiscoveryEvents, initial?: readonly ServerConfig[]) {
    super(discoveryLabel(config), config.holdMs, logger, events, initial);
  }

  start(): void {
    if (this.#timer) return;
    this.poll();
    this.#timer = setInterval(() => this.poll(), this.config.intervalMs);
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    this.#close();
  }

  /** One look: cheap when nothing changed (a stat and PRAGMA data_version). Never throws. */
  poll(): void {
    try {
      const identity = this.#stat();
      if (identity !== this.#identity) this.#close();
      if (!this.#db) {
        // Read-only and without waiting: a writer's lock is a failure now, not a stall of the main thread.
        this.#db = new Database(this.config.path, { readonly: true });
        this.#db.run("PRAGMA busy_timeout = 0");
        this.#identity = identity;
      }
      const version = (this.#db.query("PRAGMA data_version").get() as { data_version: number }).data_version;
      if (version === this.#version && this.held.last?.ok) return;
      const rows = this.#db.query(`SELECT id, region, wg_ip, port, weight, soft_limit, hard_limit FROM "${this.config.table.replaceAll('"', '""')}"
        WHERE app = ? AND COALESCE(healthy, 1) != 0 AND COALESCE(deleted, 0) = 0 ORDER BY id`).all(this.config.app) as Row[];
      this.#version = version;
      this.held.good(this.#servers(rows), {}, true);
    } catch (err) {
      // Locked, corrupt, missing file or table: the last good set stays (for hold).
      this.#close();
      this.held.bad(reasonOf(err));
    }
  }

  #stat(): string {
    const s = statSync(this.config.path);
    return `${s.dev}:${s.ino}`;
  }

  #servers(rows: Row[]): ServerConfig[] {
    const out: ServerConfig[] = [];
    const names = new Set<string>();
    const addresses = new Set<string>();
    for (const row of rows) {
      const name = String(row.id);
      const ip = String(row.wg_ip ?? "");
      const text = ip.includes(":") && !ip.startsWith("[") ? `[${ip}]:${row.port}` : `${ip}:${row.port}`;
      let address;
      try {
        address = parseAddress(text, `${this.config.table} row ${JSON.stringify(name)}`, "connect");
      } catch (err) {
        this.#refuse(name, (err as Error).message);
        continue;
      }
      const key = `${address.host}:${address.port}`;
      if (names.has(name) || addresses.has(key)) {
        this.#refuse(name, `row ${JSON.stringify(name)} repeats a name or address of an earlier row: the first one is used`);
        continue;
      }
      names.add(name);
      addresses.add(key);
      const region = typeof row.region === "string" && row.region !== "" ? row.region : undefined;
      const soft = positive(row.soft_limit);
      const hard = positive(row.hard_limit);
      out.push({
        name, address, weight: clampWeight(row.weight), backup: false, source: "sqlite",
        ...(hard ? { maxConnections: hard } : {}), ...(soft && (!hard || soft < hard) ? { softLimit: soft } : {}), ...(region ? { region } : {}),
      });
    }
    return out;
  }

  #refuse(name: string, why: string): void {
    const key = `${name}\n${why}`;
    if (this.#refused.has(key)) return;
    this.#refused.add(key);
    this.logger.warn("discovery row skipped", { source: this.label, row: name, why });
  }

  #close(): void {
    try {
      this.#db?.close();
    } catch { /* closing a broken handle: nothing more to do */ }
    this.#db = null;
    this.#identity = "";
    this.#version = -1;
  }
}

function reasonOf(err: unknown): string {
  const e = err as { code?: string; message?: string };
  if (e.code === "ENOENT") return "the database file does not exist";
  if (e.code === "SQLITE_BUSY" || /locked/i.test(e.message ?? "")) return "the database is locked by a writer";
  if (e.code === "SQLITE_CORRUPT" || e.code === "SQLITE_NOTADB" || /not a database|malformed/i.test(e.message ?? "")) return "the database file is corrupt or not SQLite";
  return `${e.code ? `${e.code}: ` : ""}${e.message ?? String(err)}`;
}
