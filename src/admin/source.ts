// What the metrics listener's endpoints read and steer: the running config, counters, health, and reload.
import type { Config } from "../config/types.ts";
import type { ReloadResult } from "../control/supervisor.ts";
import type { HealthMonitor } from "../health/monitor.ts";
import type { CounterReader } from "../telemetry/counters.ts";
import type { Logger } from "../telemetry/log.ts";

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
  /** Re-read the config file and swap to it; absent where reload is not supported. */
  reload?(): Promise<ReloadResult>;
}
