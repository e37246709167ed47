// DNS messages (RFC 1035, SRV from RFC 2782, AAAA from RFC 3596): a query out, a strict parse of the answer.
export const TYPE = { A: 1, AAAA: 28, SRV: 33 } as const;
export type RecordType = keyof typeof TYPE;

export type DnsRecord =
  | { type: "A" | "AAAA"; name: string; ttl: number; address: string }
  | { type: "SRV"; name: string; ttl: number; priority: number; weight: number; port: number; target: string };

export interface DnsAnswer {
  id: number;
  /** 0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN, ... */
  rcode: number;
  truncated: boolean;
  answers: DnsRecord[];
  additional: DnsRecord[];
}

const RCODES: Record<number, string> = { 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED" };
export const rcodeName = (rcode: number): string => RCODES[rcode] ?? `rcode ${rcode}`;

/** A query for `name`, recursion desired. */
export function encodeQuery(id: number, name: string, type: RecordType): Uint8Array {
  const labels = name.replace(/\.$/, "").split(".");
  const qname = labels.reduce((n, l) => n + 1 + Buffer.byteLength(l), 1);
  const out = Buffer.alloc(12 + qname + 4);
  out.writeUInt16BE(id, 0);
  out.writeUInt16BE(0x0100, 2); // RD
  out.writeUInt16BE(1, 4); // QDCOUNT
  let at = 12;
  for (const label of labels) {
    const bytes = Buffer.from(label);
    if (bytes.length === 0 || bytes.length > 63) throw new Error(`${JSON.stringify(name)} has an empty or over-long label`);
    out[at++] = bytes.length;
    bytes.copy(out, at);
    at += bytes.length;
  }
  out[at++] = 0;
  out.writeUInt16BE(TYPE[type], at);
  out.writeUInt16BE(1, at + 2); // IN
  return out;
}

class Malformed extends Error {}

/** A name at `at`, following compression pointers (each must point backwards, so no loop), and where it ends. */
function readName(b: Buffer, at: number): [string, number] {
  const labels: string[] = [];
  let end = -1;
  let pos = at;
  for (let hops = 0; ; hops++) {
    if (pos >= b.length) throw new Malformed("a name runs past the end");
    const len = b[pos]!;
    if ((len & 0xc0) === 0xc0) {
      if (pos + 1 >= b.length) throw new Malformed("a compression pointer is cut short");
      const target = ((len & 0x3f) << 8) | b[pos + 1]!;
      if (target >= pos || hops > 64) throw new Malformed("a compression pointer does not point backwards");
      if (end < 0) end = pos + 2;
      pos = target;
      continue;
    }
    if (len & 0xc0) throw new Malformed("a label has a reserved length form");
    if (len === 0) {
      if (end < 0) end = pos + 1;
      break;
    }
    if (pos + 1 + len > b.length) throw new Malformed("a label runs past the end");
    labels.push(b.toString("latin1", pos + 1, pos + 1 + len));
    if (labels.length > 127) throw new Malformed("a name has too many labels");
    pos += 1 + len;
  }
  return [labels.join(".").toLowerCase(), end];
}

function ipv6(b: Buffer, at: number): string {
  const groups: string[] = [];
  for (let i = 0; i < 8; i++) groups.push(b.readUInt16BE(at + 2 * i).toString(16));
  // The shortest form (RFC 5952): the longest run of two or more zero groups becomes "::".
  let best = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== "0") { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === "0") j++;
    if (j - i > bestLen && j - i > 1) { best = i; bestLen = j - i; }
    i = j;
  }
  if (best < 0) return groups.join(":");
  return `${groups.slice(0, best).join(":")}::${groups.slice(best + bestLen).join(":")}`;
}

/** Parse `bytes` as the answer to query `id` for `name`/`type`; a string says why it is refused. */
export function parseAnswer(bytes: Uint8Array, id: number, name: string, type: RecordType): DnsAnswer | string {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  try {
    if (b.length < 12) return "the answer is shorter than a DNS header";
    if (b.readUInt16BE(0) !== id) return "the answer's id is not the query's";
    const flags = b.readUInt16BE(2);
    if (!(flags & 0x8000)) return "the message is not an answer";
    const counts = [4, 6, 8, 10].map((o) => b.readUInt16BE(o)) as [number, number, number, number];
    if (counts[0] !== 1) return "the answer does not echo exactly one question";
    let at = 12;
    const [qname, afterName] = readName(b, at);
    if (afterName + 4 > b.length) return "the question is cut short";
    if (qname !== name.replace(/\.$/, "").toLowerCase() || b.readUInt16BE(afterName) !== TYPE[type]) return "the answer is for another question";
    at = afterName + 4;
    const sections: DnsRecord[][] = [[], [], []];
    for (let s = 0; s < 3; s++) {
      for (let i = 0; i < counts[s + 1]!; i++) {
        const [rname, end] = readName(b, at);
        if (end + 10 > b.length) throw new Malformed("a record header runs past the end");
        const rtype = b.readUInt16BE(end);
        // RFC 2181 §8: a TTL with the top bit set is read as 0.
        const raw = b.readUInt32BE(end + 4);
        const ttl = raw > 0x7fffffff ? 0 : raw;
        const rdlen = b.readUInt16BE(end + 8);
        const data = end + 10;
        if (data + rdlen > b.length) throw new Malformed("a record's data runs past the end");
        at = data + rdlen;
        if (rtype === TYPE.A) {
          if (rdlen !== 4) throw new Malformed("an A record is not 4 bytes");
          sections[s]!.push({ type: "A", name: rname, ttl, address: `${b[data]}.${b[data + 1]}.${b[data + 2]}.${b[data + 3]}` });
        } else if (rtype === TYPE.AAAA) {
          if (rdlen !== 16) throw new Malformed("an AAAA record is not 16 bytes");
          sections[s]!.push({ type: "AAAA", name: rname, ttl, address: ipv6(b, data) });
        } else if (rtype === TYPE.SRV) {
          if (rdlen < 7) throw new Malformed("an SRV record is too short");
          const [target, tend] = readName(b, data + 6);
          if (tend > data + rdlen) throw new Malformed("an SRV target runs past its record");
          sections[s]!.push({ type: "SRV", name: rname, ttl, priority: b.readUInt16BE(data), weight: b.readUInt16BE(data + 2), port: b.readUInt16BE(data + 4), target });
        } // other types (CNAME, OPT, SOA) are skipped: their data was bounds-checked above
      }
    }
    return { id, rcode: flags & 0x0f, truncated: (flags & 0x0200) !== 0, answers: sections[0]!, additional: sections[2]! };
  } catch (err) {
    if (err instanceof Malformed || err instanceof RangeError) return `the answer is malformed: ${err.message}`;
    throw err;
  }
}
