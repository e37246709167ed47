// watchConfig on real files: a save (in place or by rename) reloads once; other files in the folder do not.
import { afterEach, describe, expect, test } from "bun:test";
import type { FSWatcher } from "node:fs";
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { watchConfig } from "../../src/control/config-watch.ts";
import { waitFor } from "../helpers/wait.ts";

const watchers: FSWatcher[] = [];
const dirs: string[] = [];
afterEach(() => {
  for (const w of watchers.splice(0)) w.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function folder(): string {
  const dir = mkdtempSync(join(tmpdir(), "aegis-watch-"));
  dirs.push(dir);
  return dir;
}

/** Watch `path`; each reload it asks for records what the file held at that moment. */
function watched(path: string): { readonly seen: string[]; saw(text: string): boolean } {
  const seen: string[] = [];
  watchers.push(watchConfig(path, () => seen.push(readFileSync(path, "utf8").trim())));
  return { seen, saw: (text) => seen.includes(text) };
}

describe("watchConfig", () => {
  test("a burst of writes to the file asks for one reload, after the last write", async () => {
    const dir = folder();
    const path = join(dir, "aegis.toml");
    writeFileSync(path, "# v0");
    const w = watched(path);
    for (let i = 1; i <= 5; i++) writeFileSync(path, `# v${i}`);
    await waitFor(() => w.saw("# v5"), { what: "the reload after a burst of writes" });
    // A later save is a reload of its own; a burst that asked twice would show twice before it.
    writeFileSync(path, "# v6");
    await waitFor(() => w.saw("# v6"), { what: "the reload after the next save" });
    expect(w.seen).toEqual(["# v5", "# v6"]);
  });

  test("an editor's save by rename over the file asks for a reload", async () => {
    const dir = folder();
    const path = join(dir, "aegis.toml");
    writeFileSync(path, "# v0");
    const w = watched(path);
    const tmp = join(dir, ".aegis.toml.swp");
    writeFileSync(tmp, "# v1");
    renameSync(tmp, path);
    await waitFor(() => w.saw("# v1"), { what: "the reload after a rename over the file" });
    expect(w.seen).toEqual(["# v1"]);
  });

  test("a change to another file in the folder asks for nothing", async () => {
    const dir = folder();
    const a = join(dir, "a.toml");
    const b = join(dir, "b.toml");
    writeFileSync(a, "# a");
    writeFileSync(b, "# b");
    const wa = watched(a);
    const wb = watched(b);
    writeFileSync(a, "# a changed");
    await waitFor(() => wa.saw("# a changed"), { what: "a.toml's reload" });
    // Had b's watcher taken a's event, it would have reloaded b.toml unchanged ("# b") by now, or
    // at the latest before it sees b's own save below.
    writeFileSync(b, "# b changed");
    await waitFor(() => wb.saw("# b changed"), { what: "b.toml's reload" });
    expect(wb.seen).toEqual(["# b changed"]);
    expect(wa.seen).toEqual(["# a changed"]);
  });
});
