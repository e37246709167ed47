// A listener's route table from its config: [[listener.route]] entries in order, then its upstream as the default.
import type { ListenerConfig, RegionPreference } from "../config/types.ts";
import { DEFAULT_INSPECT, RouteTable, type Matcher, type Route } from "./table.ts";
import { alpnMatcher, sniMatcher } from "./tls-matchers.ts";
import { countryMatcher, sourceMatcher } from "./client-matchers.ts";

/** Where a route sends a connection: an upstream, and which of its servers' regions it prefers. */
export interface RouteTarget<T> {
  readonly upstream: T;
  readonly preferRegion: RegionPreference | null;
}

/**
 * A listener's routes with their upstream names resolved by `resolve` (which throws for an unknown
 * name). On a listener that terminates TLS the matchers read the finished handshake, not bytes.
 * Matchers that cost nothing (source, country) come first, so a route that cannot match does not
 * wait for a ClientHello.
 */
export function routesFor<T>(listener: ListenerConfig, resolve: (upstream: string) => T): RouteTable<RouteTarget<T>> {
  const readsBytes = !listener.tls;
  const routes = (listener.routes ?? []).map((r): Route<RouteTarget<T>> => {
    const matchers: Matcher[] = [];
    if (r.source.length > 0) matchers.push(sourceMatcher(r.source));
    if (r.country.length > 0) matchers.push(countryMatcher(r.country));
    if (r.sni.length > 0) matchers.push(sniMatcher(r.sni, readsBytes));
    if (r.alpn.length > 0) matchers.push(alpnMatcher(r.alpn, readsBytes));
    return { matchers, target: { upstream: resolve(r.upstream), preferRegion: r.preferRegion } };
  });
  const inspect = listener.inspect ?? DEFAULT_INSPECT;
  return new RouteTable(routes, { upstream: resolve(listener.upstream), preferRegion: listener.preferRegion ?? null }, inspect);
}
