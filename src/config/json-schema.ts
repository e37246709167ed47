// The config schema as JSON Schema (draft 2020-12), generated from SCHEMA for editors and `aegis schema`.
import { formatDuration } from "./duration.ts";
import { SIZE_PATTERN } from "./size.ts";
import { NAME_PATTERN, type Field, type Fields } from "./fields.ts";
import { SCHEMA, type SectionSchema } from "./schema.ts";

export type JsonSchema = { [keyword: string]: unknown };

export const JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema";

const NUMBER = "(?:\\d+(?:\\.\\d+)?|\\.\\d+)";
/**
 * What parseDuration accepts, as a pattern: "0" (any spelling of zero) or number-unit parts, each
 * unit at most once and largest first. The minimum of each key is in its description, since a
 * pattern cannot compare durations.
 */
export const DURATION_PATTERN = `^(?:0+(?:\\.0+)?|(?=.)${["d", "h", "m", "s", "ms"].map((u) => `(?:${NUMBER}${u})?`).join("")})$`;

/**
 * A loose host:port (IPv6 in brackets); parseAddress checks the rest. Loose on purpose: an
 * editor must not flag an address that aegis accepts.
 */
export const ADDRESS_PATTERN = "^(?:\\[[^\\]]+\\]|[^:\\[\\]]*):\\d{1,5}$";

/** The JSON Schema of a whole aegis.toml. */
export function configJsonSchema(version?: string): JsonSchema {
  return {
    $schema: JSON_SCHEMA_DIALECT,
    $id: "urn:aegis:config",
    title: "aegis.toml",
    description: `Configuration of aegis, the Layer 4 (TCP) proxy and load balancer${version ? ` (version ${version})` : ""}. Check a file with \`aegis check\`.`,
    type: "object",
    properties: Object.fromEntries(SCHEMA.map((s) => [s.key, sectionSchema(s)])),
    // validate.ts refuses a file without them ("nothing to do").
    required: SCHEMA.filter((s) => s.kind === "array").map((s) => s.key),
    additionalProperties: false,
  };
}

function sectionSchema(s: SectionSchema): JsonSchema {
  const table = objectSchema(s.fields, s.description);
  if (s.kind === "table") return table;
  // upstreams.ts: servers (at least one), or discovery to find them.
  if (s.key === "upstream") table.anyOf = [{ required: ["servers"], properties: { servers: { minItems: 1 } } }, { required: ["discovery"] }];
  return { description: s.description, type: "array", items: table };
}

function objectSchema(fields: Fields, description?: string): JsonSchema {
  const required = Object.entries(fields).filter(([, f]) => f.required).map(([key]) => key);
  return {
    ...(description ? { description } : {}),
    type: "object",
    properties: Object.fromEntries(Object.entries(fields).map(([key, f]) => [key, fieldSchema(f)])),
    ...(required.length > 0 ? { required } : {}),
    additionalProperties: false,
  };
}

/** The schema of one key: its type and bounds, its description and default. */
export function fieldSchema(f: Field<unknown>): JsonSchema {
  const notes: string[] = [];
  if (f.type === "duration" && f.min !== undefined && f.min > 0) notes.push(`At least ${formatDuration(f.min)}.`);
  if (f.defaultText) notes.push(`Default: ${f.defaultText}.`);
  const description = [f.description, ...notes].join(" ");
  return {
    description,
    ...typeSchema(f),
    ...(f.default !== undefined ? { default: f.default } : {}),
  };
}

function typeSchema(f: Field<unknown>): JsonSchema {
  switch (f.type) {
    case "integer":
      return { type: "integer", ...(f.min !== undefined ? { minimum: f.min } : {}), ...(f.max !== undefined ? { maximum: f.max } : {}) };
    case "boolean":
      return { type: "boolean" };
    case "name":
      return { type: "string", ...(f.pattern ? { pattern: f.pattern.source } : {}) };
    case "duration":
      // Zero may be written without a unit, as a number or a string.
      return { anyOf: [{ type: "string", pattern: DURATION_PATTERN }, { const: 0 }] };
    case "address":
      return { type: "string", pattern: ADDRESS_PATTERN };
    case "size":
      return { anyOf: [{ type: "string", pattern: SIZE_PATTERN }, { type: "integer", ...(f.min !== undefined ? { minimum: f.min } : {}) }] };
    case "enum":
      return { type: "string", enum: [...(f.values ?? [])] };
    case "string":
      return { type: "string" };
    case "rate":
      return { type: "string", ...(f.pattern ? { pattern: f.pattern.source } : {}) };
    case "strings":
      return { type: "array", items: { type: "string" }, ...(f.minItems ? { minItems: f.minItems } : {}) };
    case "cidrs":
      // Each an IPv4 or IPv6 address or CIDR block; the loader checks them.
      return { type: "array", items: { type: "string" } };
    case "region":
      return { anyOf: [{ const: true }, { type: "string", pattern: NAME_PATTERN.source }] };
    case "files":
      return { anyOf: [{ type: "string" }, { type: "array", items: { type: "string" }, minItems: 1 }] };
    case "groups":
      // Region name to its countries; the loader checks names and that no country is in two regions.
      return { type: "object", additionalProperties: { type: "array", items: { type: "string", pattern: "^[A-Za-z]{2}$" }, minItems: 1 } };
    case "table":
      return objectSchema(f.items ?? {});
    case "list": {
      const item = objectSchema(f.items ?? {});
      const short = f.shorthand && f.items?.[f.shorthand];
      return {
        type: "array",
        ...(f.minItems !== undefined ? { minItems: f.minItems } : {}),
        // A bare string stands for { <shorthand> = "..." }.
        items: short ? { anyOf: [typeSchema(short), item] } : item,
      };
    }
    default:
      // A kind of key this generator does not know yet: described, not constrained (a test says so).
      return f.pattern ? { type: "string", pattern: f.pattern.source } : {};
  }
}
