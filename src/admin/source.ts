// What the metrics listener's endpoints read and steer: the running config, counters, health, and reload.
import type { Config } from "../config/types.ts";
import type { ReloadResult } from "../control/supervisor.ts";
import type { HealthMonitor } from "../health/monitor.ts";
import type { CounterReader } from "../telemetry/counters.ts";
import type { Logger } from "../telemetry/log.ts";
import type { StickTable } from "../stick/table.ts";
import type { ClientRow } from "../control/talkers-board.ts";
import type { SourceView } from "../control/discovery.ts";
import type { ServerSets } from "../control/server-sets.ts";
import type { ReloadRecord } from "../control/reload-record.ts";

/**
 * The Supervisor, seen from the metrics listener. Every field is read per request: a reload
 * replaces the config, the counter reader and the health monitor.
 */
export interface StatusSource {
  readonly config: Config;
  readonly reader: CounterReader;
  readonly health: HealthMonitor;
  readonly logger: Logger;
  workersRunning(): number;
  /** The shared stick tables, by upstream name. */
  readonly sticks: { table(upstream: string): StickTable | null };
  /** Top talkers, all Workers together. */
  readonly talkers: { top(listener: string, n: number, by?: "bytes" | "sessions"): ClientRow[] };
  /** The discovery sources running, when any (set once they start). */
  readonly discovery?: { views(): SourceView[] } | null;
  /** What discovery found and the admin API changed (the runtime servers endpoints edit it). */
  readonly servers?: ServerSets;
  /** Swap the servers in `servers` into every Worker; absent where runtime servers are not supported. */
  refresh?(why: string): Promise<ReloadResult>;
  /** What the operator's reloads came to (the status page's banner for a refused one); absent where reload is not supported. */
  readonly reloads?: ReloadRecord;
  /** Re-read the config file and swap to it; absent where reload is not supported. */
  reload?(): Promise<ReloadResult>;
}
