// Rewrites what is generated from src/config/schema.ts: the config reference block of README.md and
// the config object type src/config/input.ts; `--check` only reports drift.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { renderReference, replaceReference } from "../src/config/reference.ts";
import { renderInputType } from "../src/config/input-type.ts";

const targets = [
  { name: "README.md: the config reference", path: new URL("../README.md", import.meta.url).pathname, render: (before: string) => replaceReference(before, renderReference()) },
  { name: "src/config/input.ts: the config object type", path: new URL("../src/config/input.ts", import.meta.url).pathname, render: () => renderInputType() },
];
let stale = false;
for (const t of targets) {
  const before = existsSync(t.path) ? readFileSync(t.path, "utf8") : "";
  const after = t.render(before);
  if (process.argv.includes("--check")) {
    if (before !== after) {
      console.error(`${t.name} is out of date: run \`bun scripts/readme-reference.ts\``);
      stale = true;
    } else console.log(`${t.name} is up to date`);
  } else if (before !== after) {
    writeFileSync(t.path, after);
    console.log(`${t.name}: rewritten`);
  } else {
    console.log(`${t.name} was already up to date`);
  }
}
if (stale) process.exit(1);
