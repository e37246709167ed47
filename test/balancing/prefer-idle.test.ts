// The soft-limit wrapper: busy servers last, and the client address read only when an algorithm needs it.
import { expect, test } from "bun:test";
import type { PickContext } from "../../src/balancing/balancer.ts";
import { BALANCERS } from "../../src/balancing/registry.ts";
import { withBackups } from "../../src/upstream/tiers.ts";
import { seeded, views } from "./contract.ts";

/** A context that counts reads of the client address (on a live session each read is a system call). */
function counting(busy: (i: number) => boolean): { ctx: PickContext; reads: () => number } {
  let reads = 0;
  const ctx: PickContext = {
    get clientAddress() {
      reads++;
      return "10.9.8.7";
    },
    exclude: [],
    now: 0,
    busy,
  };
  return { ctx, reads: () => reads };
}

test("algorithms that do not hash never read the client address, even through the wrappers", () => {
  const servers = [false, true, false].map((backup) => ({ weight: 1, available: true, backup }));
  for (const name of ["round_robin", "least_conn", "random", "p2c", "p2c_ewma", "first"] as const) {
    const { ctx, reads } = counting((i) => i === 0);
    const balancer = withBackups(BALANCERS[name])(servers, seeded(1));
    for (let i = 0; i < 10; i++) expect(balancer.pick(ctx)).toBe(2);
    expect(reads()).toBe(0);
  }
});

test("hashing algorithms read it once per pick, and a busy home server sends the client on", () => {
  for (const name of ["source", "consistent"] as const) {
    const balancer = BALANCERS[name](views(1, 1, 1), seeded(1));
    const idle = counting(() => false);
    const home = balancer.pick(idle.ctx);
    expect(idle.reads()).toBe(1);
    const busy = counting((i) => i === home);
    expect(balancer.pick(busy.ctx)).not.toBe(home);
    expect(balancer.pick(idle.ctx)).toBe(home);
  }
});
