// Compiles aegis into one executable, dist/aegis, with the Worker embedded as a second entry point.
import { $ } from "bun";

const root = new URL("..", import.meta.url).pathname;
const commit = (await $`git rev-parse --short HEAD`.cwd(root).nothrow().quiet().text()).trim() || "unknown";
const date = new Date().toISOString().slice(0, 10);

// The Worker must be its own entry point, or the binary loads it from disk and fails elsewhere.
const result = await $`bun build --compile --minify --bytecode --format=esm \
  --define AEGIS_COMMIT=${JSON.stringify(commit)} --define AEGIS_BUILD_DATE=${JSON.stringify(date)} \
  src/main.ts src/worker.ts --outfile dist/aegis`.cwd(root).nothrow();
if (result.exitCode !== 0) process.exit(result.exitCode);
