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
    explanation: 'send "PING", expect "+PONG"',
    keys: { send: "PING\r\n", expect: "+PONG" },
    comment: "Redis: PING must be answered with +PONG.",
    serviceName: "redis",
  },
  postgresql: {
    label: "PostgreSQL",
    explanation: "send an SSLRequest, expect the one-byte S or N answer",
    // SSLRequest: length 8, code 80877103. The server answers "S" or "N" before any login.
    keys: { send_hex: "0000000804d2162f", expect_regex: "^[SN]" },
    comment: "PostgreSQL: an SSLRequest must be answered S or N (the server may log \"incomplete startup packet\" per check;\n# delete send_hex and expect_regex for a quiet TCP connect check).",
    serviceName: "postgres",
  },
  mysql: {
    label: "MySQL / MariaDB",
    explanation: "expect the server's greeting (protocol 10 and a version)",
    // The greeting: 3 bytes of length, a sequence number, protocol version 10 (\n), then the version text.
    keys: { expect_regex: "^[\\s\\S]{4}\\n[0-9]" },
    comment: "MySQL/MariaDB: the server speaks first; its greeting must be protocol 10 followed by a version.",
    serviceName: "mysql",
  },
  http: {
    label: "HTTP",
    explanation: 'send "HEAD / HTTP/1.0", expect an HTTP/1.x status line',
    keys: { send: "HEAD / HTTP/1.0\r\n\r\n", expect: "HTTP/1." },
    comment: "HTTP: HEAD / must get any HTTP/1.x response.",
    serviceName: "http",
  },
};

/** The keys of the upstream's `health` table in this build's schema, or null when there is none. */
export function healthFields(upstream: Fields = UPSTREAM): Fields | null {
  const field = upstream.health;
  return field?.type === "table" && field.items ? field.items : null;
}

/** The keys a health choice writes; custom checks bring their own send/expect. */
export function healthKeys(choice: HealthChoice, custom?: { send?: string; expect?: string }): Record<string, string> | null {
  if (choice === "none") return null;
  if (choice === "custom") {
    const keys: Record<string, string> = {};
    if (custom?.send) keys.send = custom.send;
    if (custom?.expect) keys.expect = custom.expect;
    return keys;
  }
  return HEALTH_PRESETS[choice].keys;
}

/** True when the schema has a health table with every key of `keys`: then they are written for real. */
export function schemaAccepts(keys: Record<string, string>, fields: Fields | null = healthFields()): boolean {
  return fields !== null && Object.keys(keys).every((k) => Object.hasOwn(fields, k));
}
