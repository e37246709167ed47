// Bearer-token check for the admin API, in constant time whatever the token's length or content.
import { createHash, timingSafeEqual } from "node:crypto";

export type AuthResult = "ok" | "missing" | "malformed" | "wrong";

/** Both sides are hashed first, so the comparison takes as long for a short guess as for a long one. */
export function sameSecret(given: string, expected: string): boolean {
  const digest = (s: string) => createHash("sha256").update(s).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

/** Checks an `Authorization` header value against the configured token. */
export function checkBearer(header: string | null, token: string): AuthResult {
  if (header === null || header.trim() === "") return "missing";
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  if (!match) return "malformed";
  return sameSecret(match[1]!, token) ? "ok" : "wrong";
}
