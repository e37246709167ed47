// The messages between the main thread and a Worker: the whole control protocol in one place.
import type { Address, Config } from "../config/types.ts";

export type ToWorker =
  | { type: "start"; config: Config; worker: number; sab: SharedArrayBuffer; ports: number[] | null }
  /** Stop accepting; exit once every session has ended. */
  | { type: "drain" }
  /** The grace period is over: end every session now and exit. */
  | { type: "close" };

export type FromWorker =
  | { type: "listening"; worker: number; addresses: Address[] }
  | { type: "failed"; worker: number; error: string }
  | { type: "drained"; worker: number };
