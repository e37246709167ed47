// Values as error messages show them: quoted, and cut short when long, so a 10 MB value in a
// config gives a readable line instead of 10 MB of stderr.

/** Characters of a value shown before it is cut. */
export const SHOWN_CHARS = 60;

/**
 * `"value"` (JSON-quoted); past SHOWN_CHARS, the start of it and its real length:
 * `"aaaa…" (10485760 characters)`.
 */
export function quote(value: string): string {
  if (value.length <= SHOWN_CHARS) return JSON.stringify(value);
  return `${JSON.stringify(`${head(value, SHOWN_CHARS)}…`)} (${value.length} characters)`;
}

/** `value` itself when short, else its start and "…": for values shown inside other text. */
export function shorten(value: string, max = SHOWN_CHARS): string {
  return value.length <= max ? value : `${head(value, max)}…`;
}

/** The first `n` UTF-16 units, without splitting a surrogate pair. */
function head(value: string, n: number): string {
  const code = value.charCodeAt(n - 1);
  return value.slice(0, code >= 0xd800 && code <= 0xdbff ? n - 1 : n);
}

/** Problem lines longer than this are cut: a last guard for text that is not a quoted value. */
export const MAX_PROBLEM_CHARS = 500;

export function capProblem(line: string): string {
  return line.length <= MAX_PROBLEM_CHARS ? line : `${head(line, MAX_PROBLEM_CHARS)}… (cut; the message has ${line.length} characters)`;
}
