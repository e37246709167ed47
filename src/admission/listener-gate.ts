// A listener's admission at accept: its ACL, then the per-client-address connection cap and rate.
import type { ListenerAdmissionConfig } from "../config/types.ts";
import { AccessList } from "./acl.ts";
import { newIpWords, parseIp } from "../net/ip.ts";
import { IP_UNTRACKED, type IpTable } from "./ip-table.ts";
import { REFUSED_ACL } from "./refusals.ts";
import { sharedClockMicros, TokenBucket } from "./token-bucket.ts";

export class ListenerGate {
  readonly #acl: AccessList | null;
  readonly #max: number;
  readonly #bucket: TokenBucket | null;
  readonly #words = newIpWords();

  /** `tag` tells this listener's entries in the shared per-IP table from other listeners'. */
  constructor(config: ListenerAdmissionConfig, readonly table: IpTable, readonly tag: number) {
    this.#acl = config.allow.length > 0 || config.deny.length > 0 ? new AccessList(config.allow, config.deny) : null;
    this.#max = config.maxConnectionsPerIp;
    this.#bucket = config.connectionRatePerIp ? new TokenBucket(config.connectionRatePerIp) : null;
  }

  /**
   * Decide on a new client at `address` before any upstream work. Returns a per-IP table slot that
   * the session holds until it ends (release it with IpTable.release), IP_UNTRACKED, or a refusal
   * code (below IP_UNTRACKED; see refusals.ts). An address that does not parse (never seen from a
   * TCP peer) is refused by an ACL and not counted otherwise.
   */
  admit(address: string): number {
    const known = parseIp(address, this.#words);
    if (this.#acl && !(known && this.#acl.admits(this.#words))) return REFUSED_ACL;
    if (!known || (this.#max === 0 && this.#bucket === null)) return IP_UNTRACKED;
    return this.table.acquire(this.#words, this.tag, this.#max, this.#bucket, sharedClockMicros());
  }
}
