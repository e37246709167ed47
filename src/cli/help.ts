// Help texts for `aegis --help` and `aegis help <command>`, rendered from the command table.
import { COMMAND_SPECS, commandSpec, INTRO, optionsOf, SIGNALS, TOP_OPTIONS, type CommandSpec, type OptionSpec } from "./commands.ts";

/** "-c, --config FILE" or "    --json": the short form in its own column, so long names line up. */
export function optionLabel(o: OptionSpec): string {
  return `${o.short ? `${o.short}, ` : "    "}${o.long}${o.value ? ` ${o.value}` : ""}`;
}

function optionLines(options: readonly OptionSpec[]): string {
  const width = Math.max(...options.map((o) => optionLabel(o).length)) + 2;
  return options.map((o) => `  ${optionLabel(o).padEnd(width)}${o.description}`).join("\n");
}

function mainHelp(): string {
  // The first usage line up to its options (run's whole: its -c is the point).
  const short = (c: CommandSpec) => (c.name === "run" ? c.usage[0]! : c.usage[0]!.split(" [-")[0]!);
  const rows = COMMAND_SPECS.map((c) => [`aegis ${short(c)}`, c.summary] as const);
  const width = Math.max(...rows.map(([u]) => u.length)) + 2;
  return `${INTRO}

Usage:
${rows.map(([usage, summary]) => `  ${usage.padEnd(width)}${summary}`).join("\n")}

Options:
${optionLines(TOP_OPTIONS)}

Run \`aegis help COMMAND\` or \`aegis COMMAND --help\` for a command's options.

Signals: ${SIGNALS}`;
}

export function commandHelp(spec: CommandSpec): string {
  const usage = spec.usage.map((u, i) => `${i === 0 ? "Usage: " : "       "}aegis ${u}`).join("\n");
  return `${usage}

${spec.description}

Options:
${optionLines(optionsOf(spec))}`;
}

export function helpText(topic: string | null): string | null {
  if (topic === null) return mainHelp();
  const spec = commandSpec(topic);
  return spec ? commandHelp(spec) : null;
}
