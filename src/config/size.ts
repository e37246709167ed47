// Byte sizes in the config: "256KiB", "64 KiB", "1MiB", "2GiB", a bare integer of bytes.

const UNITS: Record<string, number> = { "": 1, b: 1, kib: 1024, kb: 1024, k: 1024, mib: 1024 ** 2, mb: 1024 ** 2, m: 1024 ** 2, gib: 1024 ** 3, gb: 1024 ** 3, g: 1024 ** 3 };

/** For the JSON Schema: a size as a string. */
export const SIZE_PATTERN = "^\\s*\\d+\\s*([KkMmGg]i?[Bb]?|[Bb])?\\s*$";

/**
 * Bytes of "<n><unit>" (binary units: KiB, MiB, GiB; KB and K are read as KiB too, as HAProxy
 * and nginx do), or null when the text is not a size.
 */
export function parseSize(text: string): number | null {
  const m = /^\s*(\d+)\s*([A-Za-z]*)\s*$/.exec(text);
  if (!m) return null;
  const unit = UNITS[m[2]!.toLowerCase()];
  return unit === undefined ? null : Number(m[1]) * unit;
}

/** A size as a reader would write it: "256 KiB", "1 MiB", "100 bytes". */
export function formatSize(n: number): string {
  for (const [unit, name] of [[1024 ** 3, "GiB"], [1024 ** 2, "MiB"], [1024, "KiB"]] as const) {
    if (n >= unit && n % unit === 0) return `${n / unit} ${name}`;
  }
  return `${n} bytes`;
}
