// A PickContext seen through a wrapper: fewer servers allowed, or server numbers renamed.
import { NO_EXCLUSIONS, type PickContext } from "./balancer.ts";

/**
 * Reused for every pick of one wrapper (picks are synchronous and never nested), so a wrapper
 * allocates nothing when it has nothing to add. The client address is read only if the inner
 * algorithm asks for it: on a live session that read is a system call.
 */
export class SubContext implements PickContext {
  parent!: PickContext;
  exclude: readonly number[] = NO_EXCLUSIONS;

  /** `toParent[i]` is the parent's number for server `i`; null when the numbering is the same. */
  constructor(readonly toParent: readonly number[] | null = null) {}

  get clientAddress(): string {
    return this.parent.clientAddress;
  }

  get now(): number {
    return this.parent.now;
  }

  busy(server: number): boolean {
    return this.parent.busy(this.toParent ? this.toParent[server]! : server);
  }

  /** Point at `parent` for one pick, with `exclude` in this context's numbering. */
  reset(parent: PickContext, exclude: readonly number[]): this {
    this.parent = parent;
    this.exclude = exclude;
    return this;
  }
}
