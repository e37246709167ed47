// The messages between the main thread and a Worker: the whole control protocol in one place.
import type { Address, Config } from "../config/types.ts";
import type { CounterSlots } from "../telemetry/counters.ts";
import type { ServerState } from "../health/server-state.ts";

export type ToWorker =
  | { type: "start"; config: Config; slots: CounterSlots; worker: number; sab: SharedArrayBuffer; ports: number[] | null; snapshots: ServerState[][]; weights?: number[][] }
  /** Swap to a new config; ports given for listeners that keep (or share) a socket. */
  | { type: "reload"; config: Config; slots: CounterSlots; ports: (number | null)[]; snapshots: ServerState[][]; weights?: number[][] }
  /** Stop accepting; exit once every session has ended. */
  | { type: "drain" }
  /** The grace period is over: end every session now and exit. */
  | { type: "close" }
  /** Which servers of an upstream take new connections now (health and admin state), and their weights
   *  (configured, or set through the admin API); without weights the current ones stay. */
  | { type: "servers"; upstream: number; states: ServerState[]; weights?: number[] };

export type FromWorker =
  | { type: "listening"; worker: number; addresses: Address[] }
  | { type: "failed"; worker: number; error: string }
  | { type: "drained"; worker: number }
  | { type: "reloaded"; worker: number; addresses: Address[] }
  | { type: "reload_failed"; worker: number; error: string }
  /** A connect to the server failed, or it reset a session: input to passive health checks. */
  | { type: "server_failure"; upstream: number; server: number };
