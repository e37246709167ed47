// The kinds of key a config section can hold; each converts a raw TOML value or throws ConfigError.
import type { Address } from "./types.ts";
import { ConfigError, problem } from "./errors.ts";
import { parseDuration, formatDuration } from "./duration.ts";
import { parseAddress, type AddressUse } from "./address.ts";
import { didYouMean } from "./suggest.ts";
import { readSection, readFields, isTable, describe } from "./section.ts";
import { parseRate, RATE_PATTERN } from "./rate.ts";
import type { RateLimit } from "./types.ts";
import { formatCidr, parseCidr } from "../net/cidr.ts";
import { quote } from "./quote.ts";
import { formatSize, parseSize } from "./size.ts";

/** A default as it would be written in the file; it goes through `convert` like user input. */
export type TomlDefault = string | number | boolean;
export type FieldType = "integer" | "boolean" | "name" | "duration" | "address" | "enum" | "list" | "table" | "string" | "rate" | "cidrs" | "strings" | "region" | "files" | "groups" | "size";

/**
 * One key of a section. Besides `convert`, everything here is plain data so the README
 * config reference and the JSON Schema can be generated from it.
 */
export interface Field<T> {
  readonly type: FieldType;
  readonly description: string;
  readonly required?: boolean;
  readonly default?: TomlDefault;
  /** For defaults computed from other keys, said in words. */
  readonly defaultText?: string;
  /** Bounds: integers in their own unit, durations in milliseconds. */
  readonly min?: number;
  readonly max?: number;
  readonly values?: readonly string[];
  readonly pattern?: RegExp;
  /** list: the keys of one item, the key a bare string stands for, the least item count. table: its keys. */
  readonly items?: Fields;
  readonly shorthand?: string;
  readonly minItems?: number;
  convert(value: unknown, path: string): T;
}

export type Fields = Readonly<Record<string, Field<unknown>>>;

/** A field's default as the TOML parser would hand it over if written in the file: integers as bigints. */
export function parsedDefault(field: Field<unknown>): unknown {
  const d = field.default;
  return typeof d === "number" && Number.isInteger(d) ? BigInt(d) : d;
}
export type Values<F extends Fields> = { -readonly [K in keyof F]: F[K] extends Field<infer T> ? T : never };

interface Common {
  description: string;
  required?: boolean;
  default?: TomlDefault;
  defaultText?: string;
}

function expected(path: string, what: string, value: unknown): ConfigError {
  // A quoted number or boolean is the commonest slip; say how to fix it.
  const unquote = typeof value === "string" && /^(-?\d+(\.\d+)?|true|false)$/.test(value);
  return problem(`${path}: expected ${what}, got ${describe(value)}${unquote ? " (remove the quotes)" : ""}`);
}

/** The field itself says whether it is optional; this only widens its type for `Values`. */
export function optional<T>(field: Field<T>): Field<T | undefined> {
  return field;
}

export function integer(o: Common & { min: number; max: number }): Field<number> {
  return {
    type: "integer", ...o,
    convert(value, path) {
      // TOML integers arrive as bigint (integersAsBigInt: true); a number is a float, even 2.0.
      if (typeof value === "number" && Number.isInteger(value)) {
        throw problem(`${path}: expected an integer, got the float ${describe(value)} (write ${Object.is(value, -0) ? 0 : value})`);
      }
      if (typeof value !== "bigint") throw expected(path, "an integer", value);
      if (value < o.min || value > o.max) throw problem(`${path}: ${value} is out of range (${o.min}..${o.max})`);
      return Number(value);
    },
  };
}

export function boolean(o: Common): Field<boolean> {
  return {
    type: "boolean", ...o,
    convert(value, path) {
      if (typeof value !== "boolean") throw expected(path, "true or false", value);
      return value;
    },
  };
}

/** Names of listeners and upstreams end up in metrics labels, logs and CLI arguments. */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export function name(o: Common): Field<string> {
  return {
    type: "name", pattern: NAME_PATTERN, ...o,
    convert(value, path) {
      if (typeof value !== "string") throw expected(path, "a name (a string)", value);
      if (!NAME_PATTERN.test(value)) {
        throw problem(`${path}: ${quote(value)} is not a valid name (1-64 letters, digits, "_", "-" or ".", starting with a letter or digit)`);
      }
      return value;
    },
  };
}

export function duration(o: Common & { min: number }): Field<number> {
  return {
    type: "duration", ...o,
    convert(value, path) {
      if (typeof value !== "string" && typeof value !== "number" && typeof value !== "bigint") {
        throw expected(path, `a duration such as "30s"`, value);
      }
      const ms = parseDuration(typeof value === "bigint" ? Number(value) : value, path);
      if (ms < o.min) throw problem(`${path}: ${describe(value)} is too short (at least ${formatDuration(o.min)})`);
      return ms;
    },
  };
}

/** A byte size, "256KiB" or a bare integer of bytes; bounds in bytes. */
export function size(o: Common & { min: number; max: number }): Field<number> {
  return {
    type: "size", ...o,
    convert(value, path) {
      const bytes = typeof value === "bigint" ? Number(value) : typeof value === "string" ? parseSize(value) : null;
      if (bytes === null) throw expected(path, `a size such as "256KiB" or "64MiB"`, value);
      if (bytes < o.min || bytes > o.max) throw problem(`${path}: ${describe(value)} is out of range (${formatSize(o.min)} to ${formatSize(o.max)})`);
      return bytes;
    },
  };
}

export function address(o: Common & { use: AddressUse }): Field<Address> {
  return {
    type: "address", ...o,
    convert(value, path) {
      if (typeof value === "bigint") {
        throw problem(`${path}: expected an address string such as ":${value}", got ${value}`);
      }
      if (typeof value !== "string") throw expected(path, `an address string such as "127.0.0.1:8081"`, value);
      return parseAddress(value, path, o.use);
    },
  };
}

export function oneOf<T extends string>(values: readonly T[], o: Common): Field<T> {
  return {
    type: "enum", values, ...o,
    convert(value, path) {
      if (typeof value !== "string") throw expected(path, "a string", value);
      if ((values as readonly string[]).includes(value)) return value as T;
      const hint = didYouMean(value, values) || ` (expected one of ${values.map((v) => JSON.stringify(v)).join(", ")})`;
      throw problem(`${path}: ${quote(value)} is not a valid value${hint}`);
    },
  };
}

/**
 * An array whose items are tables of `items`, or bare strings standing for `{ [shorthand]: s }`.
 * `build` turns one item's values (and its table, for keys wanted as written) into the result.
 */
export function list<F extends Fields, T>(
  items: F,
  o: Common & { shorthand: keyof F & string; minItems: number; noun: string; build: (v: Values<F>, table: Record<string, unknown>) => T },
): Field<T[]> {
  const { build, noun, ...data } = o;
  return {
    type: "list", items, ...data,
    convert(value, path) {
      if (!Array.isArray(value)) throw expected(path, `an array of ${noun}s`, value);
      if (value.length < o.minItems) throw problem(`${path}: needs at least ${o.minItems === 1 ? "one" : o.minItems} ${noun}`);
      const problems: string[] = [];
      const out: T[] = [];
      value.forEach((item: unknown, i) => {
        const itemPath = `${path}[${i}]`;
        if (typeof item === "string") {
          // The user wrote no key, so problems name the item: "servers[1]", not "servers[1].address".
          const found: string[] = [];
          const table = { [o.shorthand]: item };
          const values = readSection(table, items, itemPath, found);
          problems.push(...found.map((p) => p.replace(`${itemPath}.${o.shorthand}: `, `${itemPath}: `)));
          if (values) out.push(build(values, table));
        } else if (isTable(item)) {
          const values = readSection(item, items, itemPath, problems);
          if (values) out.push(build(values, item));
        } else {
          problems.push(`${itemPath}: expected a string or a table with ${JSON.stringify(o.shorthand)}, got ${describe(item)}`);
        }
      });
      if (problems.length > 0) throw new ConfigError(problems);
      return out;
    },
  };
}

/** Free text (for example bytes to send in a health check); `check` may reject it with a reason. */
export function text(o: Common & { check?: (value: string) => string | undefined }): Field<string> {
  const { check, ...data } = o;
  return {
    type: "string", ...data,
    convert(value, path) {
      if (typeof value !== "string") throw expected(path, "a string", value);
      const why = check?.(value);
      if (why) throw problem(`${path}: ${quote(value)} ${why}`);
      return value;
    },
  };
}

/**
 * A nested table of `items` (written inline, `key = { ... }`, or as `[section.key]`).
 * `check` finds problems between keys; it sees the values that converted even when others did
 * not, so a conflict is reported with them. `build` turns a table without problems into the result.
 */
export function table<F extends Fields, T>(
  items: F,
  o: Common & { check?: (v: Partial<Values<F>>, path: string) => string[]; build: (v: Values<F>, path: string) => T },
): Field<T> {
  const { build, check, ...data } = o;
  return {
    type: "table", items, ...data,
    convert(value, path) {
      const problems: string[] = [];
      const values = readFields(value, items, path, problems);
      if (values && check) problems.push(...check(values, path));
      if (!values || problems.length > 0) throw new ConfigError(problems);
      return build(values as Values<F>, path);
    },
  };
}

/** A rate such as "50/10s" (see rate.ts). */
export function rate(o: Common): Field<RateLimit> {
  return {
    type: "rate", pattern: RATE_PATTERN, ...o,
    convert(value, path) {
      if (typeof value !== "string") throw expected(path, `a rate such as "50/10s"`, value);
      return parseRate(value, path);
    },
  };
}

/**
 * A list of CIDR blocks or bare addresses, IPv4 or IPv6, each checked (items named by index) and
 * returned in canonical form: ["10.0.0.0/8", "::1"] becomes ["10.0.0.0/8", "::1/128"].
 */
export function cidrs(o: Common): Field<string[]> {
  return {
    type: "cidrs", ...o,
    convert(value, path) {
      if (!Array.isArray(value)) throw expected(path, `an array of addresses or CIDRs such as ["10.0.0.0/8", "::1"]`, value);
      const problems: string[] = [];
      const out = value.flatMap((item: unknown, i) => {
        if (typeof item !== "string") {
          problems.push(`${path}[${i}]: expected an address or CIDR string, got ${describe(item)}`);
          return [];
        }
        // "/032" would read as 32 (and as octal to some tools): refused like a port with leading zeros.
        const prefix = /\/(0\d+)$/.exec(item);
        if (prefix) {
          problems.push(`${path}[${i}]: ${quote(item)} has a prefix length with leading zeros (write "/${Number(prefix[1])}")`);
          return [];
        }
        const cidr = parseCidr(item);
        if (typeof cidr === "string") {
          problems.push(`${path}[${i}]: ${quote(item)} ${cidr}`);
          return [];
        }
        return [formatCidr(cidr)];
      });
      if (problems.length > 0) throw new ConfigError(problems);
      return out;
    },
  };
}

/** A list of strings (names, protocols), each checked by `check`, which may give a reason to refuse it. */
export function strings(o: Common & { example: string; minItems?: number; check?: (value: string) => string | undefined }): Field<string[]> {
  const { check, example, ...data } = o;
  return {
    type: "strings", ...data,
    convert(value, path) {
      if (!Array.isArray(value)) throw expected(path, `an array of strings such as ${example}`, value);
      if (o.minItems && value.length < o.minItems) throw problem(`${path}: needs at least ${o.minItems === 1 ? "one entry" : `${o.minItems} entries`}`);
      const problems: string[] = [];
      value.forEach((item: unknown, i) => {
        if (typeof item !== "string") return void problems.push(`${path}[${i}]: expected a string, got ${describe(item)}`);
        const why = check?.(item);
        if (why) problems.push(`${path}[${i}]: ${quote(item)} ${why}`);
      });
      if (problems.length > 0) throw new ConfigError(problems);
      return value as string[];
    },
  };
}
