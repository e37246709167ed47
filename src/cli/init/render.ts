// Answers to a commented aegis.toml: every setting explained by its schema description, defaults shown commented out.
import type { Fields } from "../../config/fields.ts";
import { parseConfig } from "../../config/load.ts";
import { tomlValue } from "../../config/reference.ts";
import { SCHEMA, sectionHeader } from "../../config/schema.ts";
import type { Config } from "../../config/types.ts";
import { ALGORITHM_EXPLANATIONS } from "./algorithms.ts";
import type { InitAnswers } from "./answers.ts";
import { HEALTH_PRESETS, healthFields, healthKeys, schemaAccepts } from "./health-presets.ts";

export interface RenderOptions {
  version: string;
  /** YYYY-MM-DD, for the header. */
  date: string;
  /** The upstream's health keys in this build's schema (null: none); tests pass others. */
  health?: Fields | null;
  /** The config loader the result must pass; tests pass a stricter one. */
  load?: (text: string, source: string) => Config;
}

export interface Rendered {
  text: string;
  config: Config;
  /** False when the chosen health check was written commented out (the schema does not take it). */
  healthWritten: boolean;
}

/** A TOML basic string: JSON's escapes (\", \\, \n, \r, \t, \uXXXX) are all valid TOML. */
const str = (s: string) => JSON.stringify(s);

/** The name of the listener and the upstream: the protocol when a preset says it, else "app". */
export function serviceName(a: InitAnswers): string {
  return a.health === "none" || a.health === "custom" ? "app" : HEALTH_PRESETS[a.health].serviceName;
}

/**
 * Renders the file and checks it with the real config loader. A health check the schema does not
 * accept is written commented out with a note. Throws if the result does not load: a bug, or TLS
 * files that changed since they were checked (the loader reads them too).
 */
export function renderConfig(a: InitAnswers, o: RenderOptions): Rendered {
  const fields = o.health === undefined ? healthFields() : o.health;
  const keys = healthKeys(a.health, a.custom, a.redis);
  const real = keys !== null && schemaAccepts(keys, fields);
  const text = render(a, o, real ? fields : null);
  const load = o.load ?? parseConfig;
  // A TLS table the loader refuses (a key that stopped matching since the question) is the user's
  // to fix, so its error goes out; only a refused health check falls back to the commented form.
  try {
    return { text, config: load(text, a.output), healthWritten: real || keys === null };
  } catch (err) {
    if (!real) throw err;
    // The schema has the keys but refuses these values: keep the file loadable, the check visible.
    const fallback = render(a, o, null);
    return { text: fallback, config: load(fallback, a.output), healthWritten: false };
  }
}

/** The tls table's keys as TOML values: absolute paths, mode only when it is not the default. */
function tlsValues(t: NonNullable<InitAnswers["tls"]>): Record<string, string> {
  return { cert: str(t.cert), ...(t.key ? { key: str(t.key) } : {}), ...(t.postgres ? { mode: str("postgres") } : {}) };
}

/** proxy_protocol and its peers, when a balancer in front sends the header. */
function clientListenerValues(a: InitAnswers): Record<string, string> {
  const pp = a.client?.proxyProtocol;
  return pp ? { proxy_protocol: str(pp.accept), proxy_protocol_from: `[${pp.from.map(str).join(", ")}]` } : {};
}

/** send_proxy and stick, when asked for. */
function clientUpstreamValues(a: InitAnswers): Record<string, string> {
  const c = a.client;
  return {
    ...(c?.sendProxy ? { send_proxy: str(c.sendProxy) } : {}),
    ...(c?.stickTtl ? { stick: `{ on = "source", ttl = ${str(c.stickTtl)} }` } : {}),
  };
}

/** The listener's tls line, with what it changes for clients. */
function tlsBlock(a: InitAnswers): string[] {
  if (!a.tls) return [];
  const table = `tls = { ${Object.entries(tlsValues(a.tls)).map(([k, v]) => `${k} = ${v}`).join(", ")} }`;
  const lines = ["# TLS is terminated here: clients must now connect with TLS; the servers behind stay plaintext."];
  if (!a.tls.key) lines.push("# The certificate file holds the private key too.");
  if (a.tls.postgres) lines.push(`# mode = "postgres" answers psql's SSLRequest first, so \`psql "sslmode=require"\` connects.`);
  return [...lines, table];
}

function render(a: InitAnswers, o: RenderOptions, health: Fields | null): string {
  const name = serviceName(a);
  // What the answers set, by section; every other key appears commented out with its default.
  const values: Record<string, Record<string, string>> = {
    metrics: a.metrics === null ? { enabled: "false" } : { listen: str(a.metrics) },
    listener: { name: str(name), bind: str(a.listen), upstream: str(name), ...clientListenerValues(a) },
    upstream: {
      name: str(name),
      balance: `${str(a.balance)}${ALGORITHM_EXPLANATIONS[a.balance] ? `  # ${ALGORITHM_EXPLANATIONS[a.balance]}` : ""}`,
      servers: `[\n${a.servers.map((s) => `  ${str(s)},`).join("\n")}\n]`,
      ...clientUpstreamValues(a),
    },
  };
  // Printed on stdout (`-o -`), the file is named by where the user puts it.
  const file = a.output === "-" ? "FILE" : a.output;
  const out: string[] = [
    `# aegis.toml, written by \`aegis init\` (aegis ${o.version}, ${o.date}).`,
    `# Check it with \`aegis check --config ${file}\`; run it with \`aegis --config ${file}\`.`,
    `# A commented-out "# key = value" line shows that key's default: remove the "#" to change it.`,
    `# Every key is in the README's config reference; \`aegis schema\` prints a JSON Schema for editors.`,
  ];
  for (const section of SCHEMA) {
    const given = values[section.key];
    if (section.key === "global" || given) {
      out.push("", sectionHeader(section), ...keysOf(section.fields, given ?? {}));
      if (section.key === "listener") out.push(...tlsBlock(a));
      if (section.key === "upstream") out.push(...healthBlock(a, health));
    } else {
      // A section the wizard does not ask about (it may need values no default gives): named only.
      out.push("", `# ${sectionHeader(section)}: ${section.description} Not set up by aegis init; see the README's config reference.`);
    }
  }
  return `${out.join("\n")}\n`;
}

/**
 * Each key of a section in schema order, with its description as a comment: the given value, or
 * the default commented out. Nested tables are left to their own block; keys with neither a value
 * nor a plain default are left out.
 */
function keysOf(fields: Fields, values: Record<string, string>): string[] {
  const lines: string[] = [];
  for (const [key, field] of Object.entries(fields)) {
    const value = values[key];
    if (value !== undefined) lines.push(`# ${field.description}`, `${key} = ${value}`);
    else if (field.type !== "table" && field.default !== undefined) lines.push(`# ${field.description}`, `# ${key} = ${tomlValue(field.default)}`);
  }
  return lines;
}

function healthBlock(a: InitAnswers, health: Fields | null): string[] {
  const keys = healthKeys(a.health, a.custom, a.redis);
  if (keys === null || a.health === "none") return [];
  const comment = a.health === "custom" ? "A custom check: what is sent after connecting and what the reply must contain."
    : HEALTH_PRESETS[a.health].comment;
  const values = Object.fromEntries(Object.entries(keys).map(([k, v]) => [k, str(v)]));
  if (health) {
    return ["", `# Active health checks. ${comment}`, "[upstream.health]", ...keysOf(health, values)];
  }
  return [
    "",
    `# Active health checks. ${comment}`,
    "# This build's config does not accept these health-check keys yet, so the check is kept here",
    "# commented out; uncomment it with a version of aegis whose `aegis schema` lists them.",
    "# [upstream.health]",
    ...Object.entries(values).map(([k, v]) => `# ${k} = ${v}`),
  ];
}
