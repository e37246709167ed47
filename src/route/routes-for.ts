// A listener's route table from its config: [[listener.route]] entries in order, then its upstream as the default.
import type { ListenerConfig } from "../config/types.ts";
import { DEFAULT_INSPECT, RouteTable, type Route } from "./table.ts";
import { alpnMatcher, sniMatcher } from "./tls-matchers.ts";

/**
 * A listener's routes with their upstream names resolved by `resolve` (which throws for an unknown
 * name). On a listener that terminates TLS the matchers read the finished handshake, not bytes.
 */
export function routesFor<T>(listener: ListenerConfig, resolve: (upstream: string) => T): RouteTable<T> {
  const readsBytes = !listener.tls;
  const routes = (listener.routes ?? []).map((r): Route<T> => ({
    matchers: [
      ...(r.sni.length > 0 ? [sniMatcher(r.sni, readsBytes)] : []),
      ...(r.alpn.length > 0 ? [alpnMatcher(r.alpn, readsBytes)] : []),
    ],
    target: resolve(r.upstream),
  }));
  const inspect = listener.inspect ?? DEFAULT_INSPECT;
  return new RouteTable<T>(routes, resolve(listener.upstream), inspect);
}
