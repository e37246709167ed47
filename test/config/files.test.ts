// Files the operator names (the config, [admin] token_file) are read only when they are regular
// files of a sane size: /dev/zero, /dev/urandom or a FIFO would otherwise be read without end.
import { afterAll, describe, expect, test } from "bun:test";
import { closeSync, existsSync, ftruncateSync, mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfigFile } from "../../src/config/load.ts";
import { MAX_CONFIG_BYTES, MAX_TOKEN_BYTES, readBoundedFile } from "../../src/config/read-file.ts";
import { SOURCE_COMMAND } from "../helpers/aegis.ts";
import { configError, MINIMAL } from "./helpers.ts";

const TOKEN = "0123456789abcdef0123456789abcdef";
const dir = mkdtempSync(join(tmpdir(), "aegis-files-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A file of `size` bytes without writing them (a sparse file): big without being slow. */
function sparseFile(name: string, size: number, start = ""): string {
  const path = join(dir, name);
  writeFileSync(path, start);
  const fd = openSync(path, "r+");
  ftruncateSync(fd, size);
  closeSync(fd);
  return path;
}

/** A named pipe nobody writes to: opening it for reading without O_NONBLOCK would wait forever. */
function fifo(name: string): string {
  const path = join(dir, name);
  const made = Bun.spawnSync(["mkfifo", path]);
  if (made.exitCode !== 0) throw new Error(`mkfifo failed: ${made.stderr.toString()}`);
  return path;
}

describe("the config file", () => {
  test.each([
    ["/dev/zero", "a character device"],
    ["/dev/urandom", "a character device"],
  ])("%s is refused without reading it", (path, kind) => {
    expect(configError(() => loadConfigFile(path)).message).toBe(`${path}: cannot read the config file: it is ${kind}, not a regular file`);
  });

  test("a FIFO is refused, not waited on", () => {
    const path = fifo("config.fifo");
    expect(configError(() => loadConfigFile(path)).message).toBe(`${path}: cannot read the config file: it is a FIFO (named pipe), not a regular file`);
  });

  test("a file over 16 MiB is refused; one of exactly 16 MiB is read", () => {
    const big = sparseFile("big.toml", MAX_CONFIG_BYTES + 1);
    expect(configError(() => loadConfigFile(big)).message).toBe(`${big}: cannot read the config file: it is 16777217 bytes, over the limit of 16 MiB`);
    // 16 MiB of a comment line then NULs: read whole, then refused by the TOML parser, not by size.
    const edge = sparseFile("edge.toml", MAX_CONFIG_BYTES, "# x\n");
    expect(configError(() => loadConfigFile(edge)).message).not.toContain("over the limit");
  });

  test("readBoundedFile returns the bytes of a small file, and refuses a /proc file past its limit", () => {
    const small = join(dir, "small.txt");
    writeFileSync(small, "hello\n");
    expect(readBoundedFile(small, 6).toString()).toBe("hello\n");
    expect(() => readBoundedFile(small, 5)).toThrow("it is 6 bytes, over the limit of 5 bytes");
    // fstat says 0 bytes for /proc files, so the limit is enforced while reading.
    if (existsSync("/proc/self/maps")) {
      expect(() => readBoundedFile("/proc/self/maps", 16)).toThrow("it is over the limit of 16 bytes (it grew while being read)");
    }
  });
});

describe("[admin] token_file", () => {
  const configWith = (tokenFile: string) => {
    const path = join(dir, `token-${Math.random().toString(36).slice(2)}.toml`);
    writeFileSync(path, `[admin]\ntoken_file = ${JSON.stringify(tokenFile)}\n${MINIMAL}`);
    return path;
  };

  test("/dev/zero is refused without reading it", () => {
    const path = configWith("/dev/zero");
    expect(configError(() => loadConfigFile(path)).problems).toEqual([
      `${path}:2:1: admin.token_file: cannot read "/dev/zero": it is a character device, not a regular file`,
    ]);
  });

  test("a FIFO is refused, not waited on", () => {
    const pipe = fifo("token.fifo");
    const path = configWith(pipe);
    expect(configError(() => loadConfigFile(path)).problems).toEqual([
      `${path}:2:1: admin.token_file: cannot read ${JSON.stringify(pipe)}: it is a FIFO (named pipe), not a regular file`,
    ]);
  });

  test("a token file over 4 KiB is refused; a token at the limit is read", () => {
    const big = join(dir, "big.token");
    writeFileSync(big, `${TOKEN}\n`.padEnd(MAX_TOKEN_BYTES + 1, " "));
    const path = configWith(big);
    expect(configError(() => loadConfigFile(path)).problems).toEqual([
      `${path}:2:1: admin.token_file: cannot read ${JSON.stringify(big)}: it is 4097 bytes, over the limit of 4 KiB`,
    ]);
    writeFileSync(big, `${TOKEN}\n`.padEnd(MAX_TOKEN_BYTES, " "));
    expect(loadConfigFile(path).admin).toEqual({ token: TOKEN });
  });
});

describe("through the real command line", () => {
  /** `aegis --config <path>`, killed after 20 s so a regression fails instead of eating memory. */
  async function run(path: string): Promise<{ code: number | null; stderr: string }> {
    const proc = Bun.spawn([...SOURCE_COMMAND, "--config", path], { cwd: dir, stdin: "ignore", stdout: "ignore", stderr: "pipe" });
    const timer = setTimeout(() => proc.kill("SIGKILL"), 20_000);
    const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
    clearTimeout(timer);
    return { code, stderr };
  }

  test("--config /dev/zero exits 2 with a one-line reason", async () => {
    const r = await run("/dev/zero");
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("aegis: invalid config\n/dev/zero: cannot read the config file: it is a character device, not a regular file\n");
  });

  test("token_file = \"/dev/zero\" exits 2 with a short reason", async () => {
    const path = configWith("/dev/zero");
    const r = await run(path);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`admin.token_file: cannot read "/dev/zero": it is a character device, not a regular file`);
    expect(r.stderr.length).toBeLessThan(500);
  });

  function configWith(tokenFile: string): string {
    const path = join(dir, "cli-token.toml");
    writeFileSync(path, `[admin]\ntoken_file = ${JSON.stringify(tokenFile)}\n${MINIMAL}`);
    return path;
  }
});
