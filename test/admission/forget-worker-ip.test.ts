// A dead Worker's per-IP counts: each Worker's view of the shared region records what it holds, so
// forgetWorker gives back exactly that Worker's share of an address's count.
import { expect, test } from "bun:test";
import { IpTable } from "../../src/admission/ip-table.ts";
import { newIpWords, parseIp } from "../../src/net/ip.ts";
import { SharedAdmission } from "../../src/admission/shared-region.ts";
import { forgetWorker } from "../../src/shared/forget-worker.ts";
import { SharedMap } from "../../src/shared/layout.ts";
import { TokenBucket } from "../../src/admission/token-bucket.ts";

const CAPACITY = 16;
const WORKERS = 3;

test("forgetWorker gives back a dead Worker's per-IP counts and only those", () => {
  const map = new SharedMap({ listenerCapacity: 1, serverCapacity: CAPACITY }, WORKERS);
  const sab = map.allocate();
  const at = map.admission.offset;
  const main = new SharedAdmission(sab, at, CAPACITY, WORKERS); // the main thread's view: records nothing
  const [w1, w2] = [1, 2].map((w) => new SharedAdmission(sab, at, CAPACITY, WORKERS, w));
  const ip = newIpWords();
  parseIp("10.0.0.7", ip);
  const held1 = [0, 1, 2].map(() => w1!.ipTable.acquire(ip, 0, 10, null, 0n));
  const held2 = [0, 1].map(() => w2!.ipTable.acquire(ip, 0, 10, null, 0n));
  const slot = held1[0]!;
  expect([...held1, ...held2].every((s) => s === slot)).toBe(true);
  expect(main.ipTable.countAt(slot)).toBe(5);
  // A count that acquire takes and gives back itself (a rate refusal) leaves no record.
  // (Listener tag 1: a bucket of one token an hour; the first takes it, the second is refused.)
  const bucket = new TokenBucket({ count: 1, periodMs: 3_600_000 });
  const rated = w1!.ipTable.acquire(ip, 1, 10, bucket, 0n);
  expect(rated).toBeGreaterThanOrEqual(0);
  expect(w1!.ipTable.acquire(ip, 1, 10, bucket, 0n)).toBeLessThan(0);
  expect(main.ipTable.countAt(rated)).toBe(1);
  // One of Worker 1's sessions ended normally before it died.
  w1!.ipTable.release(held1[2]!);
  forgetWorker(sab, map, 1);
  expect(main.ipTable.countAt(slot)).toBe(2); // Worker 2's two
  expect(main.ipTable.countAt(rated)).toBe(0);
  forgetWorker(sab, map, 1); // twice is harmless
  expect(main.ipTable.countAt(slot)).toBe(2);
  for (const s of held2) w2!.ipTable.release(s);
  expect(main.ipTable.countAt(slot)).toBe(0);
  expect(main.ipTable).toBeInstanceOf(IpTable);
});
