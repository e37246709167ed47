// The import-direction test: every reference between files of src/ runs down the layering in test/layering.ts.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO } from "./helpers/aegis.ts";
import { edgesOf, formatViolation, RANKS, ROOTS, sourceFiles, unitOf, unplaced, violations, type Edge } from "./layering.ts";

const SRC = join(REPO, "src");
const files = sourceFiles(SRC);
const edges = files.flatMap((f) => edgesOf(f, readFileSync(join(SRC, f), "utf8")));
const edge = (from: string, to: string, kind: Edge["kind"] = "import"): Edge => ({ from, to, specifier: to, kind });

describe("layering", () => {
  test("every file of src/ sits in a ranked folder (or is a ranked file at the top)", () => {
    expect(files.length).toBeGreaterThan(50);
    expect(unplaced(files)).toEqual([]);
  });

  test("every import, re-export, import() and Worker path in src/ runs down the ranks", () => {
    // One line a violation: the file, the import as written and resolved, and the two ranks.
    expect(violations(edges).map(formatViolation)).toEqual([]);
  });

  test("the README's \"How aegis is built\" names every ranked folder and file", () => {
    const readme = readFileSync(join(REPO, "README.md"), "utf8");
    const start = readme.indexOf("## How aegis is built");
    expect(start).toBeGreaterThanOrEqual(0);
    const end = readme.indexOf("\n## ", start + 1);
    const section = readme.slice(start, end < 0 ? undefined : end);
    const missing = Object.keys(RANKS).filter((u) => !section.includes(u.endsWith(".ts") ? `src/${u}` : `src/${u}/`));
    expect(missing).toEqual([]);
  });
});

describe("the checker", () => {
  test("finds the references a file makes, of every kind, type-only ones too", () => {
    const text = [
      `// import { nope } from "./commented.ts";`,
      `import { a } from "../config/types.ts";`,
      `import type { B } from "./b.ts";`,
      `import {`,
      `  c,`,
      `  type D,`,
      `} from "../net/ip.ts";`,
      `export { e } from "../os/descriptors.ts";`,
      `export * from "./f.ts";`,
      `import { readFileSync } from "node:fs";`,
      `const g = await import("../cli/init/command.ts");`,
      `let h: import("../health/probe.ts").Probe;`,
      `const w = new Worker(new URL("../worker.ts", import.meta.url).href);`,
      `const page = new URL("http://[::1]/");`,
      `const s = "import { x } from './in-a-string.ts'";`,
    ].join("\n");
    expect(edgesOf("data/plane.ts", text).map((e) => `${e.kind} ${e.to}`)).toEqual([
      "import config/types.ts",
      "import data/b.ts",
      "import net/ip.ts",
      "export os/descriptors.ts",
      "export data/f.ts",
      "dynamic cli/init/command.ts",
      "import health/probe.ts",
      "worker worker.ts",
    ]);
  });

  test("an upward edge, a same-rank edge and an import of a root are violations; downward and own-folder edges are not", () => {
    const found = violations([
      edge("config/fields.ts", "admission/token-bucket.ts"),
      edge("telemetry/metrics-server.ts", "admin/api.ts"),
      edge("data/session.ts", "control/messages.ts"),
      edge("control/supervisor.ts", "worker.ts", "worker"),
      edge("cli/help.ts", "main-thread.ts"),
      edge("admission/acl.ts", "net/cidr.ts"),
      edge("admission/acl.ts", "admission/token-bucket.ts"),
      edge("worker.ts", "control/messages.ts"),
      edge("main.ts", "main-thread.ts"),
      edge("main.ts", "worker.ts", "worker"),
      edge("version.ts", "../package.json"),
    ]);
    expect(found.map(formatViolation)).toEqual([
      `src/config/fields.ts: import "admission/token-bucket.ts" (src/admission/token-bucket.ts): config (rank 1) imports upward into admission (rank 4)`,
      `src/telemetry/metrics-server.ts: import "admin/api.ts" (src/admin/api.ts): telemetry (rank 3) imports upward into admin (rank 7)`,
      `src/data/session.ts: import "control/messages.ts" (src/control/messages.ts): data and control share rank 6: neither may import the other`,
      `src/control/supervisor.ts: worker "worker.ts" (src/worker.ts): worker.ts is a composition root: nothing imports it`,
      `src/cli/help.ts: import "main-thread.ts" (src/main-thread.ts): main-thread.ts is a composition root: nothing imports it`,
    ]);
  });

  test("a folder in no rank fails, on either end of an edge and as a file", () => {
    expect(unitOf("nowhere/lookup.ts")).toBe("nowhere");
    expect(unplaced(["config/load.ts", "nowhere/lookup.ts", "stray.ts"])).toEqual(["nowhere/lookup.ts", "stray.ts"]);
    expect(violations([edge("nowhere/lookup.ts", "net/ip.ts"), edge("data/plane.ts", "nowhere/lookup.ts")]).map((v) => v.why)).toEqual([
      "nowhere is in no rank: add it to RANKS in test/layering.ts and to the README",
      "nowhere is in no rank: add it to RANKS in test/layering.ts and to the README",
    ]);
  });

  test("the roots are ranked above every folder", () => {
    const top = Math.max(...Object.entries(RANKS).filter(([u]) => !ROOTS.has(u)).map(([, r]) => r));
    for (const root of ROOTS) expect(RANKS[root]!).toBeGreaterThan(top);
  });
});
