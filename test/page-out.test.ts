// The compiled binary gives back the executable's start-up pages a moment after ready
// (src/os/page-out.ts), and relays as before afterwards: the pages it needs come back from the file.
import { afterEach, expect, test } from "bun:test";
import { chmodSync, copyFileSync } from "node:fs";
import { join } from "node:path";
import { simpleConfig, startAegis, tempDir, type Aegis } from "./helpers/aegis.ts";
import { startEcho, type Backend } from "./helpers/backends.ts";
import { ensureBinary } from "./helpers/build.ts";
import { connect } from "./helpers/client.ts";
import { executableResident } from "../src/os/page-out.ts";

let aegis: Aegis | null = null;
let echo: Backend | null = null;
afterEach(async () => {
  await aegis?.stop("SIGKILL");
  aegis = null;
  echo?.stop();
  echo = null;
});

test("3 s after ready the executable's start-up pages are given back, and the relay runs on", async () => {
  // A copy of its own: the kernel leaves alone pages that another process maps too, and other
  // tests' aegis processes may run the same dist/aegis.
  const binary = join(tempDir("aegis-page-out-"), "aegis");
  copyFileSync(ensureBinary(), binary);
  chmodSync(binary, 0o755);
  echo = startEcho();
  aegis = await startAegis(simpleConfig([echo.address]), { command: [binary], cwd: tempDir() });
  const line = await aegis.waitForLog((l) => l.msg === "start-up pages of the executable given back", 30_000);
  const before = line.resident_before as number;
  const after = line.resident_after as number;
  // Start-up touches tens of MiB of the runtime's code; what stays mapped right after is what the
  // Workers ran meanwhile.
  expect(before).toBeGreaterThan(8 * 2 ** 20);
  expect(after).toBeLessThan(before / 2);
  expect(executableResident(binary, aegis.proc.pid)).toBeLessThan(before);

  const client = await connect(aegis.port);
  client.write("after the page-out\n");
  await client.waitFor((t) => t === "after the page-out\n");
  client.socket.end();
}, 60_000);
