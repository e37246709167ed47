// SnapshotAcks beyond the two main waits (snapshot-acks.test.ts): what acks may not do, and who is waited for.
import { expect, test } from "bun:test";
import { SnapshotAcks, type AckingSlot } from "../../src/control/snapshot-acks.ts";

type Slot = { worker: object | null; listening: boolean; applied: number };
const slot = (applied = 0, listening = true): Slot => ({ worker: {}, listening, applied });

test("an acknowledgement of an older snapshot never lowers what a Worker applied", () => {
  const s = slot();
  const acks = new SnapshotAcks(() => [s]);
  acks.next();
  acks.next();
  acks.applied(s, 2);
  acks.applied(s, 1); // a late, reordered answer
  expect(s.applied).toBe(2);
});

test("view: a Worker not listening yet or gone shows null, not a stale number", () => {
  const slots: Slot[] = [slot(0), slot(0, false), { worker: null, listening: true, applied: 5 }];
  const acks = new SnapshotAcks(() => slots as AckingSlot[]);
  expect(acks.view()).toEqual({ sent: 0, applied: [0, null, null] });
});

test("a Worker started while a wait runs is waited for too; the wait ends once it catches up", async () => {
  const slots: Slot[] = [slot()];
  const acks = new SnapshotAcks(() => slots as AckingSlot[]);
  const seq = acks.next();
  const waiting = acks.untilApplied(10_000);
  slots.push(slot(-1)); // a replacement Worker, not started yet
  acks.changed();
  acks.applied(slots[0]!, seq);
  let settled = false;
  void waiting.then(() => (settled = true));
  await Promise.resolve();
  expect(settled).toBe(false);
  acks.applied(slots[1]!, seq);
  expect(await waiting).toEqual({ ok: true, seq });
});

test("every wait ends: several at once, all resolved by the one acknowledgement that completes them", async () => {
  const slots: Slot[] = [slot(), slot()];
  const acks = new SnapshotAcks(() => slots as AckingSlot[]);
  const first = acks.next();
  const early = acks.untilApplied(10_000);
  const second = acks.next();
  const late = acks.untilApplied(10_000);
  for (const s of slots) acks.applied(s, second);
  expect(await Promise.all([early, late])).toEqual([{ ok: true, seq: first }, { ok: true, seq: second }]);
});

test("a wait that timed out no longer reacts to later acknowledgements", async () => {
  const slots: Slot[] = [slot()];
  const acks = new SnapshotAcks(() => slots as AckingSlot[]);
  const seq = acks.next();
  expect(await acks.untilApplied(1)).toEqual({ ok: false, seq, missing: [0] });
  acks.applied(slots[0]!, seq); // must not throw or resolve anything twice
  expect(await acks.untilApplied(1000)).toEqual({ ok: true, seq });
});
