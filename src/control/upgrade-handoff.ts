// The new process's side of an in-place upgrade: which ports it takes over (from the environment the
// old process set) and the one message it sends back over the IPC channel: ready, or why it failed.

/** Set by the old process on the new one: its pid, and the ports it serves (JSON UpgradePorts). */
export const UPGRADE_FROM_ENV = "AEGIS_UPGRADE_FROM";
export const UPGRADE_PORTS_ENV = "AEGIS_UPGRADE_PORTS";

/** The ports the old process really serves (a port configured as 0 was chosen at its start). */
export interface UpgradePorts {
  /** Port by listener name. */
  listeners: Record<string, number>;
  /** The metrics listener's port, or null when it has none. */
  metrics: number | null;
}

/** What the new process tells the old one, once. */
export type HandoffMessage = { type: "ready"; pid: number } | { type: "failed"; error: string };

export interface Handoff {
  from: number;
  ports: UpgradePorts;
}

let taken: Handoff | null | undefined;
/** How long writing the one message may take before this process goes on without it. */
const SEND_BOUND_MS = 2000;

/**
 * The upgrade this process was started for, or null. Read once and removed from the environment,
 * so nothing this process starts later (its own upgrade's child included) inherits stale values.
 */
export function upgradeHandoff(env: Record<string, string | undefined> = process.env): Handoff | null {
  if (taken !== undefined) return taken;
  const from = env[UPGRADE_FROM_ENV];
  const ports = env[UPGRADE_PORTS_ENV];
  delete env[UPGRADE_FROM_ENV];
  delete env[UPGRADE_PORTS_ENV];
  taken = null;
  if (!from || !ports || typeof process.send !== "function") return taken;
  try {
    const parsed = JSON.parse(ports) as UpgradePorts;
    if (!Number.isInteger(Number(from)) || typeof parsed.listeners !== "object" || parsed.listeners === null) return taken;
    taken = { from: Number(from), ports: { listeners: parsed.listeners, metrics: parsed.metrics ?? null } };
  } catch {
    // Not from an aegis that knows this format: start as a fresh process would.
  }
  return taken;
}

/**
 * Tells the old process the outcome and closes the channel, so this process outlives the old one
 * without a dangling handle. Resolves once the message is written (an exit right after a plain
 * send could lose it), or at once when this process was not started by an upgrade. Bounded: if the
 * old process dies before reading, the write's callback may never come, and start-up must go on.
 */
export function reportHandoff(message: HandoffMessage): Promise<void> {
  if (!upgradeHandoff() || typeof process.send !== "function") return Promise.resolve();
  return new Promise((resolve) => {
    let settled = false;
    const bound = setTimeout(() => done(), SEND_BOUND_MS);
    const done = () => {
      if (settled) return;
      settled = true;
      clearTimeout(bound);
      try {
        process.disconnect?.();
      } catch {
        // already closed: the old process is gone
      }
      resolve();
    };
    try {
      process.send!(message, undefined, undefined, done);
    } catch {
      done(); // the old process is gone: nobody waits for the answer
    }
  });
}
