// parseClientHello on real ClientHellos from openssl and Bun, delivered whole, byte by byte, split across records, and on what is not TLS.
import { beforeAll, describe, expect, test } from "bun:test";
import { parseClientHello, type HelloResult } from "../../src/tls/client-hello.ts";
import { alpnData, bytesOf, captureHellos, helloFrom, helloMessage, partsOf, prng, records, serverNameData, type Hellos } from "./hellos.ts";

const MAX = 16_384;
let hellos: Hellos;
beforeAll(async () => {
  hellos = await captureHellos();
});

const ok = (r: HelloResult) => {
  if (r.status !== "ok") throw new Error(`expected ok, got ${JSON.stringify(r)}`);
  return r;
};
const whyOf = (r: HelloResult) => (r.status === "invalid" ? r.why : `(${r.status})`);
const concat = (...parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));

describe("real ClientHellos", () => {
  test("openssl, TLS 1.3: SNI, ALPN in the client's order, versions newest first", () => {
    const r = ok(parseClientHello(hellos.openssl, MAX));
    expect(r.serverName).toBe("db.example.com");
    expect(r.alpn).toEqual(["h2", "http/1.1"]);
    expect(r.legacyVersion).toBe(0x0303);
    expect(r.supportedVersions[0]).toBe(0x0304);
    expect(r.supportedVersions).toContain(0x0303);
  });

  test("openssl -tls1_2: no supported_versions, so the list is empty", () => {
    const r = ok(parseClientHello(hellos.tls12, MAX));
    expect(r).toEqual({ status: "ok", serverName: "db.example.com", alpn: [], legacyVersion: 0x0303, supportedVersions: [] });
  });

  test("openssl -noservername: serverName is null", () => {
    const r = ok(parseClientHello(hellos.noSni, MAX));
    expect(r.serverName).toBeNull();
    expect(r.alpn).toEqual([]);
    expect(r.supportedVersions).toContain(0x0304);
  });

  test("Bun.connect (BoringSSL): SNI, ALPN, TLS 1.3 and 1.2, and a hello of over 1400 bytes", () => {
    const r = ok(parseClientHello(hellos.bun, MAX));
    expect(r.serverName).toBe("db.example.com");
    expect(r.alpn).toEqual(["h2", "http/1.1"]);
    expect(r.supportedVersions).toContain(0x0304);
    expect(r.supportedVersions).toContain(0x0303);
    // The X25519MLKEM768 key share alone is 1216 bytes: on a 1500-byte MTU this hello can come in two segments.
    expect(hellos.bun.length).toBeGreaterThan(1400);
  });

  test("each client sends its hello in one record, with record version 3.1", () => {
    for (const h of Object.values(hellos)) {
      expect([h[0], h[1], h[2]]).toEqual([22, 3, 1]);
      expect(5 + ((h[3]! << 8) | h[4]!)).toBe(h.length);
    }
  });

  test("byte by byte: pending at every prefix, then the same ok as in one piece", () => {
    for (const h of Object.values(hellos)) {
      const whole = parseClientHello(h, MAX);
      for (let n = 0; n < h.length; n++) {
        const r = parseClientHello(h.subarray(0, n), MAX);
        // Until the record and handshake headers are in (9 bytes) the length is unknown; then the
        // whole hello's size (one record) is the least a caller must hold before asking again.
        expect(r).toEqual(n < 9 ? { status: "pending" } : { status: "pending", atLeast: h.length });
      }
      expect(parseClientHello(h.slice(), MAX)).toEqual(whole);
    }
  });

  test("in random chunks, accumulated as a session holds them: pending until the last, then ok", () => {
    const random = prng(1);
    for (const h of Object.values(hellos)) {
      const whole = parseClientHello(h, MAX);
      for (let round = 0; round < 50; round++) {
        let got = new Uint8Array(0);
        while (got.length < h.length) {
          expect(parseClientHello(got, MAX).status).toBe("pending");
          const n = 1 + Math.floor(random() * 200);
          got = concat(got, h.subarray(got.length, got.length + n));
        }
        expect(parseClientHello(got, MAX)).toEqual(whole);
      }
    }
  });

  test("bytes after a whole hello (0-RTT early data) are not read", () => {
    const earlyData = new Uint8Array([23, 3, 3, 0, 3, 1, 2, 3]);
    for (const h of Object.values(hellos)) expect(parseClientHello(concat(h, earlyData), MAX)).toEqual(parseClientHello(h, MAX));
  });
});

describe("a hello split across records", () => {
  const message = (h: Uint8Array) => h.subarray(5);

  test("two records, at every split point: ok and identical", () => {
    for (const h of [hellos.openssl, hellos.bun]) {
      const whole = parseClientHello(h, MAX);
      for (let at = 1; at < message(h).length; at += at < 8 ? 1 : 37) {
        expect(parseClientHello(records(message(h), [at]), MAX)).toEqual(whole);
      }
    }
  });

  test("byte by byte across the boundary, and records of 1 byte each: pending until whole", () => {
    const split = records(message(hellos.openssl), [100]);
    for (let n = 0; n < split.length; n++) expect(parseClientHello(split.subarray(0, n), MAX).status).toBe("pending");
    expect(parseClientHello(split, MAX)).toEqual(parseClientHello(hellos.openssl, MAX));
    const tiny = records(message(hellos.openssl), new Array(message(hellos.openssl).length).fill(1));
    expect(tiny.length).toBe(6 * message(hellos.openssl).length);
    expect(parseClientHello(tiny, 1 << 20)).toEqual(parseClientHello(hellos.openssl, MAX));
    expect(parseClientHello(tiny.subarray(0, tiny.length - 1), 1 << 20).status).toBe("pending");
  });

  test("another record type between the fragments is invalid as soon as its type byte is in", () => {
    const first = records(message(hellos.openssl).subarray(0, 50));
    const alert = new Uint8Array([21, 3, 3, 0, 2, 2, 40]);
    expect(whyOf(parseClientHello(concat(first, alert.subarray(0, 1)), MAX))).toBe("record of type 21 inside the ClientHello");
  });
});

describe("max_bytes", () => {
  test("a hello of exactly max_bytes is ok; one byte more is invalid once the handshake header is in", () => {
    const h = hellos.openssl;
    expect(parseClientHello(h, h.length).status).toBe("ok");
    expect(parseClientHello(h.subarray(0, 8), h.length - 1).status).toBe("pending");
    expect(whyOf(parseClientHello(h.subarray(0, 9), h.length - 1))).toBe("ClientHello larger than max_bytes");
  });

  test("a declared length that fits but record headers that push it past max_bytes: invalid at max_bytes", () => {
    const split = records(hellos.openssl.subarray(5), [100]);
    const max = split.length - 1;
    expect(parseClientHello(split.subarray(0, max - 1), max).status).toBe("pending");
    expect(whyOf(parseClientHello(split.subarray(0, max), max))).toBe("ClientHello not complete within max_bytes");
    expect(whyOf(parseClientHello(split, max))).toBe("ClientHello not complete within max_bytes");
  });

  test("max_bytes of 0, negative or NaN: nothing can be a hello", () => {
    for (const max of [0, -1, NaN]) expect(parseClientHello(hellos.openssl, max).status).toBe("invalid");
  });
});

describe("not TLS: invalid at the first byte", () => {
  test.each([
    ["HTTP", bytesOf("GET / HTTP/1.1\r\nHost: x\r\n\r\n")],
    ["redis", bytesOf("*1\r\n$4\r\nPING\r\n")],
    ["PostgreSQL SSLRequest", new Uint8Array([0x00, 0x00, 0x00, 0x08, 0x04, 0xd2, 0x16, 0x2f])],
    ["SSH", bytesOf("SSH-2.0-OpenSSH_9.2\r\n")],
  ])("%s", (_name, bytes) => {
    expect(parseClientHello(new Uint8Array(0), MAX)).toEqual({ status: "pending" });
    expect(parseClientHello(bytes.subarray(0, 1), MAX)).toEqual({ status: "invalid", why: "not TLS" });
    expect(parseClientHello(bytes, MAX)).toEqual({ status: "invalid", why: "not TLS" });
  });

  test("an SSLv2-style hello (top bit of the first byte set)", () => {
    const v2 = new Uint8Array([0x80, 0x2e, 0x01, 0x03, 0x01, 0x00, 0x15]);
    expect(whyOf(parseClientHello(v2.subarray(0, 1), MAX))).toBe("SSLv2-style hello (not supported)");
  });

  test.each([
    ["record version not 3.x", [22, 2], "record version is not 3.x"],
    ["an empty record", [22, 3, 1, 0, 0], "empty handshake record"],
    ["a record over 2^14", [22, 3, 1, 0x40, 0x01], "record longer than 2^14 bytes"],
    ["a ServerHello", [22, 3, 3, 0, 50, 2], "handshake type 2 is not ClientHello"],
  ])("%s, decided at its last byte", (_name, bytes, why) => {
    expect(parseClientHello(new Uint8Array(bytes.slice(0, -1)), MAX).status).toBe("pending");
    expect(whyOf(parseClientHello(new Uint8Array(bytes), MAX))).toBe(why);
  });
});

describe("edited real hellos", () => {
  const SNI = 0;
  const ALPN = 16;
  const VERSIONS = 43;
  const edit = (replace: Record<number, Uint8Array | null>, extra: [number, Uint8Array][] = []) => {
    const { head, extensions } = partsOf(hellos.openssl);
    const kept = extensions.flatMap(([t, d]): [number, Uint8Array][] => (t in replace ? (replace[t] ? [[t, replace[t]!]] : []) : [[t, d]]));
    return helloFrom(head, [...kept, ...extra]);
  };
  const name = (text: string) => serverNameData([[0, bytesOf(text)]]);

  test("taking a hello apart and back gives the same bytes", () => {
    for (const h of Object.values(hellos)) {
      const { head, extensions } = partsOf(h);
      expect(helloFrom(head, extensions)).toEqual(h);
    }
  });

  test("SNI is lower-cased; names of 255 bytes are ok, 256 not", () => {
    expect(ok(parseClientHello(edit({ [SNI]: name("DB.Example.COM") }), MAX)).serverName).toBe("db.example.com");
    const long = `${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(63)}`;
    expect(long.length).toBe(255);
    expect(ok(parseClientHello(edit({ [SNI]: name(long) }), MAX)).serverName).toBe(long);
    expect(whyOf(parseClientHello(edit({ [SNI]: name(`${long}e`) }), MAX))).toBe("host_name of 256 bytes");
  });

  test.each(["db.example.com\u0000", "db example.com", "d\u00e9.example.com", "db.example.com\u007f", "\u0001"])(
    "SNI %j: a byte outside printable ASCII is invalid",
    (text) => {
      expect(whyOf(parseClientHello(edit({ [SNI]: name(text) }), MAX))).toBe("host_name has a byte outside printable ASCII");
    },
  );

  test("server_name: two host_names, an empty one, an empty list are invalid; an unknown name type is skipped", () => {
    const two = serverNameData([[0, bytesOf("a.example.com")], [0, bytesOf("b.example.com")]]);
    expect(whyOf(parseClientHello(edit({ [SNI]: two }), MAX))).toBe("two host_name entries in server_name");
    expect(whyOf(parseClientHello(edit({ [SNI]: name("") }), MAX))).toBe("host_name of 0 bytes");
    expect(whyOf(parseClientHello(edit({ [SNI]: serverNameData([]) }), MAX))).toBe("empty server_name list");
    const other = serverNameData([[7, bytesOf("whatever")], [0, bytesOf("db.example.com")]]);
    expect(ok(parseClientHello(edit({ [SNI]: other }), MAX)).serverName).toBe("db.example.com");
    expect(ok(parseClientHello(edit({ [SNI]: serverNameData([[7, bytesOf("x")]]) }), MAX)).serverName).toBeNull();
  });

  test("ALPN: names are latin1 strings; an empty name or list is invalid", () => {
    const names = [bytesOf("h2"), new Uint8Array([0x68, 0xe9, 0xff]), bytesOf("x".repeat(255))];
    expect(ok(parseClientHello(edit({ [ALPN]: alpnData(names) }), MAX)).alpn).toEqual(["h2", "h\u00e9\u00ff", "x".repeat(255)]);
    expect(whyOf(parseClientHello(edit({ [ALPN]: alpnData([bytesOf("h2"), new Uint8Array(0)]) }), MAX))).toBe("empty ALPN protocol name");
    expect(whyOf(parseClientHello(edit({ [ALPN]: alpnData([]) }), MAX))).toBe("empty ALPN list");
  });

  test("supported_versions: an odd or empty list is invalid; GREASE values are kept as sent", () => {
    expect(whyOf(parseClientHello(edit({ [VERSIONS]: new Uint8Array([3, 3, 4, 3]) }), MAX))).toBe("supported_versions length is odd");
    expect(whyOf(parseClientHello(edit({ [VERSIONS]: new Uint8Array([0]) }), MAX))).toBe("empty supported_versions list");
    const grease = new Uint8Array([4, 0x7a, 0x7a, 3, 4]);
    expect(ok(parseClientHello(edit({ [VERSIONS]: grease }), MAX)).supportedVersions).toEqual([0x7a7a, 0x0304]);
  });

  test("an extension twice is invalid (RFC 8446 4.2), as soon as the second one's header is in", () => {
    const twice = edit({}, [[0x17, new Uint8Array(0)]]);
    const at = twice.length - 4;
    expect(parseClientHello(twice.subarray(0, at + 3), MAX).status).toBe("pending");
    expect(whyOf(parseClientHello(twice.subarray(0, at + 4), MAX))).toBe("extension 23 appears twice");
  });

  test("an extension whose length overruns the hello is invalid before its data arrives", () => {
    const h = edit({}, [[0x1234, new Uint8Array(8)]]);
    const at = h.length - 12; // this extension's header
    h[at + 2] = 0; // its length: 8 becomes 9, one more than the hello holds
    h[at + 3] = 9;
    expect(whyOf(parseClientHello(h.subarray(0, at + 4), MAX))).toBe("extension 4660 overruns its container");
  });

  test("no extensions block (allowed before TLS 1.3) is ok; bytes after the extensions are not", () => {
    const { head, extensions } = partsOf(hellos.tls12);
    expect(parseClientHello(helloFrom(head, null), MAX)).toEqual({ status: "ok", serverName: null, alpn: [], legacyVersion: 0x0303, supportedVersions: [] });
    const message = helloMessage(head, extensions);
    const trailing = concat(message, new Uint8Array([0]));
    new DataView(trailing.buffer).setUint32(0, (1 << 24) | (message.length - 3)); // type 1; the length covers the stray byte
    expect(whyOf(parseClientHello(records(trailing), MAX))).toBe("bytes after the extensions");
  });

  test("body fields: legacy_version not 3.x, a session id over 32 bytes, no cipher suite, no compression method", () => {
    const { head, extensions } = partsOf(hellos.tls12);
    const v2 = head.slice();
    v2[0] = 2;
    expect(whyOf(parseClientHello(helloFrom(v2, extensions), MAX))).toBe("legacy_version is not 3.x");
    const sid = head.slice();
    sid[34] = 33;
    expect(whyOf(parseClientHello(helloFrom(sid, extensions), MAX))).toBe("legacy_session_id longer than 32 bytes");
    const noSuites = concat(head.subarray(0, 35), new Uint8Array([0, 0, 1, 0]));
    expect(whyOf(parseClientHello(helloFrom(noSuites, extensions), MAX))).toBe("cipher_suites length is zero or odd");
    const noMethods = concat(head.subarray(0, 35), new Uint8Array([0, 2, 0x13, 0x01, 0]));
    expect(whyOf(parseClientHello(helloFrom(noMethods, extensions), MAX))).toBe("no compression method");
  });
});
