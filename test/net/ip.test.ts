import { describe, expect, test } from "bun:test";
import { formatIp, isV4, newIpWords, parseIp } from "../../src/net/ip.ts";
import { formatCidr, parseCidr, type Cidr } from "../../src/net/cidr.ts";

const words = (text: string) => {
  const w = newIpWords();
  expect(parseIp(text, w)).toBe(true);
  return [...w];
};

describe("parseIp", () => {
  test("IPv4 is stored IPv4-mapped, so both spellings are one client", () => {
    expect(words("10.1.2.3")).toEqual([0, 0, 0xffff, 0x0a010203]);
    expect(words("::ffff:10.1.2.3")).toEqual(words("10.1.2.3"));
    expect(words("::FFFF:a01:203")).toEqual(words("10.1.2.3"));
    expect(isV4(Uint32Array.from(words("255.255.255.255")))).toBe(true);
  });

  test("every RFC 4291 text form of IPv6, and a zone is ignored", () => {
    expect(words("::1")).toEqual([0, 0, 0, 1]);
    expect(words("::")).toEqual([0, 0, 0, 0]);
    expect(words("2001:db8::")).toEqual([0x20010db8, 0, 0, 0]);
    expect(words("2001:DB8:0:0:8:800:200C:417A")).toEqual([0x20010db8, 0, 0x00080800, 0x200c417a]);
    expect(words("fe80::1%eth0")).toEqual([0xfe800000, 0, 0, 1]);
    expect(words("1:2:3:4:5:6:7::")).toEqual([0x00010002, 0x00030004, 0x00050006, 0x00070000]);
    expect(words("::2:3:4:5:6:7:8")).toEqual([0x00000002, 0x00030004, 0x00050006, 0x00070008]);
  });

  test.each([
    "", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1..2.3", "a.b.c.d", "1.2.3.4 ",
    ":::", "1::2::3", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "12345::", "g::", ":1", "1:", "::1.2.3", "1:2:3:4:5:6:7:1.2.3.4",
  ])("%p is not an address", (text) => {
    expect(parseIp(text, newIpWords())).toBe(false);
  });

  test("formatIp prints the canonical forms", () => {
    expect(formatIp(words("::ffff:127.0.0.1"))).toBe("127.0.0.1");
    expect(formatIp(words("2001:0db8:0000:0000:0000:0000:0000:0001"))).toBe("2001:db8::1");
    expect(formatIp(words("::1"))).toBe("::1");
  });
});

describe("parseCidr", () => {
  test("blocks and bare addresses, IPv4 counted in the 128-bit space", () => {
    expect(parseCidr("10.0.0.0/8")).toEqual({ words: [0, 0, 0xffff, 0x0a000000], bits: 104 });
    expect(parseCidr("192.168.1.7")).toEqual({ words: [0, 0, 0xffff, 0xc0a80107], bits: 128 });
    expect(parseCidr("::1")).toEqual({ words: [0, 0, 0, 1], bits: 128 });
    expect(parseCidr("0.0.0.0/0")).toEqual({ words: [0, 0, 0xffff, 0], bits: 96 });
    expect(formatCidr(parseCidr("2001:DB8::/32") as Cidr)).toBe("2001:db8::/32");
    expect(formatCidr(parseCidr("10.0.0.0/8") as Cidr)).toBe("10.0.0.0/8");
    expect(formatCidr(parseCidr("::ffff:10.0.0.0/104") as Cidr)).toBe("10.0.0.0/8");
  });

  test("mistakes are explained", () => {
    expect(parseCidr("10.0.0.1/8")).toBe(`has host bits set (did you mean "10.0.0.0/8"?)`);
    expect(parseCidr("2001:db8::1/32")).toBe(`has host bits set (did you mean "2001:db8::/32"?)`);
    expect(parseCidr("10.0.0.0/33")).toBe("has an invalid prefix length (0 to 32 for IPv4)");
    expect(parseCidr("::/129")).toBe("has an invalid prefix length (0 to 128 for IPv6)");
    expect(parseCidr("10.0.0.0/")).toContain("invalid prefix length");
    expect(parseCidr("localhost")).toContain("is not an IP address or CIDR");
  });
});
