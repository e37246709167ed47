// The state file (HAProxy's server-state-file): admin states, runtime weights, health, the admin
// API's servers and discovery's last good sets, kept across restarts; written atomically, read with
// every field checked, and ignored with a warning when it cannot be trusted.
import { closeSync, fsyncSync, openSync, renameSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";
import { readBoundedFile } from "../config/read-file.ts";
import type { Address, ServerConfig } from "../config/types.ts";
import type { SavedServer } from "../health/monitor.ts";
import type { Logger } from "../telemetry/log.ts";
import type { UpstreamSets } from "./server-sets.ts";

export interface SavedState {
  version: 1;
  /** Wall-clock time of the write. */
  written: string;
  health: Record<string, Record<string, SavedServer>>;
  servers: Record<string, UpstreamSets>;
}

/** A state file larger than this is refused: it holds a few lines per server. */
const MAX_STATE_BYTES = 64 * 1024 * 1024;

/** The saved state, or null when there is none (first start) or it cannot be trusted (logged). */
export function readStateFile(path: string, logger: Logger): SavedState | null {
  let text: string;
  try {
    text = readBoundedFile(path, MAX_STATE_BYTES).toString("utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    logger.warn("state file ignored", { path, why: `cannot read it: ${(err as Error).message}` });
    return null;
  }
  try {
    return checkState(JSON.parse(text));
  } catch (err) {
    logger.warn("state file ignored: starting from the config alone", { path, why: (err as Error).message });
    return null;
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
function need(ok: boolean, what: string): void {
  if (!ok) throw new Error(what);
}

function checkAddress(v: unknown, at: string): Address {
  need(isObject(v) && typeof v.host === "string" && v.host !== "" && Number.isInteger(v.port) && (v.port as number) >= 1 && (v.port as number) <= 65535, `${at} is not an address`);
  const a = v as Record<string, unknown>;
  return { host: a.host as string, port: a.port as number };
}

function checkServer(v: unknown, at: string): ServerConfig {
  need(isObject(v), `${at} is not a server`);
  const s = v as Record<string, unknown>;
  need(typeof s.name === "string" && s.name !== "", `${at}.name is not a name`);
  need(Number.isInteger(s.weight) && (s.weight as number) >= 1 && (s.weight as number) <= 1000, `${at}.weight is not 1..1000`);
  need(typeof s.backup === "boolean", `${at}.backup is not true or false`);
  need(s.source === undefined || ["dns", "srv", "sqlite", "api"].includes(s.source as string), `${at}.source is not a source`);
  for (const k of ["maxConnections", "softLimit"]) need(s[k] === undefined || (Number.isInteger(s[k]) && (s[k] as number) > 0), `${at}.${k} is not a positive integer`);
  need(s.region === undefined || typeof s.region === "string", `${at}.region is not text`);
  return { ...(s as unknown as ServerConfig), address: checkAddress(s.address, `${at}.address`) };
}

/** Every field checked; throws, saying where, at the first that is wrong. */
export function checkState(v: unknown): SavedState {
  need(isObject(v), "it is not a JSON object");
  const o = v as Record<string, unknown>;
  need(o.version === 1, `its version is ${JSON.stringify(o.version)}, this aegis reads version 1`);
  need(isObject(o.health) && isObject(o.servers), "it has no health and servers objects");
  const health: SavedState["health"] = {};
  for (const [u, servers] of Object.entries(o.health as object)) {
    need(isObject(servers), `health.${u} is not an object`);
    health[u] = {};
    for (const [name, s] of Object.entries(servers as object)) {
      const at = `health.${u}.${name}`;
      need(isObject(s) && ["ready", "draining", "disabled"].includes((s as Record<string, unknown>).admin as string), `${at}.admin is not ready, draining or disabled`);
      const x = s as Record<string, unknown>;
      need(x.weight === null || (Number.isInteger(x.weight) && (x.weight as number) >= 1 && (x.weight as number) <= 1000), `${at}.weight is not null or 1..1000`);
      need(typeof x.healthy === "boolean", `${at}.healthy is not true or false`);
      health[u]![name] = { admin: x.admin as SavedServer["admin"], weight: x.weight as number | null, healthy: x.healthy as boolean };
    }
  }
  const servers: SavedState["servers"] = {};
  for (const [u, sets] of Object.entries(o.servers as object)) {
    const at = `servers.${u}`;
    need(isObject(sets) && isObject((sets as Record<string, unknown>).api) && isObject((sets as Record<string, unknown>).discovered), `${at} has no api and discovered objects`);
    const api = (sets as Record<string, Record<string, unknown>>).api!;
    need(Array.isArray(api.added) && Array.isArray(api.removed) && isObject(api.moved), `${at}.api is not { added, removed, moved }`);
    need((api.removed as unknown[]).every((n) => typeof n === "string"), `${at}.api.removed is not a list of names`);
    servers[u] = {
      api: {
        added: (api.added as unknown[]).map((s, i) => checkServer(s, `${at}.api.added[${i}]`)),
        removed: api.removed as string[],
        moved: Object.fromEntries(Object.entries(api.moved as object).map(([n, a]) => [n, checkAddress(a, `${at}.api.moved.${n}`)])),
      },
      discovered: Object.fromEntries(Object.entries((sets as Record<string, object>).discovered!).map(([label, list]) => {
        need(Array.isArray(list), `${at}.discovered.${label} is not a list`);
        return [label, (list as unknown[]).map((s, i) => checkServer(s, `${at}.discovered.${label}[${i}]`))];
      })),
    };
  }
  return { version: 1, written: typeof o.written === "string" ? o.written : "", health, servers };
}

/** Writes the state when asked, at most once per tick, atomically: a temp file beside it, fsync, rename. */
export class StateWriter {
  #pending: (() => SavedState) | null = null;
  #lastError = "";

  constructor(readonly path: string, readonly logger: Logger) {}

  /** Write `state()` soon (once for a burst of changes). */
  schedule(state: () => SavedState): void {
    const first = this.#pending === null;
    this.#pending = state;
    if (first) setTimeout(() => this.flush(), 0);
  }

  flush(): void {
    const state = this.#pending;
    this.#pending = null;
    if (!state) return;
    const temp = join(dirname(this.path), `.${process.pid}.aegis-state.tmp`);
    try {
      const fd = openSync(temp, "w", 0o600);
      try {
        writeSync(fd, JSON.stringify(state(), null, 1) + "\n");
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(temp, this.path);
      this.#lastError = "";
    } catch (err) {
      const message = (err as Error).message;
      if (message !== this.#lastError) this.logger.warn("cannot write the state file; trying again at the next change", { path: this.path, error: message });
      this.#lastError = message;
    }
  }
}
