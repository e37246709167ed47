// Reading a MaxMind DB file whole, telling in plain words why it cannot be one, and the fingerprint a reload compares.
import { createHash } from "node:crypto";
import { closeSync, fstatSync, openSync, readSync, type Stats } from "node:fs";

/** Why a GeoIP database cannot be used; the message names the file and the reason. */
export class GeoIpError extends Error {
  constructor(
    readonly path: string,
    why: string,
  ) {
    super(`GeoIP database ${path}: ${why}`);
    this.name = "GeoIpError";
  }
}

/** A database file as read at one moment: its bytes, and the fingerprint of that version of it. */
export interface DatabaseFile {
  readonly path: string;
  readonly bytes: Buffer;
  /** What `fingerprintOf(path)` gives while the file stays as it was read. */
  readonly fingerprint: string;
}

// "\xAB\xCD\xEFMaxMind.com" starts the metadata, which the format puts in the file's last 128 KiB.
const METADATA_MARKER = Buffer.from("abcdef4d61784d696e642e636f6d", "hex");
const METADATA_MAX_BYTES = 128 * 1024;
// A GeoIP2 City database is about 130 MiB; a country lookup needs far less. Past this a path is a
// mistake, and reading it whole (once per Worker) would cost that much memory each time.
const MAX_BYTES = 1024 * 1024 * 1024;

/** Reads `path` whole, from one open file so the bytes and the fingerprint agree. Throws GeoIpError. */
export function readDatabaseFile(path: string): DatabaseFile {
  const fd = openOrExplain(path);
  try {
    const stats = checkedStats(path, fstatSync(fd));
    const bytes = Buffer.allocUnsafe(stats.size);
    let filled = 0;
    while (filled < bytes.length) {
      const n = readSync(fd, bytes, filled, bytes.length - filled, filled);
      if (n === 0) break;
      filled += n;
    }
    if (filled !== bytes.length || readSync(fd, Buffer.alloc(1), 0, 1, filled) !== 0) {
      throw new GeoIpError(path, "changed size while being read: install a new database by renaming it into place");
    }
    return { path, bytes, fingerprint: fingerprintFrom(path, stats, tail(bytes)) };
  } catch (e) {
    throw e instanceof GeoIpError ? e : new GeoIpError(path, `cannot be read (${(e as Error).message})`);
  } finally {
    closeSync(fd);
  }
}

/**
 * What identifies the version of `path` on disk now: size, modification time, inode and a hash of
 * the metadata region (which holds the build date), without reading the whole file. Two versions
 * that differ in any of these differ here; compare for equality only. Throws GeoIpError.
 */
export function fingerprintOf(path: string): string {
  const fd = openOrExplain(path);
  try {
    const stats = checkedStats(path, fstatSync(fd));
    const length = Math.min(stats.size, METADATA_MAX_BYTES + METADATA_MARKER.length);
    const end = Buffer.allocUnsafe(length);
    const n = readSync(fd, end, 0, length, stats.size - length);
    return fingerprintFrom(path, stats, end.subarray(0, n));
  } catch (e) {
    throw e instanceof GeoIpError ? e : new GeoIpError(path, `cannot be read (${(e as Error).message})`);
  } finally {
    closeSync(fd);
  }
}

/**
 * Where the metadata of a MaxMind DB starts (just past its marker), or a GeoIpError saying what the
 * file is instead: mmdb-lib's own errors on such input ("Unknown type NaN at offset 0") say nothing
 * a user can act on, and a file cut short before its metadata is not even refused by it.
 */
export function metadataStart(path: string, bytes: Buffer): number {
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    throw new GeoIpError(path, "is gzip-compressed (a .gz or .tar.gz download): unpack the .mmdb file from it");
  }
  const from = Math.max(0, bytes.length - METADATA_MAX_BYTES - METADATA_MARKER.length);
  const at = bytes.subarray(from).lastIndexOf(METADATA_MARKER);
  if (at >= 0) return from + at + METADATA_MARKER.length;
  if (isLegacyGeoIp(bytes)) {
    throw new GeoIpError(path, "is a legacy GeoIP (.dat) database: aegis reads MaxMind DB (.mmdb) files, such as GeoLite2-Country.mmdb");
  }
  throw new GeoIpError(path, "is not a MaxMind DB file: no metadata at its end (cut short, or another kind of file)");
}

function openOrExplain(path: string): number {
  try {
    return openSync(path, "r");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new GeoIpError(path, "does not exist");
    if (code === "EACCES" || code === "EPERM") throw new GeoIpError(path, "cannot be read: permission denied");
    throw new GeoIpError(path, `cannot be opened (${(e as Error).message})`);
  }
}

function checkedStats(path: string, stats: Stats): Stats {
  if (stats.isDirectory()) throw new GeoIpError(path, "is a directory, not a database file");
  if (!stats.isFile()) throw new GeoIpError(path, "is not a regular file");
  if (stats.size === 0) throw new GeoIpError(path, "is empty");
  if (stats.size > MAX_BYTES) {
    throw new GeoIpError(path, `is ${mebibytes(stats.size)} MiB, more than the ${mebibytes(MAX_BYTES)} MiB a database may be`);
  }
  return stats;
}

function tail(bytes: Buffer): Buffer {
  return bytes.subarray(Math.max(0, bytes.length - METADATA_MAX_BYTES - METADATA_MARKER.length));
}

function fingerprintFrom(path: string, stats: Stats, end: Buffer): string {
  const hash = createHash("sha256").update(end).digest("hex").slice(0, 32);
  return `${path} size=${stats.size} mtime=${stats.mtimeMs} ino=${stats.ino} end-sha256=${hash}`;
}

// GeoIP Legacy files end with a structure-info block behind three 0xFF bytes, within their last 20 bytes.
function isLegacyGeoIp(bytes: Buffer): boolean {
  for (let i = 0; i < 20 && bytes.length - 3 - i >= 0; i++) {
    const at = bytes.length - 3 - i;
    if (bytes[at] === 0xff && bytes[at + 1] === 0xff && bytes[at + 2] === 0xff) return true;
  }
  return false;
}

export function mebibytes(bytes: number): string {
  return (bytes / 1048576).toFixed(1);
}
