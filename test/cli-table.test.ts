// The command table (src/cli/commands.ts) against the parsers of init and service, which read their
// own options: every option the help, man page and completions promise is one the command accepts.
import { describe, expect, test } from "bun:test";
import { UsageError } from "../src/cli/args.ts";
import { commandSpec } from "../src/cli/commands.ts";
import { parseInitFlags } from "../src/cli/init/flags.ts";
import { parseServiceArgs } from "../src/cli/service/command.ts";
import { tempDir } from "./helpers/aegis.ts";

/** The error a parse throws, or null: a bad value is fine here, an unknown option is not. */
function problem(parse: () => unknown): string | null {
  try {
    parse();
    return null;
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    return e.message;
  }
}

describe("the table's options are the parsers' options", () => {
  for (const [command, parse] of [
    ["init", (argv: string[]) => parseInitFlags(argv, undefined, tempDir())],
    ["service", (argv: string[]) => parseServiceArgs(["install", ...argv])],
  ] as const) {
    test(`${command}: every documented option and short form is accepted`, () => {
      const spec = commandSpec(command)!;
      expect(spec.ownParser).toBe(true);
      for (const o of spec.options) {
        for (const flag of [o.long, ...(o.short ? [o.short] : [])]) {
          const message = problem(() => parse(o.value ? [flag, "x"] : [flag]));
          expect(message ?? "", flag).not.toContain("unknown option");
        }
      }
      // The check can fail: an option neither documents is refused.
      expect(problem(() => parse(["--no-such-option"]))).toContain("unknown option --no-such-option");
    });
  }
});
