// A listener's access list: `deny` wins over `allow`; an empty `allow` lets in everyone not denied.
import { cidrSetOf, type CidrSet } from "../net/cidr-set.ts";
import type { IpWords } from "../net/ip.ts";

export class AccessList {
  readonly #allow: CidrSet | null;
  readonly #deny: CidrSet | null;

  /** `allow` and `deny` as validated by the config (canonical CIDR text). */
  constructor(allow: readonly string[], deny: readonly string[]) {
    this.#allow = allow.length > 0 ? cidrSetOf(allow) : null;
    this.#deny = deny.length > 0 ? cidrSetOf(deny) : null;
  }

  /** Contract: false when `w` is in `deny`, or `allow` is non-empty and `w` is not in it. */
  admits(w: IpWords): boolean {
    if (this.#deny?.has(w)) return false;
    return this.#allow === null || this.#allow.has(w);
  }
}
