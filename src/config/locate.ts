// Where each key of a TOML text is written, by its path in the form problems use ("upstream[0].servers[2]").
// smol-toml returns values without positions, so this small scanner reads the source once more.

/** A 1-based line and column, as syntax errors give them. */
export interface Position {
  readonly line: number;
  readonly column: number;
}

/**
 * The position of every table header, key and array element of `text`, which must be valid TOML
 * (the scanner trusts what smol-toml accepted and does not check it). Paths follow the loader:
 * `[[upstream]]` items are `upstream[0]`, `upstream[1]`; dotted keys, inline tables and arrays
 * (across lines too) nest with "." and "[i]". A path written twice keeps its first place.
 */
export function keyPositions(text: string): Map<string, Position> {
  return new Scanner(text).document();
}

/**
 * The place of `path`, or of the nearest enclosing key or table that was written: a missing key
 * points at its table's header. Undefined when nothing of the path is in the file.
 */
export function locate(positions: ReadonlyMap<string, Position>, path: string): Position | undefined {
  for (let p = path; p !== ""; p = parentPath(p)) {
    const found = positions.get(p);
    if (found) return found;
  }
  return undefined;
}

/** "a.b[2]" -> "a.b", "a.b" -> "a", "a" -> "". */
function parentPath(path: string): string {
  const index = /\[\d+\]$/.exec(path);
  if (index) return path.slice(0, index.index);
  const dot = path.lastIndexOf(".");
  return dot < 0 ? "" : path.slice(0, dot);
}

const BARE_KEY = /[A-Za-z0-9_-]/;
/** Where a number, boolean or date ends (a date may hold a space, so a space does not end it). */
const SCALAR_END = new Set([",", "]", "}", "#", "\n", "\r"]);

class Scanner {
  readonly #s: string;
  #i = 0;
  #line = 1;
  #lineStart = 0;
  readonly #found = new Map<string, Position>();
  /** Items so far of each array of tables, by its path with the indexes of its parents. */
  readonly #arrays = new Map<string, number>();

  constructor(text: string) {
    this.#s = text;
  }

  document(): Map<string, Position> {
    let table = "";
    for (;;) {
      this.#trivia();
      if (this.#i >= this.#s.length) return this.#found;
      const at = this.#pos();
      if (this.#s[this.#i] === "[") {
        table = this.#header(at);
      } else {
        this.#keyValue(table, at);
      }
    }
  }

  /** `[a.b]` or `[[a.b]]`: the table's path, each array of tables on the way at its last item. */
  #header(at: Position): string {
    const isArray = this.#s[this.#i + 1] === "[";
    this.#advance(isArray ? 2 : 1);
    const keys = this.#key();
    this.#advance(isArray ? 2 : 1);
    let path = "";
    keys.forEach((key, k) => {
      path = join(path, key);
      const count = this.#arrays.get(path);
      if (k < keys.length - 1 || !isArray) {
        if (count !== undefined) path += `[${count - 1}]`;
        return;
      }
      this.#mark(path, at);
      this.#arrays.set(path, (count ?? 0) + 1);
      path += `[${count ?? 0}]`;
    });
    this.#mark(path, at);
    return path;
  }

  /** `a.b = value` in `table`; each part of a dotted key is placed at the key. */
  #keyValue(table: string, at: Position): void {
    let path = table;
    for (const key of this.#key()) {
      path = join(path, key);
      this.#mark(path, at);
    }
    this.#spaces();
    this.#advance(); // "="
    this.#spaces();
    this.#value(path);
  }

  #value(path: string): void {
    const c = this.#s[this.#i];
    if (c === '"' || c === "'") return void this.#string();
    if (c === "{") return this.#inlineTable(path);
    if (c === "[") return this.#array(path);
    while (this.#i < this.#s.length && !SCALAR_END.has(this.#s[this.#i]!)) this.#advance();
  }

  #inlineTable(path: string): void {
    this.#advance();
    for (;;) {
      this.#trivia();
      if (this.#i >= this.#s.length) return;
      if (this.#s[this.#i] === "}") return this.#advance();
      if (this.#s[this.#i] === ",") {
        this.#advance();
        continue;
      }
      this.#keyValue(path, this.#pos());
    }
  }

  #array(path: string): void {
    this.#advance();
    for (let n = 0; ; ) {
      this.#trivia();
      if (this.#i >= this.#s.length) return;
      if (this.#s[this.#i] === "]") return this.#advance();
      if (this.#s[this.#i] === ",") {
        this.#advance();
        continue;
      }
      const item = `${path}[${n++}]`;
      this.#mark(item, this.#pos());
      const before = this.#i;
      this.#value(item);
      // Only text smol-toml refused could stop a value from moving on; never loop on it.
      if (this.#i === before) this.#advance();
    }
  }

  /** A key's parts, bare or quoted, split at the dots between them. */
  #key(): string[] {
    const parts: string[] = [];
    for (;;) {
      this.#spaces();
      const c = this.#s[this.#i];
      if (c === '"' || c === "'") {
        parts.push(this.#string());
      } else {
        const start = this.#i;
        while (this.#i < this.#s.length && BARE_KEY.test(this.#s[this.#i]!)) this.#advance();
        parts.push(this.#s.slice(start, this.#i));
      }
      this.#spaces();
      if (this.#s[this.#i] !== ".") return parts;
      this.#advance();
    }
  }

  /** Skips one string of any of the four kinds; returns its text (escapes of basic strings decoded). */
  #string(): string {
    const q = this.#s[this.#i]!;
    const multi = this.#s.startsWith(q.repeat(3), this.#i);
    this.#advance(multi ? 3 : 1);
    const start = this.#i;
    while (this.#i < this.#s.length) {
      const c = this.#s[this.#i];
      if (c === "\\" && q === '"') {
        this.#advance(2);
      } else if (c === q && (!multi || this.#s.startsWith(q.repeat(3), this.#i))) {
        break;
      } else {
        this.#advance();
      }
    }
    // A multi-line string may end in up to two quotes of its own before the closing three.
    let end = this.#i;
    if (multi) while (this.#s[end + 3] === q && end - this.#i < 2) end++;
    const raw = this.#s.slice(start, end);
    this.#advance(end - this.#i + (multi ? 3 : 1));
    return q === '"' ? unescapeBasic(raw) : raw;
  }

  /** Spaces, tabs, line breaks and comments. */
  #trivia(): void {
    for (;;) {
      const c = this.#s[this.#i];
      if (c === " " || c === "\t" || c === "\n" || c === "\r") {
        this.#advance();
      } else if (c === "#") {
        while (this.#i < this.#s.length && this.#s[this.#i] !== "\n") this.#advance();
      } else {
        return;
      }
    }
  }

  #spaces(): void {
    while (this.#s[this.#i] === " " || this.#s[this.#i] === "\t") this.#advance();
  }

  #advance(n = 1): void {
    for (let k = 0; k < n && this.#i < this.#s.length; k++) {
      if (this.#s[this.#i] === "\n") {
        this.#line++;
        this.#lineStart = this.#i + 1;
      }
      this.#i++;
    }
  }

  #pos(): Position {
    return { line: this.#line, column: this.#i - this.#lineStart + 1 };
  }

  #mark(path: string, at: Position): void {
    if (!this.#found.has(path)) this.#found.set(path, at);
  }
}

function join(table: string, key: string): string {
  return table === "" ? key : `${table}.${key}`;
}

/** A basic string's escapes as JSON reads them, the text as written when it has TOML-only ones (\e, \x). */
function unescapeBasic(raw: string): string {
  try {
    return JSON.parse(`"${raw.replace(/\\U([0-9a-fA-F]{8})/g, (_, h: string) => String.fromCodePoint(parseInt(h, 16)))}"`) as string;
  } catch {
    return raw;
  }
}
