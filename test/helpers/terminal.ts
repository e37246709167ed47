// Drives interactive programs like a person at a terminal: a real pseudo-terminal (util-linux `script`)
// or in-process streams, with expect-style waits that are always bounded in time.
import { PassThrough, Writable } from "node:stream";

/** Cursor movement, colours and other escape sequences, removed so tests match on the words. */
const ANSI = /\x1b\[[0-9;?]*[ -\/]*[@-~]|\x1b\][^\x07]*\x07|\x1b[()][A-Za-z0-9]|\x1b[=>78]/g;

export const KEY = { enter: "\r", up: "\x1b[A", down: "\x1b[B", left: "\x1b[D", right: "\x1b[C", ctrlC: "\x03", backspace: "\x7f", clearLine: "\x15" } as const;

/** Everything a program wrote, and waits for text that appears after the last match. */
export class Screen {
  #raw = "";
  #mark = 0;
  #waiters = new Set<() => void>();

  feed(chunk: string): void {
    this.#raw += chunk;
    for (const wake of this.#waiters) wake();
  }

  /** All output so far as written, escape sequences (colours, dim) included. */
  raw(): string {
    return this.#raw;
  }

  /** All output so far, escape sequences removed. */
  text(): string {
    return this.#raw.replace(ANSI, "");
  }

  /**
   * Resolves with the text up to the first match of `pattern` after the previous match; rejects
   * after `timeoutMs` (or when `ended` resolves first) with the tail of the screen in the message.
   */
  async waitFor(pattern: string | RegExp, timeoutMs = 10_000, ended?: Promise<unknown>): Promise<string> {
    const find = (): number => {
      const rest = this.text().slice(this.#mark);
      if (typeof pattern === "string") {
        const at = rest.indexOf(pattern);
        return at < 0 ? -1 : at + pattern.length;
      }
      const m = pattern.exec(rest);
      return m ? m.index + m[0].length : -1;
    };
    return await new Promise<string>((resolve, reject) => {
      const check = () => {
        const end = find();
        if (end < 0) return;
        const seen = this.text().slice(this.#mark, this.#mark + end);
        this.#mark += end;
        done();
        resolve(seen);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${String(pattern)} not seen within ${timeoutMs} ms; screen ends with:\n${this.text().slice(-1500)}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(check);
      };
      this.#waiters.add(check);
      void ended?.then(() => {
        check();
        if (this.#waiters.has(check)) {
          done();
          reject(new Error(`the program ended before ${String(pattern)} appeared; screen ends with:\n${this.text().slice(-1500)}`));
        }
      });
      check();
    });
  }
}

/** A program on a real pseudo-terminal of `cols` x `rows`, run by util-linux `script`. */
export interface Pty {
  screen: Screen;
  /** Exit code of the program (script -e passes it on). */
  exited: Promise<number>;
  send(keys: string): void;
  waitFor(pattern: string | RegExp, timeoutMs?: number): Promise<string>;
  kill(): void;
}

const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export function spawnPty(argv: string[], options: { cwd: string; env?: Record<string, string | undefined>; cols?: number; rows?: number }): Pty {
  const command = `stty cols ${options.cols ?? 120} rows ${options.rows ?? 50}; exec ${argv.map(shellQuote).join(" ")}`;
  const env: Record<string, string | undefined> = { ...process.env, TERM: "xterm-256color", ...options.env };
  delete env.CI; // clack refuses to prompt under CI; this terminal is real
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];
  const proc = Bun.spawn(["script", "-qfec", command, "/dev/null"], {
    cwd: options.cwd,
    env: env as Record<string, string>,
    stdin: "pipe",
    stdout: "pipe",
    stderr: "pipe",
  });
  const screen = new Screen();
  const decoder = new TextDecoder();
  void (async () => {
    for await (const chunk of proc.stdout) screen.feed(decoder.decode(chunk, { stream: true }));
  })();
  void (async () => {
    for await (const chunk of proc.stderr) screen.feed(decoder.decode(chunk, { stream: true }));
  })();
  const exited = proc.exited;
  return {
    screen,
    exited,
    send(keys) {
      proc.stdin.write(keys);
      proc.stdin.flush();
    },
    waitFor: (pattern, timeoutMs = 10_000) => screen.waitFor(pattern, timeoutMs, exited),
    kill: () => proc.kill("SIGKILL"),
  };
}

/** In-process streams for clack: `input` takes keys, `output` fills a Screen. */
export function streamTerminal(): { input: PassThrough; output: Writable; screen: Screen; send(keys: string): void } {
  const input = new PassThrough();
  const screen = new Screen();
  const output = new Writable({
    write(chunk, _encoding, callback) {
      screen.feed(chunk.toString());
      callback();
    },
  });
  // clack lays out for the width it is told; a fixed one keeps lines unwrapped.
  Object.assign(output, { columns: 120, rows: 50 });
  return { input, output, screen, send: (keys) => input.write(keys) };
}
