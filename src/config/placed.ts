// Problems as `file:line:column: path: text`, sorted in the order of the file, like a compiler's.
import { keyPositions, locate, type Position } from "./locate.ts";

/** A problem's leading key path ("upstream[0].servers[2]: ..."); only bare-key paths are matched. */
const LEADING_PATH = /^([A-Za-z0-9_-]+(?:\[\d+\])*(?:\.[A-Za-z0-9_-]+(?:\[\d+\])*)*): /;
/** Problems about a key that should not be there name it in quotes: the key's own line beats its table's. */
const NAMED_KEY = /^unknown (?:top-level )?key ("(?:[^"\\]|\\.)*")/;
const NAMED_TABLE = /^unknown table \[\[?([A-Za-z0-9_.-]+)\]/;

/**
 * Each of `problems` (key-path-prefixed, as the validator writes them) prefixed with
 * `<source>:<line>:<column>: ` where `text` shows the key, or the header of the table it belongs
 * in, else with `<source>: `. Sorted by place; problems about the whole file come first.
 */
export function placeProblems(problems: readonly string[], text: string, source: string): string[] {
  let positions: Map<string, Position> | undefined;
  const placed = problems.map((p, order) => {
    positions ??= keyPositions(text);
    const at = placeOf(p, positions);
    return { at, order, line: at ? `${source}:${at.line}:${at.column}: ${p}` : `${source}: ${p}` };
  });
  placed.sort((a, b) => rank(a.at) - rank(b.at) || (a.at?.column ?? 0) - (b.at?.column ?? 0) || a.order - b.order);
  return placed.map((p) => p.line);
}

function rank(at: Position | undefined): number {
  return at ? at.line : 0;
}

function placeOf(problem: string, positions: ReadonlyMap<string, Position>): Position | undefined {
  const lead = LEADING_PATH.exec(problem);
  const path = lead?.[1] ?? "";
  const rest = lead ? problem.slice(lead[0].length) : problem;
  const key = keyNamed(rest);
  const table = NAMED_TABLE.exec(rest)?.[1];
  return (key !== undefined ? positions.get(path === "" ? key : `${path}.${key}`) : undefined)
    ?? (table !== undefined ? positions.get(table) : undefined)
    ?? (path !== "" ? locate(positions, path) : undefined);
}

function keyNamed(text: string): string | undefined {
  const quoted = NAMED_KEY.exec(text)?.[1];
  if (quoted === undefined) return undefined;
  try {
    return JSON.parse(quoted) as string;
  } catch {
    return undefined;
  }
}
