// Checks across sections for the client keys: country routes need a GeoIP database, region preferences need regions.
import type { RegionPreference, RouteConfig, UpstreamConfig } from "./types.ts";
import type { UnnamedListener } from "./listener-names.ts";
import { quote } from "./quote.ts";

interface GlobalFacts {
  /** [global] geoip is set (whether or not it opened: that has its own problem). */
  geoip: boolean;
  regions: Record<string, string[]>;
}

export function checkClientKeys(
  global: GlobalFacts,
  listeners: readonly (UnnamedListener | undefined)[],
  upstreams: readonly (UpstreamConfig | undefined)[],
  problems: string[],
): void {
  const byName = new Map(upstreams.flatMap((u) => (u ? [[u.name, u] as const] : [])));
  listeners.forEach((l, i) => {
    if (!l) return;
    const path = `listener[${i}]`;
    if (l.proxyProtocol && (l.tls?.certificates.length ?? 0) > 1) {
      problems.push(`${path}.tls.certificates: with proxy_protocol a TLS listener serves one certificate (TLS starts on each accepted connection, after the header)`);
    }
    if (l.preferRegion !== undefined) checkPreference(l.preferRegion, byName.get(l.upstream), global, `${path}.prefer_region`, problems);
    l.routes?.forEach((r: RouteConfig, j) => {
      const at = `${path}.route[${j}]`;
      if (r.country.length > 0 && !global.geoip) problems.push(`${at}.country: needs [global] geoip, the MaxMind database client countries are looked up in`);
      if (r.preferRegion !== null) checkPreference(r.preferRegion, byName.get(r.upstream), global, `${at}.prefer_region`, problems);
    });
  });
  upstreams.forEach((u, i) => {
    if (u?.sendProxy && u.tls) {
      problems.push(`upstream[${i}].send_proxy: not supported together with tls yet (the header would have to go before the TLS handshake); terminate TLS on the servers' side of a plain hop, or drop one of them`);
    }
  });
}

/** A preference must be able to prefer something: servers with that region, and a way to know the client's. */
function checkPreference(p: RegionPreference, upstream: UpstreamConfig | undefined, global: GlobalFacts, path: string, problems: string[]): void {
  if (p === true) {
    if (!global.geoip) problems.push(`${path}: true needs [global] geoip, to know the client's country`);
    if (Object.keys(global.regions).length === 0) problems.push(`${path}: true needs [global.regions], to know which region a country is in`);
  }
  if (!upstream) return; // an unknown upstream has its own problem
  const regions = new Set(upstream.servers.flatMap((s) => (s.region ? [s.region] : [])));
  if (regions.size === 0) {
    problems.push(`${path}: no server of upstream ${quote(upstream.name)} has a region (give servers region = "...")`);
  } else if (p !== true && !regions.has(p)) {
    problems.push(`${path}: no server of upstream ${quote(upstream.name)} is in region ${quote(p)} (its regions: ${[...regions].map(quote).join(", ")})`);
  }
}
