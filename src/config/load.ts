// Entry points: TOML text or a file path in, a validated and fully defaulted Config out.
import { readFileSync } from "node:fs";
import type { Config } from "./types.ts";
import { ConfigError } from "./errors.ts";
import { parseToml } from "./toml.ts";
import { validate } from "./validate.ts";

/**
 * Parses and validates config text. `source` is the file name used in messages and kept in
 * Config.source. Throws ConfigError listing every problem, each prefixed `<source>: `.
 */
export function parseConfig(text: string, source: string): Config {
  // TOML files may start with a byte order mark; smol-toml would call it an illegal character.
  const doc = parseToml(text.replace(/^\uFEFF/, ""), source);
  try {
    return validate(doc, source);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    throw new ConfigError(e.problems.map((p) => `${source}: ${p}`));
  }
}

/** Reads `path` (UTF-8) and parses it; a missing or unreadable file is a ConfigError naming it. */
export function loadConfigFile(path: string): Config {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new ConfigError([`${path}: cannot read the config file: ${readFailure(e)}`]);
  }
  let text: string;
  try {
    // Fatal decoding: a Latin-1 file would otherwise load with U+FFFD in names and addresses.
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new ConfigError([`${path}: the file is not valid UTF-8 (TOML files must be)`]);
  }
  return parseConfig(text, path);
}

function readFailure(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === "ENOENT") return "no such file";
  if (code === "EACCES" || code === "EPERM") return "permission denied";
  if (code === "EISDIR") return "it is a directory";
  return e instanceof Error ? e.message : String(e);
}
