// Reads a file the operator named (the config, a token file) without trusting what it is:
// /dev/zero, /dev/urandom or a FIFO would otherwise be read until memory runs out, or block.
import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";

/** The directory a config's relative paths start from: its file's, or the working directory for "<demo>" and "<inline>". */
export function configDir(source: string): string {
  return source.startsWith("<") ? process.cwd() : dirname(resolve(source));
}

/** `path` as the config at `source` means it: absolute as written, else relative to the config file. */
export function fromConfig(source: string, path: string): string {
  return isAbsolute(path) ? path : resolve(configDir(source), path);
}

/** The most a config file may hold; real ones are a few KiB. */
export const MAX_CONFIG_BYTES = 16 * 1024 * 1024;
/** The most a token file may hold; a token is at most a few hundred characters. */
export const MAX_TOKEN_BYTES = 4 * 1024;

/** Why a file was not read, worded to follow "cannot read ...: ". */
export class FileRefused extends Error {
  override readonly name = "FileRefused";
}

/**
 * The whole content of the regular file at `path`, at most `limit` bytes. The checks are made on
 * the opened descriptor (fstat, then at most limit + 1 bytes read), so the file cannot be swapped
 * between check and read, and a file that grows while read is still refused. O_NONBLOCK keeps the
 * open of a FIFO from waiting for a writer; it changes nothing for regular files.
 * Throws FileRefused with a reason; other errors (ENOENT, EACCES) as node:fs throws them.
 */
export function readBoundedFile(path: string, limit: number): Buffer {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const stats = fstatSync(fd);
    if (stats.isDirectory()) throw new FileRefused("it is a directory");
    if (!stats.isFile()) throw new FileRefused(`it is ${kindOf(stats)}, not a regular file`);
    if (stats.size > limit) throw new FileRefused(tooBig(stats.size, limit));
    // Sized from fstat, plus one byte to see the end; grown only for a file that grows (or that
    // fstat calls empty, as /proc does), never past limit + 1.
    let buffer = Buffer.alloc(Math.min(limit + 1, Math.max(stats.size + 1, 4096)));
    let filled = 0;
    // Bounded: each pass reads at least one byte or returns, and `filled` stops at limit + 1.
    for (;;) {
      if (filled === buffer.length) {
        if (filled > limit) throw new FileRefused(`it is over the limit of ${formatBytes(limit)} (it grew while being read)`);
        const bigger = Buffer.alloc(Math.min(limit + 1, buffer.length * 2));
        buffer.copy(bigger);
        buffer = bigger;
      }
      const n = readSync(fd, buffer, filled, buffer.length - filled, null);
      if (n === 0) return buffer.subarray(0, filled);
      filled += n;
    }
  } finally {
    closeSync(fd);
  }
}

function kindOf(s: Stats): string {
  if (s.isCharacterDevice()) return "a character device";
  if (s.isBlockDevice()) return "a block device";
  if (s.isFIFO()) return "a FIFO (named pipe)";
  if (s.isSocket()) return "a socket";
  return "not a regular file";
}

function tooBig(size: number, limit: number): string {
  return `it is ${size} bytes, over the limit of ${formatBytes(limit)}`;
}

/** A limit for messages: 16 MiB, 4 KiB, 100 bytes. */
function formatBytes(n: number): string {
  if (n >= 1024 * 1024 && n % (1024 * 1024) === 0) return `${n / (1024 * 1024)} MiB`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KiB`;
  return `${n} bytes`;
}

/** Why a file could not be read, worded to follow "cannot read ...: "; for the config and token_file. */
export function readFailure(e: unknown): string {
  if (e instanceof FileRefused) return e.message;
  const code = (e as NodeJS.ErrnoException).code;
  if (code === "ENOENT") return "no such file";
  if (code === "EACCES" || code === "EPERM") return "permission denied";
  if (code === "EISDIR") return "it is a directory";
  if (code === "ENAMETOOLONG") return "the path is too long";
  if (code === "ENOTDIR") return "a part of the path is not a directory";
  if (code === "ELOOP") return "too many symbolic links";
  // node:fs messages end with the path ("..., open '<path>'"), which the caller shows already.
  return code ?? (e instanceof Error ? e.message : String(e));
}
