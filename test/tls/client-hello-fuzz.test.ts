// parseClientHello against hostile input: seeded random bytes, every truncation and single-byte edit of real hellos, and extreme length fields.
import { beforeAll, describe, expect, test } from "bun:test";
import { parseClientHello, type HelloResult } from "../../src/tls/client-hello.ts";
import { alpnData, captureHellos, helloFrom, prng, serverNameData, type Hellos } from "./hellos.ts";

const MAX = 16_384;
/** Each test is synchronous: a parse that looped forever would be stopped here instead of hanging the run. */
const TIMEOUT_MS = 20_000;
let hellos: Hellos;
let real: Uint8Array[];
beforeAll(async () => {
  hellos = await captureHellos();
  real = Object.values(hellos);
});

/** One of the three statuses, and an ok result that is what the parser promises: checked names, non-empty protocols, 16-bit versions. */
function wellFormed(r: HelloResult): string | null {
  if (r.status === "pending") {
    const extra = Object.keys(r).filter((k) => k !== "status");
    if (extra.length === 0) return null;
    // atLeast: the fewest stream bytes that can hold the hello (a record header and the 4-byte handshake header at least).
    return extra.length === 1 && extra[0] === "atLeast" && Number.isInteger(r.atLeast) && r.atLeast! >= 9 ? null : "pending with unknown fields";
  }
  if (r.status === "invalid") return typeof r.why === "string" && r.why.length > 0 ? null : "invalid without a reason";
  if (r.status !== "ok") return `status ${String((r as { status: unknown }).status)}`;
  if (r.serverName !== null && !/^[\x21-\x40\x5b-\x7e]{1,255}$/.test(r.serverName)) return `serverName ${JSON.stringify(r.serverName)}`;
  if (!r.alpn.every((p) => p.length >= 1 && p.length <= 255)) return "empty or long ALPN name";
  const u16 = (v: number) => Number.isInteger(v) && v >= 0 && v <= 0xffff;
  if (!u16(r.legacyVersion) || r.legacyVersion >> 8 !== 3 || !r.supportedVersions.every(u16)) return "versions out of range";
  return null;
}

/** Parses without letting a throw escape unnoticed, and says what was wrong with the result. */
function check(bytes: Uint8Array, max = MAX): HelloResult {
  let r: HelloResult;
  try {
    r = parseClientHello(bytes, max);
  } catch (err) {
    throw new Error(`threw on ${Buffer.from(bytes).toString("hex")}: ${err}`);
  }
  const bad = wellFormed(r);
  if (bad !== null) throw new Error(`${bad} on ${Buffer.from(bytes).toString("hex")}`);
  return r;
}

/** A decision is final: once a prefix is invalid or ok, every longer input says the same (bytes past an ok hello are not read). */
function expectFinal(bytes: Uint8Array, rng: () => number): void {
  const whole = check(bytes);
  const prefix = check(bytes.subarray(0, Math.floor(rng() * (bytes.length + 1))));
  const same = prefix.status === "pending" || (prefix.status === "ok" ? Bun.deepEquals(whole, prefix) : whole.status === "invalid");
  if (!same) throw new Error(`${JSON.stringify(prefix)} at a prefix became ${JSON.stringify(whole)} on ${Buffer.from(bytes).toString("hex")}`);
}

describe("fuzz", () => {
  test("20,000 seeded random inputs, half dressed as a handshake record so they get past the first byte", () => {
    const rng = prng(0x5eed);
    const statuses = { pending: 0, invalid: 0, ok: 0 };
    const reasons = new Set<string>();
    for (let i = 0; i < 20_000; i++) {
      const bytes = new Uint8Array(Math.floor(rng() * 600));
      for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(rng() * 256);
      if (i % 2 === 1 && bytes.length >= 11) {
        // A handshake record of about the input's length holding a ClientHello that about fills it, legacy_version 3.x:
        // lengths near the truth, some short and some long, so the walk gets into the body and past it.
        const record = Math.max(1, bytes.length - 5 + Math.floor(rng() * 20) - 10);
        const message = Math.max(0, record - 4 + Math.floor(rng() * 20) - 10);
        bytes.set([22, 3, 1, record >> 8, record & 0xff, 1, 0, message >> 8, message & 0xff, 3], 0);
      }
      const r = check(bytes);
      statuses[r.status]++;
      if (r.status === "invalid") reasons.add(r.why);
      expectFinal(bytes, rng);
    }
    // Random bytes die early, at the record layer or the first fields of the body: that is their job.
    expect(statuses.invalid).toBeGreaterThan(19_000);
    expect(reasons).toContain("not TLS");
    expect(reasons).toContain("legacy_session_id longer than 32 bytes");
  }, TIMEOUT_MS);

  test("5,000 random well-formed hellos parse to exactly what they were built from; the same with one byte edited never throws", () => {
    const rng = prng(7);
    const statuses = { pending: 0, invalid: 0, ok: 0 };
    const reasons = new Set<string>();
    for (let i = 0; i < 5_000; i++) {
      const { bytes, expected } = randomHello(rng);
      expect(check(bytes)).toEqual(expected);
      const edited = bytes.slice();
      edited[Math.floor(rng() * edited.length)] = Math.floor(rng() * 256);
      const r = check(edited);
      statuses[r.status]++;
      if (r.status === "invalid") reasons.add(r.why);
      expectFinal(edited, rng);
    }
    // One byte edited lands in a random field, the random or a key share most often: many stay ok.
    expect(statuses.ok).toBeGreaterThan(500);
    // ...and the rest reach the checks inside the extensions, not just the framing.
    const inside = ["host_name has a byte outside printable ASCII", "bytes after the server_name list", "bytes after the ALPN list", "bytes after the supported_versions list", "bytes after the extensions"];
    for (const why of inside) expect(reasons).toContain(why);
  }, TIMEOUT_MS);

  test("every truncation of every real hello is pending, and invalid once it reaches max_bytes", () => {
    for (const h of real) {
      for (let n = 0; n < h.length; n++) {
        expect(check(h.subarray(0, n)).status).toBe("pending");
        if (n > 0) expect(check(h.subarray(0, n), n).status).toBe("invalid");
      }
    }
  }, TIMEOUT_MS);

  test("random single-byte edits of real hellos, whole and truncated: never a throw, decisions final", () => {
    const rng = prng(42);
    for (const h of real) {
      for (let i = 0; i < 2_000; i++) {
        const bytes = h.slice();
        bytes[Math.floor(rng() * bytes.length)] = Math.floor(rng() * 256);
        check(bytes);
        expectFinal(bytes, rng);
      }
    }
  }, TIMEOUT_MS);

  test("every length field of every real hello set to 0 and to its maximum: never a throw; the maximum always overruns", () => {
    for (const h of real) {
      for (const { at, width } of lengthFields(h)) {
        for (const value of [0, 2 ** (8 * width) - 1]) {
          const bytes = h.slice();
          for (let k = 0; k < width; k++) bytes[at + k] = (value >> (8 * (width - 1 - k))) & 0xff;
          const r = check(bytes);
          // A 2- or 3-byte field at its maximum claims more than any container in a hello under 16 KB.
          if (width > 1 && value > 0) expect({ at, width, status: r.status }).toEqual({ at, width, status: "invalid" });
          for (let n = 0; n < bytes.length; n += 7) check(bytes.subarray(0, n));
        }
      }
    }
  }, TIMEOUT_MS);

  test("huge declared lengths with no max_bytes: pending while fragments keep coming, never a throw", () => {
    // A 16 MB ClientHello declared in full, then 1000 records of 1 byte: a good start and a 64 KB cipher_suites.
    const body = [3, 3, ...new Array(32).fill(7), 32, ...new Array(32).fill(9), 0xff, 0xfe];
    const fragments = Array.from({ length: 1000 }, (_, i) => [22, 3, 1, 0, 1, body[i] ?? 0x13]);
    const bytes = new Uint8Array([22, 3, 1, 0, 4, 1, 0xff, 0xff, 0xff, ...fragments.flat()]);
    expect(check(bytes, Infinity).status).toBe("pending");
    expect(check(bytes, 1 << 30).status).toBe("pending");
    expect(check(bytes)).toEqual({ status: "invalid", why: "ClientHello larger than max_bytes" });
  }, TIMEOUT_MS);
});

/** Where each length field of a well-formed one-record hello is, down into server_name, ALPN and supported_versions. */
function lengthFields(h: Uint8Array): { at: number; width: number }[] {
  const b = Buffer.from(h.buffer, h.byteOffset, h.byteLength);
  const fields = [{ at: 3, width: 2 }, { at: 6, width: 3 }];
  let p = 9 + 2 + 32;
  fields.push({ at: p, width: 1 });
  p += 1 + b[p]!;
  fields.push({ at: p, width: 2 });
  p += 2 + b.readUInt16BE(p);
  fields.push({ at: p, width: 1 });
  p += 1 + b[p]!;
  fields.push({ at: p, width: 2 });
  const end = p + 2 + b.readUInt16BE(p);
  for (p += 2; p < end; p += 4 + b.readUInt16BE(p + 2)) {
    fields.push({ at: p + 2, width: 2 });
    const type = b.readUInt16BE(p);
    if (type === 0) fields.push({ at: p + 4, width: 2 }, { at: p + 7, width: 2 });
    if (type === 16) fields.push({ at: p + 4, width: 2 }, { at: p + 6, width: 1 });
    if (type === 43) fields.push({ at: p + 4, width: 1 });
  }
  return fields;
}

/** A random ClientHello that follows every rule the parser checks, and the result it must give. */
function randomHello(rng: () => number): { bytes: Uint8Array; expected: HelloResult } {
  const int = (n: number) => Math.floor(rng() * n);
  const random = (n: number) => Uint8Array.from({ length: n }, () => int(256));
  const pick = <T>(xs: readonly T[]) => xs[int(xs.length)]!;
  const session = random(pick([0, 32, int(33)]));
  const suites = random(2 * (1 + int(40)));
  const methods = random(1 + int(3));
  const legacyVersion = 0x0300 + int(5);
  const head = new Uint8Array([legacyVersion >> 8, legacyVersion & 0xff, ...random(32), session.length, ...session, suites.length >> 8, suites.length & 0xff, ...suites, methods.length, ...methods]);
  let serverName: string | null = null;
  let alpn: string[] = [];
  let supportedVersions: number[] = [];
  const extensions: [number, Uint8Array][] = [];
  const used = new Set<number>();
  for (let n = int(10); n > 0; n--) {
    const type = pick([0, 16, 43, 10, 13, 0x33, int(0x10000)]);
    if (used.has(type)) continue;
    used.add(type);
    if (type === 0) {
      const name = Array.from({ length: 1 + int(pick([10, 255])) }, () => pick([..."abcXYZ019.-_*"])).join("");
      serverName = name.toLowerCase();
      extensions.push([type, serverNameData([[0, Buffer.from(name, "latin1")]])]);
    } else if (type === 16) {
      const names = Array.from({ length: 1 + int(4) }, () => random(1 + int(12)));
      alpn = names.map((b) => String.fromCharCode(...b));
      extensions.push([type, alpnData(names)]);
    } else if (type === 43) {
      supportedVersions = Array.from({ length: 1 + int(6) }, () => int(0x10000));
      extensions.push([type, new Uint8Array([2 * supportedVersions.length, ...supportedVersions.flatMap((v) => [v >> 8, v & 0xff])])]);
    } else {
      extensions.push([type, random(int(pick([4, 40, 300])))]);
    }
  }
  // Without extensions, half the time leave out even the block's length, as TLS 1.2 allowed.
  const bytes = helloFrom(head, extensions.length === 0 && rng() < 0.5 ? null : extensions);
  return { bytes, expected: { status: "ok", serverName, alpn, legacyVersion, supportedVersions } };
}
