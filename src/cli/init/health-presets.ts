// Health-check presets of `aegis init`, written only in the form the config schema accepts at run time.
import type { Fields } from "../../config/fields.ts";
import { UPSTREAM } from "../../config/schema.ts";

export const HEALTH_CHOICES = ["none", "tcp", "redis", "postgresql", "mysql", "http", "custom"] as const;
export type HealthChoice = (typeof HEALTH_CHOICES)[number];

export interface HealthPreset {
  label: string;
  /** One line for the menu. */
  explanation: string;
  /** Keys of the upstream's health table, as written in the file. */
  keys: Record<string, string>;
  /** A comment above the keys in the written file. */
  comment: string;
  /** The name given to the listener and upstream when this preset is chosen. */
  serviceName: string;
}

export const HEALTH_PRESETS: Readonly<Record<Exclude<HealthChoice, "none" | "custom">, HealthPreset>> = {
  tcp: {
    label: "TCP connect",
    explanation: "a server is up when it accepts a connection",
    keys: {},
    comment: "A server is up while it accepts TCP connections.",
    serviceName: "app",
  },
  redis: {
    label: "Redis",
    explanation: "PING must get +PONG (AUTH and the primary/replica role next)",
    keys: { check: "redis" },
    comment: "Redis: PING must be answered +PONG (after AUTH with password_file); role = \"primary\" also reads INFO replication.",
    serviceName: "redis",
  },
  postgresql: {
    label: "PostgreSQL",
    explanation: "a StartupMessage must get an authentication request or an error",
    keys: { check: "postgres" },
    comment: "PostgreSQL: a StartupMessage (user aegis) must be answered R or E; the server may log each check.\n# Behind Patroni, check = \"http\" with path = \"/primary\" on Patroni's port finds the primary.",
    serviceName: "postgres",
  },
  mysql: {
    label: "MySQL / MariaDB",
    explanation: "the server's greeting must parse (protocol 10)",
    keys: { check: "mysql" },
    comment: "MySQL/MariaDB: the server speaks first; its greeting must parse, and an error packet fails with its message.",
    serviceName: "mysql",
  },
  http: {
    label: "HTTP",
    explanation: "GET / must get a 2xx status",
    keys: { check: "http", path: "/", status: "2xx" },
    comment: "HTTP: GET path must get one of status.",
    serviceName: "http",
  },
};

/** The keys of the upstream's `health` table in this build's schema, or null when there is none. */
export function healthFields(upstream: Fields = UPSTREAM): Fields | null {
  const field = upstream.health;
  return field?.type === "table" && field.items ? field.items : null;
}

/** The keys a health choice writes; custom checks bring their own send/expect. */
export function healthKeys(choice: HealthChoice, custom?: { send?: string; expect?: string }, redis?: RedisAnswer): Record<string, string> | null {
  if (choice === "none") return null;
  if (choice === "custom") {
    const keys: Record<string, string> = {};
    if (custom?.send) keys.send = custom.send;
    if (custom?.expect) keys.expect = custom.expect;
    return keys;
  }
  const keys = HEALTH_PRESETS[choice].keys;
  if (choice !== "redis" || !redis) return keys;
  return { ...keys, ...(redis.passwordFile ? { password_file: redis.passwordFile } : {}), ...(redis.role !== "any" ? { role: redis.role } : {}) };
}

/** The Redis follow-ups: AUTH from a password file, and which role takes the traffic. */
export interface RedisAnswer {
  passwordFile?: string;
  role: "any" | "primary" | "replica";
}

/** True when the schema has a health table with every key of `keys`: then they are written for real. */
export function schemaAccepts(keys: Record<string, string>, fields: Fields | null = healthFields()): boolean {
  return fields !== null && Object.keys(keys).every((k) => Object.hasOwn(fields, k));
}
