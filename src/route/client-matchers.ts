// Route matchers on who the client is: its address (HAProxy's src, nginx's geo/map on $remote_addr) and its country.
import { cidrSetOf } from "../net/cidr-set.ts";
import { Verdict, type Matcher, type RouteInput } from "./table.ts";

/** The client's address (after any PROXY header) is in one of `blocks` (canonical CIDR text). */
export function sourceMatcher(blocks: readonly string[]): Matcher {
  const set = cidrSetOf(blocks);
  return {
    readsBytes: false,
    test(input: RouteInput) {
      const ip = input.clientIp();
      return ip !== null && set.has(ip) ? Verdict.match : Verdict.noMatch;
    },
  };
}

/** The client's country (ISO code from the GeoIP database) is one of `codes`; an unknown country matches none. */
export function countryMatcher(codes: readonly string[]): Matcher {
  const wanted = new Set(codes);
  return {
    readsBytes: false,
    test(input: RouteInput) {
      const country = input.country();
      return country !== null && wanted.has(country) ? Verdict.match : Verdict.noMatch;
    },
  };
}
