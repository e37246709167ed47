import { describe, expect, test } from "bun:test";
import { newIpWords, parseIp } from "../../src/net/ip.ts";
import { AccessList } from "../../src/admission/acl.ts";

const words = (text: string) => {
  const w = newIpWords();
  expect(parseIp(text, w)).toBe(true);
  return [...w];
};

describe("AccessList", () => {
  const admits = (acl: AccessList, ip: string) => acl.admits(Uint32Array.from(words(ip)));

  test("an empty allow list admits everyone not denied; deny wins over allow", () => {
    const acl = new AccessList([], ["10.0.0.0/8", "2001:db8::/32"]);
    expect(admits(acl, "10.9.9.9")).toBe(false);
    expect(admits(acl, "::ffff:10.9.9.9")).toBe(false);
    expect(admits(acl, "11.0.0.1")).toBe(true);
    expect(admits(acl, "2001:db8:1::5")).toBe(false);
    expect(admits(acl, "2001:db9::5")).toBe(true);
    const both = new AccessList(["10.0.0.0/8"], ["10.1.0.0/16"]);
    expect(admits(both, "10.2.3.4")).toBe(true);
    expect(admits(both, "10.1.3.4")).toBe(false);
    expect(admits(both, "192.168.0.1")).toBe(false);
  });

  test("IPv4 rules match IPv4-mapped clients; an IPv6 rule spanning ::ffff:0:0/96 matches IPv4 too", () => {
    const acl = new AccessList(["127.0.0.1/32", "::1/128"], []);
    expect(admits(acl, "::ffff:127.0.0.1")).toBe(true);
    expect(admits(acl, "::1")).toBe(true);
    expect(admits(acl, "127.0.0.2")).toBe(false);
    expect(admits(new AccessList(["::/0"], []), "1.2.3.4")).toBe(true);
    expect(admits(new AccessList(["0.0.0.0/0"], []), "::2")).toBe(false);
  });

  test("thousands of IPv4 blocks cost a lookup per distinct prefix length", () => {
    const blocks = Array.from({ length: 5000 }, (_, i) => `10.${i >> 8}.${i & 255}.0/24`);
    const acl = new AccessList([], blocks);
    expect(admits(acl, "10.19.135.200")).toBe(false); // 5000 > 19 * 256 + 135
    expect(admits(acl, "10.19.136.1")).toBe(true);
    // The cost, counted rather than timed (a busy machine makes any time bound a guess): set
    // lookups per check, which stay at the number of distinct prefix lengths.
    const lookups = (list: AccessList, address: string) => {
      const w = Uint32Array.from(words(address));
      const has = Set.prototype.has;
      let calls = 0;
      Set.prototype.has = function (this: Set<unknown>, value: unknown) { calls++; return has.call(this, value); };
      try {
        list.admits(w);
      } finally {
        Set.prototype.has = has;
      }
      return calls;
    };
    expect(lookups(acl, "10.200.1.1")).toBe(1); // 5000 blocks, one length
    expect(lookups(acl, "10.19.135.200")).toBe(1);
    const mixed = new AccessList([], [...blocks, "192.168.0.0/16", "172.16.0.0/12", "203.0.113.7/32"]);
    expect(lookups(mixed, "10.200.1.1")).toBe(4); // 5003 blocks, four lengths
    expect(admits(mixed, "172.20.1.1")).toBe(false);
  });
});
