// RESP, as far as a Redis health check needs it: one reply at a time from bytes that may arrive in pieces.
export type RespReply = { kind: "simple" | "error"; text: string } | { kind: "integer"; value: number } | { kind: "bulk"; text: string | null } | { kind: "array"; count: number };

/** The reply at `at` and where it ends; null: not all in yet; a string: not RESP. */
export function readReply(b: Buffer, at: number): [RespReply, number] | null | string {
  if (at >= b.length) return null;
  const eol = b.indexOf("\r\n", at);
  if (eol < 0) return b.length - at > 64 * 1024 ? "a reply line longer than 64 KiB" : null;
  const type = String.fromCharCode(b[at]!);
  const line = b.toString("latin1", at + 1, eol);
  switch (type) {
    case "+": return [{ kind: "simple", text: line }, eol + 2];
    case "-": return [{ kind: "error", text: line }, eol + 2];
    case ":": return /^-?\d+$/.test(line) ? [{ kind: "integer", value: Number(line) }, eol + 2] : `a bad integer reply ${JSON.stringify(line)}`;
    case "*": return /^-?\d+$/.test(line) ? [{ kind: "array", count: Number(line) }, eol + 2] : `a bad array header ${JSON.stringify(line)}`;
    case "$": {
      if (!/^-?\d+$/.test(line)) return `a bad bulk length ${JSON.stringify(line)}`;
      const n = Number(line);
      if (n < 0) return [{ kind: "bulk", text: null }, eol + 2];
      if (eol + 2 + n + 2 > b.length) return null;
      if (b[eol + 2 + n] !== 13 || b[eol + 3 + n] !== 10) return "a bulk reply not ended by CRLF";
      return [{ kind: "bulk", text: b.toString("utf8", eol + 2, eol + 2 + n) }, eol + 4 + n];
    }
    default: return `not a Redis reply (starts with ${JSON.stringify(b.toString("latin1", at, Math.min(at + 16, b.length)))})`;
  }
}
