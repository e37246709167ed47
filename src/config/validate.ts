// Raw TOML table to a validated Config: each section through the schema, then the checks across sections.
import { stateFileOf } from "./discovery.ts";
import os from "node:os";
import type { Address, Config } from "./types.ts";
import { ConfigError } from "./errors.ts";
import { bindClash, formatAddress } from "./address.ts";
import { readFields, readSection } from "./section.ts";
import type { Values } from "./fields.ts";
import { ADMIN, GLOBAL, METRICS } from "./schema.ts";
import { checkTopLevel, belongsIn, tableAt, itemsAt } from "./top-level.ts";
import { readListeners } from "./listeners.ts";
import { readUpstreams, upstreamNames } from "./upstreams.ts";
import { nameListeners } from "./listener-names.ts";
import { readAdmin } from "./admin.ts";
import { TlsFiles } from "./tls.ts";
import { openGeo } from "./client.ts";
import { checkClientKeys } from "./client-checks.ts";

/**
 * Validates a parsed document. Problems carry key paths but not the file name: the caller
 * prefixes that. Throws one ConfigError holding every problem found.
 */
export function validate(doc: Record<string, unknown>, source: string): Config {
  if (Object.keys(doc).length === 0) {
    throw new ConfigError([`the file is empty: it needs at least one [[listener]] and one [[upstream]]`]);
  }
  const problems: string[] = [];
  checkTopLevel(doc, problems);

  const globalTable = tableAt(doc, "global", problems);
  const globalBefore = problems.length;
  // The keys that did convert still open the GeoIP files and check the regions below.
  const gv = globalTable && readFields(globalTable, GLOBAL, "global", problems, belongsIn);
  const g = gv && problems.length === globalBefore ? (gv as Values<typeof GLOBAL>) : undefined;
  const metricsTable = tableAt(doc, "metrics", problems);
  const m = metricsTable && readSection(metricsTable, METRICS, "metrics", problems, belongsIn);

  const rawListeners = itemsAt(doc, "listener", problems);
  if (rawListeners?.length === 0) {
    problems.push(`no [[listener]] defined: nothing to do (add one with bind and upstream)`);
  }
  const rawUpstreams = itemsAt(doc, "upstream", problems);
  // A mis-written [upstream] is reported once, not again by every listener that names it.
  const files = new TlsFiles(source, problems);
  const listeners = readListeners(rawListeners ?? [], rawUpstreams && upstreamNames(rawUpstreams), problems, files);
  const upstreams = readUpstreams(rawUpstreams ?? [], problems, files, source);

  const metricsListen = m?.enabled ? m.listen : null;
  const adminTable = tableAt(doc, "admin", problems);
  if (metricsListen) checkMetricsClash(metricsListen, listeners, adminTable, problems);
  const a = adminTable && readSection(adminTable, ADMIN, "admin", problems, belongsIn);
  const admin = a && readAdmin(a, source, metricsListen, problems);
  const geoip = gv?.geoip ? openGeo(gv.geoip, source, problems) ?? null : null;
  // Only on what geoip and regions say: one that did not convert would make every use of it look wrong.
  const clientKeys = gv && globalTable && (["geoip", "regions"] as const).every((k) => globalTable[k] === undefined || gv[k] !== undefined);
  if (clientKeys) checkClientKeys({ geoip: gv.geoip !== undefined, regions: gv.regions ?? {} }, listeners, upstreams, problems);
  if (problems.length > 0 || !g || !m) throw new ConfigError(problems);

  return {
    source,
    global: {
      // The 1024 cap holds for "one per core" too: past that, more threads stop paying.
      workers: g.workers === 0 ? Math.min(os.availableParallelism(), 1024) : g.workers,
      maxConnections: g.max_connections,
      shutdownGraceMs: g.shutdown_grace,
      bufferBudget: g.buffer_budget,
      logLevel: g.log_level,
      accessLog: g.access_log,
      watch: g.watch,
      logFormat: g.log_format,
      geoip,
      regions: g.regions ?? {},
      resolvers: g.resolvers ?? [],
      stateFile: stateFileOf(g.state_file, source),
    },
    metrics: { listen: metricsListen, ...(m.allow?.length ? { allow: m.allow } : {}) },
    admin,
    // With no problems every item was read, so the filters drop nothing; they only narrow the type.
    listeners: nameListeners(listeners.filter((l) => l !== undefined)),
    upstreams: upstreams.filter((u) => u !== undefined),
  };
}

/**
 * The metrics listener (which also serves the status page and, with a token, the admin API) is
 * bound by the main thread without SO_REUSEPORT: on a listener's port it fails at start, so say
 * so here, for a wildcard that covers a listener's address too.
 */
function checkMetricsClash(
  listen: Address,
  listeners: readonly ({ bind: Address } | undefined)[],
  adminTable: Record<string, unknown> | undefined,
  problems: string[],
): void {
  const admin = adminTable && (adminTable.token !== undefined || adminTable.token_file !== undefined);
  const also = admin ? " (the admin API is served there too)" : "";
  listeners.forEach((l, i) => {
    const clash = l && bindClash(listen, l.bind);
    if (clash === "same") problems.push(`metrics.listen: "${formatAddress(listen)}" is already bound by listener[${i}]${also}`);
    if (l && clash === "overlap") {
      problems.push(`metrics.listen: "${formatAddress(listen)}" overlaps listener[${i}].bind "${formatAddress(l.bind)}" (one address includes the other: give metrics another port)${also}`);
    }
  });
}
