// Shared helpers for the config tests: catch a ConfigError and look at its problems.
import { expect } from "bun:test";
import { ConfigError } from "../../src/config/errors.ts";
import { parseConfig } from "../../src/config/load.ts";

/** The ConfigError `fn` throws; fails the test when it returns or throws something else. */
export function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error("expected a ConfigError, but nothing was thrown");
}

/**
 * The problems parseConfig reports for `text` read as "aegis.toml", each as `aegis.toml: <text>`
 * without the line and column: the tests of what problems say use it. Where problems are placed,
 * and their order in the file, is tested with placedProblemsOf (errors.test.ts, locate.test.ts).
 */
export function problemsOf(text: string): string[] {
  return unplaced(placedProblemsOf(text));
}

/** The problems as reported: `aegis.toml:<line>:<column>: <text>`. */
export function placedProblemsOf(text: string): string[] {
  return configError(() => parseConfig(text, "aegis.toml")).problems;
}

/** `<file>:<line>:<column>: <text>` -> `<file>: <text>`. */
export function unplaced(problems: readonly string[]): string[] {
  return problems.map((p) => p.replace(/^([^:\n]+):\d+:\d+: /, "$1: "));
}

/** A small valid config; tests append or replace parts of it. */
export const MINIMAL = `
[[listener]]
bind = "127.0.0.1:8081"
upstream = "redis"

[[upstream]]
name = "redis"
servers = ["127.0.0.1:6379"]
`;
