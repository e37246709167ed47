// TOML text to a raw table, with syntax errors turned into ConfigError at file:line:column.
import { parse, TomlError } from "smol-toml";
import { ConfigError } from "./errors.ts";

/** Characters of a line shown in an error excerpt; longer lines are cut around the column. */
const EXCERPT_WIDTH = 120;

/**
 * Parses `text`; `source` names the file in error messages. Every integer comes back as a bigint
 * and only floats as numbers, so an integer key can refuse `2.0` (which as a number is just 2),
 * and one past 2^53 is named by the validator instead of failing here.
 */
export function parseToml(text: string, source: string): Record<string, unknown> {
  try {
    return parse(text, { integersAsBigInt: true });
  } catch (e) {
    if (!(e instanceof TomlError)) throw e;
    // smol-toml's message is "Invalid TOML document: <reason>\n\n<codeblock>"; keep the reason.
    const reason = (e.message.split("\n")[0] ?? "").replace(/^Invalid TOML document: /, "");
    throw new ConfigError([`${source}:${e.line}:${e.column}: ${reason}`], excerpt(text, e.line, e.column));
  }
}

/**
 * The lines around `line` with a caret under `column`, as smol-toml's codeblock writes them, but
 * with long lines cut to a window around the column: a 10 MB line would otherwise be printed whole.
 */
export function excerpt(text: string, line: number, column: number): string {
  const lines = text.split(/\r?\n/, line + 1);
  const numberLen = (Math.log10(line + 1) | 0) + 1;
  // The error line is cut to a window around the column; the lines around it keep their start.
  const start = column - 1 > EXCERPT_WIDTH - 20 ? column - 1 - (EXCERPT_WIDTH >> 1) : 0;
  const cut = (l: string, from: number) => {
    if (l.length <= EXCERPT_WIDTH && from === 0) return l;
    const end = from + EXCERPT_WIDTH;
    return `${from > 0 ? "…" : ""}${l.slice(from, end)}${end < l.length ? "…" : ""}`;
  };
  const out: string[] = [];
  for (let i = line - 1; i <= line + 1; i++) {
    const l = lines[i - 1];
    if (!l) continue;
    out.push(`${i.toString().padEnd(numberLen, " ")}:  ${cut(l, i === line ? start : 0)}`);
    if (i === line) out.push(`${" ".repeat(numberLen + 2 + (start > 0 ? 1 : 0) + column - start)}^`);
  }
  return out.join("\n");
}
