// Where `aegis init` writes: the path asked first (an existing file settled before any other question),
// the final yes, and another path instead of losing the answers when the user says no or the write fails.
import { existsSync, statSync } from "node:fs";
import { resolve } from "node:path";
import * as p from "@clack/prompts";
import { sandboxHides } from "../service/command.ts";
import { STDOUT } from "./answers.ts";
import { answer, type WizardIO } from "./prompt.ts";

/** A bound on asking for a path again. */
const MAX_TRIES = 20;

export interface OutputChoice {
  output: string;
  /** The file exists and the user said to replace it. */
  overwrite: boolean;
}

/**
 * Asks where the file goes, prefilled with `suggested`. A path that exists is settled at once:
 * replace it (after the final yes) or choose another. `service`: warn when the unit's sandbox would
 * hide the path from the service. "-" means stdout.
 */
export async function askOutput(io: WizardIO, cwd: string, suggested: string, service: boolean): Promise<OutputChoice> {
  let initial = suggested;
  for (let i = 0; i < MAX_TRIES; i++) {
    const output = (await answer(p.text({
      ...io,
      message: `Where should the config file go? ("${STDOUT}" prints it instead)`,
      initialValue: initial,
      validate: (v) => pathProblem(cwd, v ?? ""),
    }))).trim();
    if (output === STDOUT) return { output, overwrite: false };
    const full = resolve(cwd, output);
    if (service) {
      const hidden = sandboxHides(full);
      if (hidden) p.log.warn(`The service would not see ${full}: ${hidden}. /etc/aegis/aegis.toml is where it looks.`, io);
    }
    if (!existsSync(full)) return { output, overwrite: false };
    const choice = await answer(p.select<"replace" | "other">({
      ...io,
      message: `${output} already exists. Replace it?`,
      options: [
        { value: "other", label: "No: choose another path" },
        { value: "replace", label: "Yes: replace it (after you have seen the new file and confirmed)" },
      ],
      initialValue: "other",
    }));
    if (choice === "replace") return { output, overwrite: true };
    initial = output;
  }
  throw new Error(`no path chosen after ${MAX_TRIES} tries`);
}

/** Why `value` cannot be written to, for the path prompt; undefined when it can be tried. */
export function pathProblem(cwd: string, value: string): string | undefined {
  const v = value.trim();
  if (v === "") return "a path is needed (or \"-\" to print the file)";
  if (v === STDOUT) return undefined;
  try {
    if (statSync(resolve(cwd, v)).isDirectory()) return `${v} is a directory: give a file name, e.g. ${v.replace(/\/$/, "")}/aegis.toml`;
  } catch {
    // Not there yet: it is created.
  }
  return undefined;
}

/**
 * The last question, after the summary and the file were shown: write it, write it somewhere
 * else (the answers are kept), or write nothing. `failed` says why the last try did not work.
 */
export async function askWrite(io: WizardIO, o: { output: string; overwrite: boolean; failed?: string }): Promise<"write" | "other" | "none"> {
  const message = o.failed ? `${o.failed}. Try again?`
    : o.overwrite ? `Replace ${o.output} with this file?` : `Write ${o.output}?`;
  return answer(p.select<"write" | "other" | "none">({
    ...io,
    message,
    options: [
      { value: "write", label: o.overwrite ? `Yes, replace ${o.output}` : `Yes, write ${o.output}` },
      { value: "other", label: "No: write it to another path (the answers are kept)" },
      { value: "none", label: "No: write nothing and quit" },
    ],
    initialValue: "write",
  }));
}
