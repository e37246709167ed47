// Route matchers on the client's TLS hello: its SNI (HAProxy's req.ssl_sni, nginx's $ssl_preread_server_name) and its ALPN.
import { compileNames } from "../tls/names.ts";
import type { HelloResult } from "../tls/client-hello.ts";
import { Verdict, type Matcher, type RouteInput } from "./table.ts";

/**
 * Shared by both matchers: wait while the hello is incomplete, refuse what is not a ClientHello (or
 * never completes), then let `pick` decide on the parsed hello.
 */
function helloMatcher(readsBytes: boolean, pick: (hello: Extract<HelloResult, { status: "ok" }>) => boolean): Matcher {
  return {
    readsBytes,
    test(input: RouteInput, final: boolean) {
      const hello = input.clientHello();
      if (hello.status === "ok") return pick(hello) ? Verdict.match : Verdict.noMatch;
      if (hello.status === "invalid" || final) return Verdict.refuse;
      return Verdict.notYet;
    },
  };
}

/** The client asks for one of `patterns` (exact names or one-label wildcards); no SNI matches nothing. */
export function sniMatcher(patterns: readonly string[], readsBytes: boolean): Matcher {
  const matches = compileNames(patterns);
  return helloMatcher(readsBytes, (hello) => matches(hello.serverName));
}

/** The client offers one of `protocols` (on a terminated listener: negotiated one of them). */
export function alpnMatcher(protocols: readonly string[], readsBytes: boolean): Matcher {
  const wanted = new Set(protocols);
  return helloMatcher(readsBytes, (hello) => hello.alpn.some((p: string) => wanted.has(p)));
}
