// Entry points: TOML text or a file path in, a validated and fully defaulted Config out.
import type { Config } from "./types.ts";
import { ConfigError } from "./errors.ts";
import { parseToml } from "./toml.ts";
import { validate } from "./validate.ts";
import { capProblem } from "./quote.ts";
import { placeProblems } from "./placed.ts";
import { MAX_CONFIG_BYTES, readBoundedFile, readFailure } from "./read-file.ts";

/**
 * Parses and validates config text. `source` is the file name used in messages and kept in
 * Config.source. Throws ConfigError listing every problem in the order of the file, each prefixed
 * `<source>:<line>:<column>: ` (the key, or its table's header) or, about the whole file, `<source>: `.
 */
export function parseConfig(text: string, source: string): Config {
  // A file may start with one byte order mark (editors on Windows write it). A second one is not
  // a BOM but a stray character, which smol-toml (skipping one itself) would let through.
  if (text.startsWith("\uFEFF\uFEFF")) {
    throw new ConfigError([`${source}:1:2: a second byte order mark (U+FEFF): a file may start with one at most`]);
  }
  const body = text.replace(/^\uFEFF/, "");
  const doc = parseToml(body, source);
  try {
    return validate(doc, source);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    throw new ConfigError(placeProblems(e.problems.map(capProblem), body, source));
  }
}

/**
 * Reads `path` (UTF-8) and parses it; a missing or unreadable file, or one that is not a regular
 * file of at most MAX_CONFIG_BYTES (/dev/zero, a FIFO), is a ConfigError naming it.
 */
export function loadConfigFile(path: string): Config {
  let bytes: Buffer;
  try {
    bytes = readBoundedFile(path, MAX_CONFIG_BYTES);
  } catch (e) {
    throw new ConfigError([`${path}: cannot read the config file: ${readFailure(e)}`]);
  }
  let text: string;
  try {
    // Fatal decoding: a Latin-1 file would otherwise load with U+FFFD in names and addresses.
    // ignoreBOM keeps a leading BOM in the text, so parseConfig sees how many there are.
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new ConfigError([`${path}: the file is not valid UTF-8 (TOML files must be)`]);
  }
  return parseConfig(text, path);
}
