// The TypeScript type of a config object (what a program hands startProxy), generated from SCHEMA
// into src/config/input.ts by `bun scripts/readme-reference.ts`, so the type and the loader agree.
import { formatDuration } from "./duration.ts";
import type { Field, Fields } from "./fields.ts";
import { SCHEMA, type SectionSchema } from "./schema.ts";

const HEADER = `// Generated from src/config/schema.ts by \`bun scripts/readme-reference.ts\`; do not edit.
// A config object for startProxy: the keys of aegis.toml, written as TypeScript. [[listener]] and
// [[upstream]] are arrays; durations are strings such as "30s" (or 0); the values are checked as a
// file's are, so the type says what fits and the loader says what is wrong with the rest.

/** A duration such as "30s", "1m30s", "250ms" or "2h" (units d, h, m, s, ms); zero may be written 0. */
export type Duration = string | 0;
`;

/** Interface name of each section's item: ListenerInput for [[listener]]. */
const sectionType = (s: SectionSchema) => `${s.key[0]!.toUpperCase()}${s.key.slice(1)}Input`;

export function renderInputType(): string {
  const out = [HEADER];
  out.push(`/** A whole aegis config: the object form of aegis.toml. */`);
  out.push(`export interface ConfigInput {`);
  for (const s of SCHEMA) {
    out.push(doc(s.kind === "table" ? `[${s.key}]: ${s.description}` : `[[${s.key}]]: ${s.description}`, "  "));
    out.push(s.kind === "table" ? `  ${s.key}?: ${sectionType(s)};` : `  ${s.key}: readonly ${sectionType(s)}[];`);
  }
  out.push(`}`);
  for (const s of SCHEMA) {
    out.push("", doc(s.description, ""), `export interface ${sectionType(s)} ${objectType(s.fields, "")}`);
  }
  return out.join("\n") + "\n";
}

function objectType(fields: Fields, indent: string): string {
  const inner = `${indent}  `;
  const lines = Object.entries(fields).map(([key, f]) => `${doc(describeField(f), inner)}\n${inner}${key}${f.required ? "" : "?"}: ${typeOf(f, inner)};`);
  return `{\n${lines.join("\n")}\n${indent}}`;
}

function describeField(f: Field<unknown>): string {
  const notes: string[] = [f.description];
  if (f.type === "duration" && f.min !== undefined && f.min > 0) notes.push(`At least ${formatDuration(f.min)}.`);
  if (f.type === "integer" && f.min !== undefined && f.max !== undefined) notes.push(`An integer, ${f.min} to ${f.max}.`);
  if (f.defaultText) notes.push(`Default: ${f.defaultText}.`);
  else if (f.default !== undefined) notes.push(`Default: ${JSON.stringify(f.default)}.`);
  return notes.join(" ");
}

function typeOf(f: Field<unknown>, indent: string): string {
  switch (f.type) {
    case "integer":
      return "number";
    case "boolean":
      return "boolean";
    case "duration":
      return "Duration";
    case "name":
    case "address":
    case "string":
    case "rate":
      return "string";
    case "enum":
      return (f.values ?? []).map((v) => JSON.stringify(v)).join(" | ");
    case "strings":
    case "cidrs":
      return "readonly string[]";
    case "region":
      return "true | string";
    case "files":
      return "string | readonly string[]";
    case "groups":
      return "Readonly<Record<string, readonly string[]>>";
    case "table":
      return objectType(f.items ?? {}, indent);
    case "list": {
      const item = objectType(f.items ?? {}, indent);
      const short = f.shorthand && f.items?.[f.shorthand];
      // A bare value stands for { <shorthand> = "..." }.
      return `readonly (${short ? `${typeOf(short, indent)} | ` : ""}${item})[]`;
    }
    default:
      return "unknown";
  }
}

/** A JSDoc comment, wrapped at about 100 columns. */
function doc(text: string, indent: string): string {
  const words = text.replace(/\*\//g, "*\\/").split(/\s+/).filter((w) => w !== "");
  const lines: string[] = [];
  let line = "";
  for (const word of words) {
    if (line !== "" && indent.length + 3 + line.length + 1 + word.length > 110) {
      lines.push(line);
      line = word;
    } else line = line === "" ? word : `${line} ${word}`;
  }
  if (line !== "") lines.push(line);
  if (lines.length === 1) return `${indent}/** ${lines[0]} */`;
  return [`${indent}/**`, ...lines.map((l) => `${indent} * ${l}`), `${indent} */`].join("\n");
}
