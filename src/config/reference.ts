// The README config reference (a Markdown table of every key), generated from SCHEMA so it cannot drift.
import type { Field, Fields } from "./fields.ts";
import { formatDuration } from "./duration.ts";
import { formatSize } from "./size.ts";
import { SCHEMA, sectionHeader } from "./schema.ts";

/** The generated block sits between these two lines of README.md; scripts/readme-reference.ts rewrites it. */
export const REFERENCE_BEGIN = "<!-- BEGIN CONFIG REFERENCE: generated from src/config/schema.ts by `bun scripts/readme-reference.ts`; do not edit -->";
export const REFERENCE_END = "<!-- END CONFIG REFERENCE -->";

/** The table, one row per key (nested keys as `health.interval`, list items as `servers[].weight`). */
export function renderReference(): string {
  const rows: string[] = ["| Key | Default | Meaning |", "| --- | --- | --- |"];
  for (const section of SCHEMA) {
    rows.push(`| **\`${sectionHeader(section)}\`** | | ${cell(section.description)} |`);
    addRows(rows, section.fields, "");
  }
  return rows.join("\n");
}

function addRows(rows: string[], fields: Fields, prefix: string): void {
  for (const [key, field] of Object.entries(fields)) {
    const path = `${prefix}${key}`;
    rows.push(`| \`${path}\` | ${cell(defaultOf(field))} | ${cell(meaning(field))} |`);
    if (field.items && field.type === "table") addRows(rows, field.items, `${path}.`);
    if (field.items && field.type === "list") addRows(rows, field.items, `${path}[].`);
  }
}

function defaultOf(f: Field<unknown>): string {
  if (f.required) return "*required*";
  if (f.default !== undefined) return `\`${tomlValue(f.default)}\``;
  return f.defaultText ?? "";
}

/** A default as written in TOML: strings quoted, numbers and booleans bare. */
export function tomlValue(value: string | number | boolean): string {
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}

function meaning(f: Field<unknown>): string {
  const parts = [f.description];
  const bounds = boundsOf(f);
  if (bounds) parts.push(bounds);
  return parts.join(" ");
}

function boundsOf(f: Field<unknown>): string | null {
  switch (f.type) {
    case "integer":
      return f.min !== undefined && f.max !== undefined ? `Integer, ${f.min} to ${f.max}.` : "Integer.";
    case "duration":
      return `Duration${f.min ? `, at least ${formatDuration(f.min)}` : ""}.`;
    case "size":
      return `Size (KiB, MiB, GiB or bytes), ${formatSize(f.min ?? 0)} to ${formatSize(f.max ?? 0)}.`;
    case "enum":
      return `One of ${(f.values ?? []).map((v) => `\`${v}\``).join(", ")}.`;
    case "list":
      return f.minItems ? `At least ${f.minItems}.` : null;
    default:
      return null;
  }
}

/** Text safe inside a table cell. */
function cell(text: string): string {
  return text.replace(/\|/g, "\\|").replace(/</g, "&lt;").replace(/\n/g, " ");
}

/** `readme` with its generated block replaced by `block`; throws if the markers are missing. */
export function replaceReference(readme: string, block: string): string {
  const begin = readme.indexOf(REFERENCE_BEGIN);
  const end = readme.indexOf(REFERENCE_END);
  if (begin < 0 || end < begin) throw new Error(`README.md has no "${REFERENCE_BEGIN}" ... "${REFERENCE_END}" block`);
  return `${readme.slice(0, begin + REFERENCE_BEGIN.length)}\n${block}\n${readme.slice(end)}`;
}
