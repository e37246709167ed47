// Reads one table against its fields: unknown keys, missing keys, defaults, every problem collected.
import { ConfigError } from "./errors.ts";
import { parsedDefault, type Fields, type Values } from "./fields.ts";
import { didYouMean } from "./suggest.ts";
import { quote } from "./quote.ts";

/** smol-toml tables have a null prototype, so "plain object" is checked by shape, not class. */
export function isTable(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

/** "got ..." text for a type error: strings quoted, tables and arrays named. */
export function describe(value: unknown): string {
  if (typeof value === "string") return quote(value);
  // Integers are bigints; a number is a float, shown as one: 2.0, -0.0, 1.5.
  if (typeof value === "number") return Number.isInteger(value) && Math.abs(value) < 1e21 ? `${Object.is(value, -0) ? "-0" : value}.0` : String(value);
  if (typeof value === "bigint" || typeof value === "boolean") return String(value);
  if (Array.isArray(value)) return "an array";
  if (value instanceof Date) return "a date";
  return "a table";
}

/**
 * Converts `table` field by field, pushing each problem (path-prefixed) onto `problems`.
 * Returns the values only when the whole section is valid. `elsewhere` may explain an unknown
 * key that is valid in another section ("it belongs in [global]").
 */
export function readSection<F extends Fields>(
  table: unknown,
  fields: F,
  path: string,
  problems: string[],
  elsewhere?: (key: string) => string | undefined,
): Values<F> | undefined {
  const before = problems.length;
  const values = readFields(table, fields, path, problems, elsewhere);
  return values && problems.length === before ? (values as Values<F>) : undefined;
}

/**
 * readSection, but the values that did convert come back even when others did not (undefined
 * only when `table` is no table), so checks across keys can still run and report their problems
 * together with the rest.
 */
export function readFields<F extends Fields>(
  table: unknown,
  fields: F,
  path: string,
  problems: string[],
  elsewhere?: (key: string) => string | undefined,
): Partial<Values<F>> | undefined {
  if (!isTable(table)) {
    problems.push(`${path}: expected a table, got ${describe(table)}`);
    return undefined;
  }
  for (const key of Object.keys(table)) {
    if (Object.hasOwn(fields, key)) continue;
    const hint = didYouMean(key, Object.keys(fields)) || (elsewhere?.(key) ?? "");
    problems.push(`${path}: unknown key ${quote(key)}${hint}`);
  }
  const values: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(fields)) {
    const raw = table[key];
    if (raw === undefined && field.required) {
      problems.push(`${path}: missing required key ${JSON.stringify(key)}`);
      continue;
    }
    const input = raw ?? parsedDefault(field);
    if (input === undefined) continue;
    try {
      values[key] = field.convert(input, `${path}.${key}`);
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      problems.push(...e.problems);
    }
  }
  return values as Partial<Values<F>>;
}

/** The index `key` was first seen at, or undefined after recording it at `index`: duplicate checks. */
export function firstSeen(seen: Map<string, number>, key: string, index: number): number | undefined {
  const first = seen.get(key);
  if (first === undefined) seen.set(key, index);
  return first;
}

/** `item[key]` when `item` is a table and that value a string: for checks on what was written. */
export function stringAt(item: unknown, key: string): string | undefined {
  const value = isTable(item) ? item[key] : undefined;
  return typeof value === "string" ? value : undefined;
}
