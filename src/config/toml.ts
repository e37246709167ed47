// TOML text to a raw table, with syntax errors turned into ConfigError at file:line:column.
import { parse, TomlError } from "smol-toml";
import { ConfigError } from "./errors.ts";

/**
 * Parses `text`; `source` names the file in error messages. Integers past 2^53 come back as
 * bigint ("asNeeded") so the validator can name the key that holds one instead of failing here.
 */
export function parseToml(text: string, source: string): Record<string, unknown> {
  try {
    return parse(text, { integersAsBigInt: "asNeeded" });
  } catch (e) {
    if (!(e instanceof TomlError)) throw e;
    // smol-toml's message is "Invalid TOML document: <reason>\n\n<codeblock>"; keep the reason.
    const reason = (e.message.split("\n")[0] ?? "").replace(/^Invalid TOML document: /, "");
    throw new ConfigError([`${source}:${e.line}:${e.column}: ${reason}`], e.codeblock.trimEnd());
  }
}
