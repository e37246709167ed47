// SNI name patterns as HAProxy, Traefik and nginx users write them: exact names and one-label wildcards ("*.db.example.com"), matched without regexes.
//
// A wildcard stands for exactly one whole label, as in certificates (RFC 6125 6.4.3): "*.db.example.com"
// matches "a.db.example.com" but neither "db.example.com" nor "a.b.db.example.com". Matching is
// case-insensitive for ASCII only, and a trailing dot on either side is ignored.

/**
 * Why `p` is not a name pattern, worded to follow it in a config error (`"a*.x.com" has a "*" ...`);
 * undefined when it is one.
 */
export function checkNamePattern(p: string): string | undefined {
  const name = withoutDot(p);
  if (name === "") return "is empty";
  if (name === "*") return `is "*" alone, which matches every name: leave the SNI match out, or write "*.example.com"`;
  const rest = name.startsWith("*.") ? name.slice(2) : name;
  if (rest.includes("*")) return `has a "*" that is not the whole first label (write "*.example.com": any one label)`;
  if (name.length > 253) return "is longer than 253 characters";
  for (const label of rest.split(".")) {
    if (label === "") return "has an empty label";
    if (label.length > 63) return "has a label longer than 63 characters";
    for (let i = 0; i < label.length; i++) {
      if (!isNameChar(label.charCodeAt(i))) {
        return `has a character other than letters, digits, "-" and "_" (write an international name in its xn-- form)`;
      }
    }
  }
  return undefined;
}

/**
 * A matcher for `patterns` (each must pass checkNamePattern; an invalid one throws, since config
 * validation has already refused it). Exact names are one Set lookup; all the wildcards together
 * are one more, on the name without its first label. A null name (no SNI) matches nothing.
 */
export function compileNames(patterns: readonly string[]): (name: string | null) => boolean {
  const exact = new Set<string>();
  const suffixes = new Set<string>(); // ".db.example.com" for "*.db.example.com"
  for (const p of patterns) {
    const why = checkNamePattern(p);
    if (why !== undefined) throw new Error(`SNI pattern ${JSON.stringify(p)} ${why}`);
    const name = asciiLower(withoutDot(p));
    if (name.startsWith("*.")) suffixes.add(name.slice(1));
    else exact.add(name);
  }
  return (name) => {
    if (name === null) return false;
    const n = asciiLower(withoutDot(name));
    if (exact.has(n)) return true;
    if (suffixes.size === 0) return false;
    const dot = n.indexOf(".");
    return dot > 0 && suffixes.has(n.slice(dot));
  };
}

const withoutDot = (s: string) => (s.endsWith(".") ? s.slice(0, -1) : s);

/** Letters, digits, "-" and "_": underscores are not in RFC 952 host names, but real SNI carries them. */
function isNameChar(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x5f;
}

/**
 * Lower-cases A-Z only. String#toLowerCase would fold the Kelvin sign into "k", so a name no
 * pattern can spell would match one; and a name already lower-case (the parser's) is returned as is.
 */
function asciiLower(s: string): string {
  let i = 0;
  while (i < s.length && !(s.charCodeAt(i) >= 0x41 && s.charCodeAt(i) <= 0x5a)) i++;
  if (i === s.length) return s;
  let out = s.slice(0, i);
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    out += c >= 0x41 && c <= 0x5a ? String.fromCharCode(c + 32) : s[i];
  }
  return out;
}
