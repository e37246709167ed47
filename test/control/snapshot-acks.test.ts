// The wait "every live Worker applied every snapshot sent so far", without Workers.
import { expect, test } from "bun:test";
import { SnapshotAcks, type AckingSlot } from "../../src/control/snapshot-acks.ts";

const slot = (applied = 0): AckingSlot => ({ worker: {}, listening: true, applied });

test("resolves when the last live Worker applies the newest snapshot; an older one is not enough", async () => {
  const slots = [slot(), slot()];
  const acks = new SnapshotAcks(() => slots);
  expect(await acks.untilApplied(1000)).toEqual({ ok: true, seq: 0 });
  acks.next();
  const seq = acks.next();
  let settled = false;
  const waiting = acks.untilApplied(10_000).then((r) => ((settled = true), r));
  acks.applied(slots[0]!, seq);
  acks.applied(slots[1]!, seq - 1);
  await Promise.resolve();
  expect(settled).toBe(false);
  acks.applied(slots[1]!, seq);
  expect(await waiting).toEqual({ ok: true, seq });
  expect(acks.view()).toEqual({ sent: seq, applied: [seq, seq] });
});

test("a Worker that exits is not waited for; one that does not answer is named when the wait ends", async () => {
  const slots = [slot(), slot(), slot()];
  const acks = new SnapshotAcks(() => slots);
  const seq = acks.next();
  const waiting = acks.untilApplied(50);
  acks.applied(slots[0]!, seq);
  (slots[2] as { worker: object | null }).worker = null; // exited
  acks.changed();
  expect(await waiting).toEqual({ ok: false, seq, missing: [1] });
  expect(acks.view().applied).toEqual([seq, 0, null]);
});
