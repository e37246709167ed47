// An assigner's Worker-wide facilities for tests without a plane: counter cells, the layout's server cells, a wheel and a clock.
import { Recycler } from "../../src/primitives/recycler.ts";
import { QueuePool } from "../../src/primitives/byte-queue.ts";
import { TimerWheel } from "../../src/primitives/timer-wheel.ts";
import { LISTENER_CELLS, SERVER_CELLS } from "../../src/shared/layout.ts";
import type { AssignerEnv } from "../../src/upstream/assigner.ts";

/** One listener's cells, then `servers` servers' cells (slots 0..n-1), on a wheel at time 0; `clock.now` is read as the plane's clock. */
export function assignerEnv(servers: number, clock: { now: number }, more: Partial<AssignerEnv> = {}) {
  const cells = new Float64Array(LISTENER_CELLS + servers * SERVER_CELLS + 64);
  const wheel = new TimerWheel(100, 0);
  const layout = {
    slots: { listeners: [0], servers: [Array.from({ length: servers }, (_, i) => i)], listenerCapacity: 1, serverCapacity: servers },
    serverBase: (_u: number, s: number) => LISTENER_CELLS + s * SERVER_CELLS,
    connectHistBase: () => LISTENER_CELLS + servers * SERVER_CELLS,
    serverSessionHistBase: () => LISTENER_CELLS + servers * SERVER_CELLS,
  };
  const recycler = new Recycler(1 << 20);
  const env: AssignerEnv = {
    recycler, queues: new QueuePool(recycler), wheel, cells, layout,
    get now() { return clock.now; },
    shortOfDescriptors: () => false,
    reportFailure: () => {},
    ...more,
  };
  return { env, cells, wheel };
}
