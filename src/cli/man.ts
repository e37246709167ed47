// `aegis man`: the aegis(1) manual page in roff (man macros), rendered from the command table that
// `aegis help` shows, so the page and the help never drift apart.
import { VERSION } from "../version.ts";
import { COMMAND_SPECS, INTRO, optionsOf, SIGNALS, TOP_OPTIONS, type OptionSpec } from "./commands.ts";

/** Text for a roff line: backslashes and hyphens escaped, and a leading "." or "'" kept from reading as a request. */
export function roff(text: string): string {
  const escaped = text.replace(/\\/g, "\\e").replace(/-/g, "\\-");
  return /^[.']/.test(escaped) ? `\\&${escaped}` : escaped;
}

/** Paragraphs as roff: filled text, or kept as written when every line is indented (examples, lists). */
function paragraphs(text: string): string[] {
  return text.split(/\n\n+/).flatMap((p, i) => {
    const lines = p.split("\n");
    const body = lines.every((l) => l.startsWith("  "))
      ? [".RS 2", ".nf", ...lines.map((l) => roff(l.slice(2))), ".fi", ".RE"]
      : lines.map(roff);
    return i === 0 ? body : [".PP", ...body];
  });
}

function option(o: OptionSpec): string[] {
  const names = [o.short, o.long].filter(Boolean).map((n) => `\\fB${roff(n!)}\\fR`).join(", ");
  return [".TP", `${names}${o.value ? ` \\fI${roff(o.value)}\\fR` : ""}`, roff(o.description)];
}

const EXIT_STATUS: [string, string][] = [
  ["0", "clean shutdown after a signal; check found the config valid; a control command did what it was asked; help and version"],
  ["1", "could not start (a port in use, an address that cannot be bound); a second signal during shutdown; the running aegis refused a control command (a wrong token, an invalid file on reload)"],
  ["2", "usage error (unknown command or option), no config file found, or an invalid config"],
  ["3", "a control command found nothing answering at the [metrics] listen address"],
];

export function manPage(): string {
  const lines = [
    `.TH AEGIS 1 "" "aegis ${roff(VERSION)}" "User Commands"`,
    ".SH NAME",
    `aegis \\- ${roff(INTRO.replace(/^aegis: /, ""))}`,
    ".SH SYNOPSIS",
    ...COMMAND_SPECS.flatMap((c, i) => [...(i ? [".br"] : []), `\\fBaegis\\fR ${roff(c.usage[0]!)}`]),
    ".SH DESCRIPTION",
    "aegis relays TCP connections from its listeners to the servers of its upstreams, with health checks,",
    "load balancing, reloads without dropping a connection, Prometheus metrics, a status page and an admin API.",
    "It runs one Worker per core. Each command is described below; \\fBaegis help\\fR \\fIcommand\\fR shows the same text.",
    ".SH OPTIONS",
    ...TOP_OPTIONS.flatMap(option),
    ".SH COMMANDS",
    ...COMMAND_SPECS.flatMap((c) => [
      ".SS",
      `${c.name} \\(em ${roff(c.summary)}`,
      ...c.usage.flatMap((u, i) => [...(i ? [".br"] : []), `\\fBaegis\\fR ${roff(u)}`]),
      ".PP",
      ...paragraphs(c.description),
      ...(optionsOf(c).length > 1 ? [".PP", "Options:", ".RS 2", ...optionsOf(c).flatMap(option), ".RE"] : []),
    ]),
    ".SH SIGNALS",
    ...SIGNALS.split("\n").map(roff),
    ".SH EXIT STATUS",
    ...EXIT_STATUS.flatMap(([code, what]) => [".TP", `\\fB${code}\\fR`, roff(what)]),
    ".SH FILES",
    ".TP",
    "\\fI./aegis.toml\\fR, \\fI/etc/aegis/aegis.toml\\fR",
    "the config files looked for, in this order, when \\fB\\-c\\fR is not given",
    ".SH SEE ALSO",
    "\\fBsystemctl\\fR(1), \\fBhaproxy\\fR(1), \\fBnginx\\fR(8)",
  ];
  return lines.join("\n") + "\n";
}
