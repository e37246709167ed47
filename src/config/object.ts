// A config given as an object (a program running aegis as a library): made into what the TOML parser
// would have handed over, then checked by the same validator, so it gets a file's messages and key paths.
import type { Config } from "./types.ts";
import { ConfigError } from "./errors.ts";
import { validate } from "./validate.ts";
import { capProblem } from "./quote.ts";

/** Config.source of a config object: relative paths in it (token_file, certificates, state_file) start from the working directory. */
export const OBJECT_SOURCE = "<library>";

/** Deeper than any real config. */
const MAX_DEPTH = 32;

/**
 * Validates a config object with the keys of aegis.toml. Throws ConfigError listing every problem,
 * each prefixed `<library>: ` and named by its key path, as for a file.
 */
export function parseConfigObject(input: unknown): Config {
  if (!isPlainObject(input)) {
    throw new ConfigError([`${OBJECT_SOURCE}: the config must be an object with listener and upstream arrays, got ${kindOf(input)}`]);
  }
  const shape = new Shape();
  const doc = shape.convert(input, "", []) as Record<string, unknown>;
  const problems = [...shape.problems];
  const watch = (doc.global as Record<string, unknown> | undefined)?.watch;
  // There is no file to watch: the program reloads by calling reload().
  if (watch === true) problems.push(`global.watch: a config object has no file to watch: call reload() with the new config instead`);
  try {
    const config = validate(doc, OBJECT_SOURCE);
    if (problems.length === 0) return config;
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    // Every problem at once; a key left out for its bad value is not also reported as missing.
    problems.push(...e.problems.filter((p) => !shape.leftOut.some((path) => p.startsWith(missing(path)))));
  }
  throw new ConfigError(problems.map((p) => `${OBJECT_SOURCE}: ${capProblem(p)}`));
}

/** The validator's words for a required key that is not there. */
function missing(path: string): string {
  const dot = path.lastIndexOf(".");
  return `${path.slice(0, dot)}: missing required key ${JSON.stringify(path.slice(dot + 1))}`;
}

/**
 * Turns a value into what smol-toml would give: integers as bigints (a number with a fraction stays
 * a float, which the validator names), keys whose value is undefined left out (as if not written).
 * What TOML cannot hold (null, functions, class instances, cycles) is a problem named by its path,
 * and left out.
 */
class Shape {
  readonly problems: string[] = [];
  /** Paths of keys left out for a value TOML cannot hold. */
  readonly leftOut: string[] = [];

  convert(value: unknown, path: string, within: readonly object[]): unknown {
    switch (typeof value) {
      case "string":
      case "boolean":
      case "bigint":
        return value;
      case "number":
        return Number.isInteger(value) ? BigInt(value) : value;
    }
    if (value instanceof Date) return value;
    if (typeof value === "object" && value !== null && within.includes(value)) return this.#refuse(path, "refers back to an object that holds it (a cycle)");
    if (within.length >= MAX_DEPTH) return this.#refuse(path, `nested more than ${MAX_DEPTH} levels deep`);
    if (Array.isArray(value)) {
      const inner = [...within, value];
      return value.map((item, i) => (item === undefined ? this.#refuse(`${path}[${i}]`, "undefined is not a value") : this.convert(item, `${path}[${i}]`, inner)))
        .filter((item) => item !== undefined);
    }
    if (isPlainObject(value)) {
      const inner = [...within, value];
      const out: Record<string, unknown> = {};
      for (const [key, item] of Object.entries(value)) {
        const converted = item === undefined ? undefined : this.convert(item, path === "" ? key : `${path}.${key}`, inner);
        if (converted !== undefined) out[key] = converted;
      }
      return out;
    }
    return this.#refuse(path, value === null
      ? "null is not a value: leave the key out for its default"
      : `expected a string, number, boolean, array or object, got ${kindOf(value)}`);
  }

  #refuse(path: string, why: string): undefined {
    this.problems.push(`${path}: ${why}`);
    this.leftOut.push(path);
    return undefined;
  }
}

/** An object literal (or one made with Object.create(null)), not a Map, a class instance or an array. */
function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function kindOf(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return `an instance of ${value.constructor?.name ?? "a class"}`;
  return `a ${typeof value}`;
}
