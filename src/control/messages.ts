// The messages between the main thread and a Worker: the whole control protocol in one place.
//
// Server snapshots carry a sequence number (`seq`), one counter for the process; a Worker answers
// each with `applied` (or, for a reload's commit, `committed`), and since a Worker handles messages
// in order, having applied N means having applied everything before it too.
import type { Address, Config } from "../config/types.ts";
import type { CounterSlots } from "../shared/layout.ts";
import type { ServerState } from "../health/server-state.ts";
import type { ListenerTalkers } from "../telemetry/top-talkers.ts";
import type { SessionRecord } from "../telemetry/session-record.ts";
import type { Fields } from "../telemetry/log.ts";

/**
 * Where a Worker's log lines go: stdout (the CLI), the main thread (a program's logger function,
 * when aegis runs as a library), or nowhere (a library's default).
 */
export type WorkerLog = "stdout" | "main" | "off";

/** The stick tables the main thread shares, by upstream name (only upstreams with `stick`). */
export type StickBuffers = Record<string, SharedArrayBuffer>;

export type ToWorker =
  /** `seq`: the snapshot sequence number that `snapshots` and `weights` are as of. */
  | { type: "start"; config: Config; slots: CounterSlots; worker: number; sab: SharedArrayBuffer; ports: (number | null)[] | null; snapshots: ServerState[][]; weights?: number[][]; seq: number; sticks?: StickBuffers; log?: WorkerLog; sessionEvents?: boolean }
  /**
   * Reload, first phase: bind the new listeners (ports given for listeners that keep or share a
   * socket) and build the new upstreams, without switching. Answered by `prepared` or `reload_failed`.
   */
  | { type: "reload_prepare"; id: number; config: Config; slots: CounterSlots; ports: (number | null)[]; sticks?: StickBuffers }
  /** Second phase: switch to what reload `id` prepared, with these snapshots. Answered by `committed`. */
  | { type: "reload_commit"; id: number; seq: number; snapshots: ServerState[][]; weights?: number[][] }
  /** Another Worker could not prepare (or shutdown began): close what reload `id` prepared. Answered by `aborted`. */
  | { type: "reload_abort"; id: number }
  /** Stop accepting; exit once every session has ended. A reload prepared and not committed is aborted. */
  | { type: "drain" }
  /** The grace period is over: end every session now and exit. */
  | { type: "close" }
  /** Which servers of an upstream take new connections now (health and admin state), and their weights
   *  (configured, or set through the admin API); without weights the current ones stay. Answered by `applied`. */
  | { type: "servers"; seq: number; upstream: number; states: ServerState[]; weights?: number[] }
  /** Post ended sessions (`sessions`) from now on, or stop: whether a program listens for them. */
  | { type: "session_events"; on: boolean }
  /** Tests only: the Worker obeys only when AEGIS_TEST_FAULTS=1 is in its environment (see faults.ts). */
  | { type: "fault"; fault: WorkerFault };

/** Crash (an uncaught exception), or stall: block the Worker's thread for `ms`, as a stuck Worker would. */
export type WorkerFault = { kind: "crash" } | { kind: "stall"; ms: number };

export type FromWorker =
  | { type: "listening"; worker: number; addresses: Address[] }
  | { type: "failed"; worker: number; error: string }
  | { type: "drained"; worker: number }
  | { type: "prepared"; worker: number; id: number; addresses: Address[] }
  | { type: "committed"; worker: number; id: number; seq: number }
  | { type: "aborted"; worker: number; id: number }
  | { type: "reload_failed"; worker: number; id: number; error: string }
  /** Every snapshot up to `seq` is in effect in this Worker. */
  | { type: "applied"; worker: number; seq: number }
  /** A connect to the server failed, or it reset a session: input to passive health checks. */
  | { type: "server_failure"; upstream: number; server: number }
  /** Every few seconds: this Worker's top talkers per listener. */
  | { type: "talkers"; worker: number; listeners: ListenerTalkers[] }
  /** Sessions that ended, batched (only while session_events is on). */
  | { type: "sessions"; worker: number; records: SessionRecord[] }
  /** Log records, for a Worker started with log = "main". */
  | { type: "log"; records: Fields[] };

export type ReloadAnswer = Extract<FromWorker, { type: "prepared" | "committed" | "aborted" | "reload_failed" }>;
