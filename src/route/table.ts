// The route stage between a listener and its upstreams: an ordered list of routes, the first match wins, else the default.
//
// A listener's `upstream` is its default route; routes before it are matchers (SNI, ALPN, source
// CIDR, country...) that each say match, no match, or "not yet": a matcher that reads the client's
// first bytes says "not yet" until enough have arrived. The session collects those bytes (it holds
// them anyway while it connects) and asks again at each chunk, so nothing on the accept path waits.
import type { HelloResult } from "../tls/client-hello.ts";
import type { IpWords } from "../net/ip.ts";

/** How long and how much a listener waits for the first bytes its routes read (nginx's preread, HAProxy's inspect-delay). */
export interface Inspect {
  readonly timeoutMs: number;
  readonly maxBytes: number;
}
export const DEFAULT_INSPECT: Inspect = { timeoutMs: 5_000, maxBytes: 16_384 };

/** What a route may read of a new connection. */
export interface RouteInput {
  /** The client's address (on a live socket each read is a system call: read it only when needed). */
  readonly clientAddress: string;
  /** The client's address parsed (once per session), or null when it does not parse. */
  clientIp(): IpWords | null;
  /** The client's country from the GeoIP database (ISO code, upper case), or null: unknown, or no database. */
  country(): string | null;
  /** The client's first bytes so far, for matchers that read them. */
  firstBytes(): Uint8Array;
  /**
   * What the client's TLS hello says: parsed from its first bytes (passed through untouched), or,
   * on a listener that terminates TLS, what the finished handshake negotiated.
   */
  clientHello(): HelloResult;
}

/** `refuse`: the connection cannot be routed at all (not TLS where routes need a ClientHello). */
export const Verdict = { noMatch: 0, match: 1, notYet: 2, refuse: 3 } as const;
export type Verdict = (typeof Verdict)[keyof typeof Verdict];

export interface Matcher {
  /** True when it reads the client's first bytes: the listener then waits for them before routing. */
  readonly readsBytes: boolean;
  /** `final`: no more bytes will come (timeout, max_bytes, the client's FIN): decide, never notYet. */
  test(input: RouteInput, final: boolean): Verdict;
}

/** What `choose` returns for a connection no route can take, nor the default (counted as tls_inspect). */
export const REFUSED: unique symbol = Symbol("refused");
export type Refused = typeof REFUSED;

/** A route is taken when every one of its matchers matches. */
export interface Route<T> {
  readonly matchers: readonly Matcher[];
  readonly target: T;
}

export class RouteTable<T> {
  readonly readsBytes: boolean;

  constructor(readonly routes: readonly Route<T>[], readonly fallback: T, readonly inspect: Inspect = DEFAULT_INSPECT) {
    this.readsBytes = routes.some((r) => r.matchers.some((m) => m.readsBytes));
  }

  /**
   * The first route whose matchers all match, else the default. Null while an earlier route cannot
   * decide yet: a later route matching does not overtake it (the first match wins). Never null when
   * `final`. REFUSED when a matcher says the connection cannot be routed at all.
   */
  choose(input: RouteInput, final: boolean): T | null | Refused {
    for (const route of this.routes) {
      let verdict: Verdict = Verdict.match;
      for (const matcher of route.matchers) {
        const v = matcher.test(input, final);
        if (v === Verdict.refuse) return REFUSED;
        if (v === Verdict.noMatch) {
          verdict = v;
          break;
        }
        if (v === Verdict.notYet) verdict = final ? Verdict.noMatch : v;
      }
      if (verdict === Verdict.match) return route.target;
      if (verdict === Verdict.notYet) return null;
    }
    return this.fallback;
  }
}
