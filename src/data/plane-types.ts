// What a Session needs from its Worker's data plane (kept apart to avoid an import cycle).
import type { SocketHandler } from "bun";
import type { Logger } from "../telemetry/log.ts";
import type { Recycler } from "../primitives/recycler.ts";
import type { QueuePool } from "../primitives/byte-queue.ts";
import type { TimerWheel } from "../primitives/timer-wheel.ts";
import type { Session } from "./session.ts";
import type { ClientEvents } from "./stream-tls.ts";
import type { ClientGeo } from "./client-geo.ts";
import type { ListenerRuntime } from "./listener-runtime.ts";

export interface Plane {
  readonly recycler: Recycler;
  /** Most bytes queued per direction of one session. */
  /** Queue objects for the directions that have bytes waiting (an idle session holds none). */
  readonly queues: QueuePool;
  /** Coarse clock (ms), advanced by the Worker's one timer. */
  readonly now: number;
  readonly wheel: TimerWheel;
  readonly cells: Float64Array;
  readonly logger: Logger;
  /**
   * A connect failed: true when the cause is this process's own lack of file descriptors, which is
   * never the server's fault (logged, at most once every 10 s).
   */
  shortOfDescriptors(): boolean;
  /** Call `session.descriptorsBack()` once this process can open descriptors again. */
  waitForDescriptors(session: Session): void;
  /** The handlers of a client socket upgraded to TLS (postgres mode): the listener's, without accept. */
  readonly upgradedHandlers: SocketHandler<ClientEvents | null>;
  /** Client countries and regions; null when the config names no GeoIP database nor regions. */
  readonly geo: ClientGeo | null;
  /** A PROXY header said who the client is: admit that client (ACL, per-IP limits), then go on as after an accept. */
  admitProxied(session: Session, listener: ListenerRuntime, rest: Uint8Array): void;
  /** The session is over: release its admission slot, count it, log it. */
  finish(session: Session, durationMs: number): void;
}
