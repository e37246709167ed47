// A set of CIDR blocks to test addresses against: ACLs, proxy_protocol_from and source routes share it.
import { parseCidr, type Cidr } from "./cidr.ts";
import { isV4, maskedWord, wordMask, type IpWords } from "./ip.ts";

/**
 * A set of CIDR blocks with a lookup cost that does not grow with the number of IPv4 blocks:
 * IPv4 blocks are grouped by prefix length into hash sets (at most 33 set lookups), and the
 * few IPv6 blocks are compared word by word.
 */
export class CidrSet {
  /** Distinct IPv4 prefix lengths (0..32), and for each the set of its masked networks. */
  readonly #v4Lengths: number[] = [];
  readonly #v4Nets: Set<number>[] = [];
  readonly #v6: Cidr[] = [];

  constructor(blocks: readonly Cidr[]) {
    for (const block of blocks) {
      const mapped = block.bits >= 96 && block.words[0] === 0 && block.words[1] === 0 && block.words[2] === 0xffff;
      if (!mapped) {
        this.#v6.push(block); // also covers IPv4 clients when it spans ::ffff:0:0/96 (e.g. "::/0")
        continue;
      }
      const length = block.bits - 96;
      let at = this.#v4Lengths.indexOf(length);
      if (at < 0) {
        at = this.#v4Lengths.push(length) - 1;
        this.#v4Nets.push(new Set());
      }
      this.#v4Nets[at]!.add(block.words[3]);
    }
  }

  get size(): number {
    return this.#v4Nets.reduce((n, s) => n + s.size, 0) + this.#v6.length;
  }

  has(w: IpWords): boolean {
    if (isV4(w)) {
      const a = w[3]!;
      for (let i = 0; i < this.#v4Lengths.length; i++) {
        if (this.#v4Nets[i]!.has((a & wordMask(this.#v4Lengths[i]!)) >>> 0)) return true;
      }
    }
    for (const block of this.#v6) {
      if (maskedWord(w, 0, block.bits) === block.words[0] && maskedWord(w, 1, block.bits) === block.words[1]
        && maskedWord(w, 2, block.bits) === block.words[2] && maskedWord(w, 3, block.bits) === block.words[3]) return true;
    }
    return false;
  }
}

/** A set of the config's canonical CIDR texts (already checked: a bad one throws). */
export function cidrSetOf(texts: readonly string[]): CidrSet {
  return new CidrSet(texts.map((text) => {
    const cidr = parseCidr(text);
    if (typeof cidr === "string") throw new Error(`CIDR "${text}" ${cidr}`);
    return cidr;
  }));
}
