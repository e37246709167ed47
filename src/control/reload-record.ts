// What the operator's reloads came to: counts by result, the last success and the last failure, for
// /metrics (aegis_reloads_total, aegis_config_last_reload_success_timestamp_seconds) and the status page.

export interface ReloadFailure {
  /** Unix time in milliseconds. */
  readonly at: number;
  readonly error: string;
}

export class ReloadRecord {
  ok = 0;
  failed = 0;
  /** Unix ms of the last reload taken, or of the start when none has been (as Prometheus's own metric). */
  lastSuccessAt: number;
  /** The last reload refused, if it came after the last one taken (a later success clears it). */
  lastFailure: ReloadFailure | null = null;

  constructor(startedAt: number = Date.now()) {
    this.lastSuccessAt = startedAt;
  }

  succeeded(at: number = Date.now()): void {
    this.ok++;
    this.lastSuccessAt = at;
    this.lastFailure = null;
  }

  refused(error: string, at: number = Date.now()): void {
    this.failed++;
    this.lastFailure = { at, error };
  }
}
