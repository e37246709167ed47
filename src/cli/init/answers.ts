// What `aegis init` asks for, whether from the wizard or from flags; render.ts turns it into aegis.toml.
import type { HealthChoice, RedisAnswer } from "./health-presets.ts";
import type { TlsAnswer } from "./tls.ts";
import type { ClientAnswer } from "./client-wizard.ts";

export interface InitAnswers {
  /** host:port to accept client connections on, as the user wrote it. */
  listen: string;
  /** TLS termination on the listener, with absolute paths; absent: plaintext. */
  tls?: TlsAnswer;
  /** host:port of each upstream server, in order. */
  servers: string[];
  balance: string;
  health: HealthChoice;
  /** The Redis check's password file and role (health = "redis"). */
  redis?: RedisAnswer;
  /** send/expect of a custom check (health = "custom"). */
  custom?: { send?: string; expect?: string };
  /** PROXY protocol in and out, sticky clients; absent: none of them. */
  client?: ClientAnswer;
  /** host:port of the metrics endpoint, or null to turn it off. */
  metrics: string | null;
  /** Install (and start) the systemd unit after writing the file. */
  service: boolean;
  /** Where the file goes; "-" is stdout. */
  output: string;
  /** The user agreed to replace the file at output (asked when the path was given), or --force. */
  overwrite?: boolean;
}

export const DEFAULT_LISTEN = "0.0.0.0:6380";
export const DEFAULT_METRICS = "127.0.0.1:8082";
export const DEFAULT_OUTPUT = "aegis.toml";
/** Where the service unit expects the config (scripts/install.sh creates /etc/aegis). */
export const SERVICE_OUTPUT = "/etc/aegis/aegis.toml";
/** A bound on the server loop of the wizard. */
export const MAX_SERVERS = 64;
/** `--output -` and the answer "-": the file goes to stdout. */
export const STDOUT = "-";

/**
 * A port typed alone ("6380") as host:port on `host`: the listener takes every IPv4 address,
 * the metrics endpoint stays on loopback. Anything else is returned as typed.
 */
export function withHost(value: string, host: "0.0.0.0" | "127.0.0.1"): string {
  return /^\d{1,5}$/.test(value.trim()) ? `${host}:${value.trim()}` : value;
}
