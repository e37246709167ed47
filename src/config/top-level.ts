// The top level of a config file: which sections exist and whether each is written the right way.
import { isTable, describe } from "./section.ts";
import { didYouMean } from "./suggest.ts";
import { SCHEMA, sectionHeader, type SectionSchema } from "./schema.ts";
import { quote, shorten } from "./quote.ts";

/** Unknown top-level tables and keys (a key above the first header is a common slip). */
export function checkTopLevel(doc: Record<string, unknown>, problems: string[]): void {
  const known = new Map(SCHEMA.map((s) => [s.key, s]));
  for (const [key, value] of Object.entries(doc)) {
    if (known.has(key)) continue;
    if (isTable(value) || (Array.isArray(value) && value.length > 0 && value.every(isTable))) {
      const written = isTable(value) ? `[${key}]` : `[[${key}]]`;
      const hint = didYouMean(key, known.keys(), (k) => sectionHeader(known.get(k)!));
      problems.push(`unknown table ${shorten(written, 64)}${hint}`);
    } else {
      problems.push(`unknown top-level key ${quote(key)}${belongsIn(key) ?? didYouMean(key, known.keys())}`);
    }
  }
}

/** " (it belongs in [global])" when `key` is a key of some section; for unknown-key messages. */
export function belongsIn(key: string): string | undefined {
  const owner = SCHEMA.find((s) => Object.hasOwn(s.fields, key));
  return owner && ` (it belongs in ${sectionHeader(owner)})`;
}

/** A [table] section; absent means every key takes its default. Undefined when mis-written. */
export function tableAt(doc: Record<string, unknown>, key: string, problems: string[]): Record<string, unknown> | undefined {
  const value = doc[key] ?? {};
  if (isTable(value)) return value;
  problems.push(Array.isArray(value)
    ? `${key}: write ${sectionHeader(section(key))} once, not [[${key}]]`
    : `${key}: expected a table (${sectionHeader(section(key))}), got ${describe(value)}`);
  return undefined;
}

/** An [[array]] section's items; absent means none. Undefined when mis-written. */
export function itemsAt(doc: Record<string, unknown>, key: string, problems: string[]): unknown[] | undefined {
  const value = doc[key] ?? [];
  if (Array.isArray(value)) return value;
  problems.push(isTable(value)
    ? `${key}: write [[${key}]] (one per ${key}), not [${key}]`
    : `${key}: expected ${sectionHeader(section(key))} tables, got ${describe(value)}`);
  return undefined;
}

function section(key: string): SectionSchema {
  return SCHEMA.find((s) => s.key === key)!;
}
