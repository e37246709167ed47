// Rewrites the config reference block of README.md from src/config/schema.ts; `--check` only reports drift.
import { readFileSync, writeFileSync } from "node:fs";
import { renderReference, replaceReference } from "../src/config/reference.ts";

const path = new URL("../README.md", import.meta.url).pathname;
const before = readFileSync(path, "utf8");
const after = replaceReference(before, renderReference());
if (process.argv.includes("--check")) {
  if (before !== after) {
    console.error("README.md: the config reference is out of date: run `bun scripts/readme-reference.ts`");
    process.exit(1);
  }
  console.log("README.md: the config reference is up to date");
} else if (before !== after) {
  writeFileSync(path, after);
  console.log("README.md: config reference rewritten");
} else {
  console.log("README.md: the config reference was already up to date");
}
