// [admin]: a token inline or in a file turns the admin API on; bad tokens are refused without being echoed.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfigFile, parseConfig } from "../src/config/load.ts";
import { MINIMAL, problemsOf } from "./config/helpers.ts";

const TOKEN = "0123456789abcdef0123456789abcdef";
const dir = mkdtempSync(join(tmpdir(), "aegis-admin-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("[admin]", () => {
  test("without a token the API is off", () => {
    expect(parseConfig(MINIMAL, "aegis.toml").admin).toBeUndefined();
  });

  test("an inline token turns it on", () => {
    expect(parseConfig(`[admin]\ntoken = "${TOKEN}"\n${MINIMAL}`, "aegis.toml").admin).toEqual({ token: TOKEN });
  });

  test("token_file is read relative to the config file, whitespace trimmed", () => {
    writeFileSync(join(dir, "admin.token"), `  ${TOKEN}\n`);
    const path = join(dir, "aegis.toml");
    writeFileSync(path, `[admin]\ntoken_file = "admin.token"\n${MINIMAL}`);
    expect(loadConfigFile(path).admin).toEqual({ token: TOKEN });
  });

  test("a missing token file is named", () => {
    const path = join(dir, "missing.toml");
    writeFileSync(path, `[admin]\ntoken_file = "nope.token"\n${MINIMAL}`);
    expect(() => loadConfigFile(path)).toThrow(`admin.token_file: cannot read ${JSON.stringify(join(dir, "nope.token"))}: no such file`);
  });

  test("a short token is refused, and the message does not repeat it", () => {
    const problems = problemsOf(`[admin]\ntoken = "hunter2"\n${MINIMAL}`);
    expect(problems).toEqual(["aegis.toml: admin.token: the token must be at least 16 printable characters without spaces (it has 7); make one with `openssl rand -hex 32`"]);
    expect(problems.join("\n")).not.toContain("hunter2");
  });

  test("token and token_file together, or a token with metrics off, are refused", () => {
    expect(problemsOf(`[admin]\ntoken = "${TOKEN}"\ntoken_file = "x"\n${MINIMAL}`)).toEqual(["aegis.toml: admin: give token or token_file, not both"]);
    expect(problemsOf(`[metrics]\nenabled = false\n[admin]\ntoken = "${TOKEN}"\n${MINIMAL}`)).toEqual([
      `aegis.toml: admin.token: the admin API is served on the metrics listener, which is off: remove "enabled = false" from [metrics]`,
    ]);
  });

  test("a key of [admin] written elsewhere is pointed there", () => {
    expect(problemsOf(`[metrics]\ntoken = "${TOKEN}"\n${MINIMAL}`)).toEqual([`aegis.toml: metrics: unknown key "token" (it belongs in [admin])`]);
  });
});
