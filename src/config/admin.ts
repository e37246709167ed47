// Reads [admin]: the token, written inline or in a file next to the config; no token, no admin API.
import type { Address, AdminConfig } from "./types.ts";
import { fromConfig, MAX_TOKEN_BYTES, readBoundedFile, readFailure } from "./read-file.ts";
import { quote } from "./quote.ts";

/** Printable ASCII without spaces, so it survives an HTTP header as written. */
const USABLE = /^[\x21-\x7e]{16,}$/;

/**
 * The admin settings, or undefined when the API is off or there were problems (pushed onto
 * `problems`). Messages never repeat the token: they end up in logs.
 */
export function readAdmin(
  v: { token?: string; token_file?: string },
  source: string,
  metricsListen: Address | null,
  problems: string[],
): AdminConfig | undefined {
  if (v.token !== undefined && v.token_file !== undefined) {
    problems.push("admin: give token or token_file, not both");
    return undefined;
  }
  const token = v.token_file !== undefined ? readTokenFile(v.token_file, source, problems) : v.token;
  if (token === undefined) return undefined;
  const key = v.token_file !== undefined ? "admin.token_file" : "admin.token";
  if (!USABLE.test(token)) {
    problems.push(`${key}: the token must be at least 16 printable characters without spaces (it has ${token.length}); make one with \`openssl rand -hex 32\``);
    return undefined;
  }
  if (!metricsListen) {
    problems.push(`${key}: the admin API is served on the metrics listener, which is off: remove "enabled = false" from [metrics]`);
    return undefined;
  }
  return { token };
}

function readTokenFile(path: string, source: string, problems: string[]): string | undefined {
  // Relative to the config file, so a unit file and a shell agree on which file it is.
  const full = fromConfig(source, path);
  try {
    // A regular file of a few KiB at most: /dev/zero or a FIFO here would hang or exhaust memory.
    return readBoundedFile(full, MAX_TOKEN_BYTES).toString("utf8").trim();
  } catch (e) {
    problems.push(`admin.token_file: cannot read ${quote(full)}: ${readFailure(e)}`);
    return undefined;
  }
}
