// `aegis init`: the wizard on a terminal, flags without one; writes a checked aegis.toml and never overwrites unasked.
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type { Writable } from "node:stream";
import * as p from "@clack/prompts";
import { parseAddress } from "../../config/address.ts";
import { ConfigError } from "../../config/errors.ts";
import { BALANCE_ALGORITHMS } from "../../config/schema.ts";
import { VERSION } from "../../version.ts";
import { UsageError } from "../args.ts";
import { DEFAULT_OUTPUT, SERVICE_OUTPUT, STDOUT, type InitAnswers } from "./answers.ts";
import { portProblem, reach } from "./checks.ts";
import { answersFromFlags, parseInitFlags } from "./flags.ts";
import { renderConfig, type Rendered } from "./render.ts";
import { Cancelled, type WizardIO } from "./prompt.ts";
import { askAnswers, showSummary, type WizardEnv } from "./wizard.ts";
import { askOutput, askWrite } from "./output.ts";
import { realSystem } from "../service/system.ts";
import { sandboxHides } from "../service/command.ts";

/** Exit codes: written, nothing written (declined), usage error, cancelled (as a shell reports SIGINT). */
export const EXIT = { written: 0, declined: 1, usage: 2, cancelled: 130 } as const;

export interface InitDeps extends WizardEnv, WizardIO {
  /** Where the wizard draws when the file itself goes to stdout (`-o -`): stderr. */
  errorOutput: Writable;
  /** A person at a terminal: stdin is a TTY and CI is not set. */
  interactive: boolean;
  /** Lines for stdout and stderr outside the wizard (flags mode, errors). */
  out(text: string): void;
  err(text: string): void;
  /** Runs `aegis service install --config <path> --now`; returns its exit code. */
  installService(configPath: string): Promise<number>;
  now: Date;
  /** Turn SIGINT outside a prompt (during a check) into exit 130; only for the real process. */
  trapSigint: boolean;
}

export function realInitDeps(installService: (configPath: string) => Promise<number>): InitDeps {
  return {
    input: process.stdin,
    output: process.stdout,
    errorOutput: process.stderr,
    interactive: process.stdin.isTTY === true && !p.isCI(),
    cwd: process.cwd(),
    out: (text) => console.log(text),
    err: (text) => console.error(text),
    portProblem,
    reach,
    // sd_booted(): a container or another init has no systemd to start a unit.
    offerService: process.platform === "linux" && realSystem.systemdRunning(),
    installService,
    now: new Date(),
    trapSigint: true,
  };
}

const USAGE_HINT = "Run `aegis help init` for the options.";

export async function runInit(argv: readonly string[], deps: InitDeps): Promise<number> {
  let flags;
  try {
    flags = parseInitFlags(argv, BALANCE_ALGORITHMS, deps.cwd);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    deps.err(`aegis: ${err.message}\n${USAGE_HINT}`);
    return EXIT.usage;
  }

  if (flags.service && flags.output === STDOUT) {
    deps.err(`aegis: --service needs a file to install, not --output -.\n${USAGE_HINT}`);
    return EXIT.usage;
  }
  if (flags.service && !deps.offerService) {
    deps.err(`aegis: --service: systemd does not run here (no /run/systemd/system). To write the unit for another machine: aegis service install --unit-dir DIR.\n${USAGE_HINT}`);
    return EXIT.usage;
  }
  if (flags.yes) {
    const answers = answersFromFlags(flags);
    if (Array.isArray(answers)) {
      deps.err(`aegis: init --yes writes without asking, so it needs ${answers.join(" and ")}.\n${USAGE_HINT}`);
      return EXIT.usage;
    }
    return await writeFromFlags(answers, flags.force, deps);
  }
  if (!deps.interactive) {
    deps.err(`aegis: init asks its questions on a terminal, and ${p.isCI() ? "CI is set" : "stdin is not a terminal"}.
Give the answers as flags instead, for example:
  aegis init --listen 0.0.0.0:6380 --server 10.0.0.5:6379 --server 10.0.0.6:6379 --balance least_conn --yes --output aegis.toml
${USAGE_HINT}`);
    return EXIT.usage;
  }
  return await interactive(flags, deps);
}

async function interactive(flags: ReturnType<typeof parseInitFlags>, deps: InitDeps): Promise<number> {
  // With the file on stdout the wizard draws on stderr, so `aegis init -o - > file` gets the file alone.
  const io: WizardIO = { input: deps.input, output: flags.output === STDOUT ? deps.errorOutput : deps.output };
  let written = false;
  const onSigint = () => {
    // Only outside prompts (prompts read Ctrl-C as a key and cancel themselves).
    io.output.write(written ? "\nInterrupted.\n" : "\nCancelled: nothing written.\n");
    process.exit(EXIT.cancelled);
  };
  if (deps.trapSigint) process.on("SIGINT", onSigint);
  try {
    const answers = await askAnswers(io, deps, flags);
    const rendered = tryRender(answers, deps);
    if (typeof rendered === "string") {
      p.log.error(rendered, io);
      p.outro("Nothing written.", io);
      return EXIT.declined;
    }
    showSummary(io, answers, rendered.text);
    const path = await writeAsked(io, deps, answers, rendered.text);
    if (path === null) {
      p.outro(answers.overwrite ? `Nothing written: ${answers.output} is unchanged.` : "Nothing written.", io);
      return EXIT.declined;
    }
    written = true;
    if (path === STDOUT) {
      p.outro("The file is on stdout (aegis check accepts it).", io);
      return EXIT.written;
    }
    p.log.success(`Wrote ${answers.output} (checked: aegis check accepts it).`, io);
    if (!rendered.healthWritten) p.log.warn("The health check is in the file commented out: this build does not accept it.", io);
    if (answers.service) await serviceStep(io, deps, path);
    p.outro(nextSteps(answers, path, deps.offerService).join("\n"), io);
    return EXIT.written;
  } catch (err) {
    if (!(err instanceof Cancelled)) throw err;
    p.cancel("Cancelled: nothing written.", io);
    return EXIT.cancelled;
  } finally {
    if (deps.trapSigint) process.off("SIGINT", onSigint);
  }
}

/** A bound on the write, another path, write again loop. */
const MAX_WRITES = 20;

/**
 * The final yes, and the write. No, or a write that fails (permission, a file that appeared), is
 * not the end: another path can be given and the answers are kept. `a.output` and `a.overwrite`
 * follow the path finally used. Returns the absolute path written ("-" for stdout), or null.
 */
async function writeAsked(io: WizardIO, deps: InitDeps, a: InitAnswers, text: string): Promise<string | null> {
  let failed: string | undefined;
  for (let i = 0; i < MAX_WRITES; i++) {
    const choice = await askWrite(io, { output: a.output === STDOUT ? "it to stdout" : a.output, overwrite: a.overwrite ?? false, ...(failed ? { failed } : {}) });
    if (choice === "none") return null;
    if (choice === "other") {
      const where = await askOutput(io, deps.cwd, a.output === STDOUT ? DEFAULT_OUTPUT : a.output, a.service);
      a.output = where.output;
      a.overwrite = where.overwrite;
      if (a.output === STDOUT && a.service) {
        p.log.warn("A printed file cannot be installed as a service: the service is left out.", io);
        a.service = false;
      }
      failed = undefined;
      continue;
    }
    if (a.output === STDOUT) {
      deps.out(text.trimEnd());
      return STDOUT;
    }
    const path = resolve(deps.cwd, a.output);
    const why = write(path, text, a.overwrite ?? false);
    if (!why) return path;
    p.log.error(why, io);
    failed = `Could not write ${a.output}`;
  }
  return null;
}

async function serviceStep(io: WizardIO, deps: InitDeps, path: string): Promise<void> {
  p.log.step(`Installing the systemd service: aegis service install --config ${path} --now`, io);
  const code = await deps.installService(path);
  if (code !== 0) p.log.warn(`The service was not installed (exit ${code}, see above). The config is written; run the command again once that is fixed.`, io);
}

async function writeFromFlags(a: InitAnswers, force: boolean, deps: InitDeps): Promise<number> {
  const toStdout = a.output === STDOUT;
  const path = toStdout ? STDOUT : resolve(deps.cwd, a.output);
  const exists = !toStdout && existsSync(path);
  if (exists && !force) {
    deps.err(`aegis: ${a.output} already exists: nothing written. Pass --force to overwrite it, or --output another path.`);
    return EXIT.declined;
  }
  const busy = deps.portProblem(parseAddress(a.listen, "", "bind"));
  if (busy) deps.err(`aegis: warning: ${busy.message}`);
  const rendered = tryRender(a, deps);
  if (typeof rendered === "string") {
    deps.err(`aegis: ${rendered}`);
    return EXIT.declined;
  }
  if (toStdout) {
    // stdout carries the file alone; what else there is to say goes to stderr.
    deps.out(rendered.text.trimEnd());
    if (!rendered.healthWritten) deps.err("aegis: note: this build does not accept health checks: the check is in the file commented out");
    return EXIT.written;
  }
  const failed = write(path, rendered.text, exists);
  if (failed) {
    deps.err(`aegis: ${failed}`);
    return EXIT.declined;
  }
  deps.out(`wrote ${a.output} (aegis check accepts it)`);
  if (!rendered.healthWritten) deps.err("aegis: note: this build does not accept health checks: the check is in the file commented out");
  if (a.service) {
    const code = await deps.installService(path);
    if (code !== 0) return code;
  }
  deps.out(nextSteps(a, path, deps.offerService).join("\n"));
  return EXIT.written;
}

/**
 * The rendered file, or why the loader refuses it. With TLS the file depends on files outside it
 * (the loader reads the certificate and key), so a refusal is no longer only a bug of the renderer.
 */
function tryRender(a: InitAnswers, deps: InitDeps): Rendered | string {
  try {
    return renderConfig(a, { version: VERSION, date: deps.now.toISOString().slice(0, 10) });
  } catch (err) {
    if (!(err instanceof ConfigError) || !a.tls) throw err;
    return `the config would not load, so nothing is written:\n${err.problems.join("\n")}`;
  }
}

/**
 * Creates the directory if needed; "wx" refuses to replace a file that appeared since the question.
 * Returns why it could not write, or null.
 */
function write(path: string, text: string, overwrite: boolean): string | null {
  try {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text, { mode: 0o644, flag: overwrite ? "w" : "wx" });
    return null;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === "EACCES" || code === "EPERM" ? "permission denied (run it with sudo, or choose a path of yours)"
      : code === "EEXIST" ? "a file appeared there since the question (it is left as it is)"
      : (err as Error).message;
    return `cannot write ${path}: ${why}`;
  }
}

/** What to do with the file; the service step only where systemd runs, with a warning where its sandbox hides the file. */
function nextSteps(a: InitAnswers, path: string, systemd: boolean): string[] {
  const steps = [
    "Next steps:",
    `  aegis check --config ${a.output}    check it again after editing`,
    `  aegis --config ${a.output}          run aegis in this terminal (Ctrl-C stops it)`,
  ];
  if (a.service) steps.push("  systemctl status aegis            the service's state; journalctl -u aegis -f for its logs");
  else if (systemd) {
    steps.push(`  sudo aegis service install --config ${path} --now   run it as a systemd service`);
    const hidden = sandboxHides(path);
    if (hidden) steps.push(`  warning: the service would not see ${path} (${hidden}): copy it to ${SERVICE_OUTPUT} and install with --config ${SERVICE_OUTPUT}`);
  }
  if (a.tls) steps.push(...tlsSteps(a, a.tls));
  return steps;
}

/** How to see the TLS listener work, and the one permission that trips a service up. */
function tlsSteps(a: InitAnswers, tls: NonNullable<InitAnswers["tls"]>): string[] {
  const { host, port } = parseAddress(a.listen, "", "bind");
  const local = host === "0.0.0.0" ? "127.0.0.1" : host === "::" ? "::1" : host;
  const steps = tls.postgres
    ? [`  psql "host=${local} port=${port} sslmode=require"   connect through aegis with TLS`]
    : [`  openssl s_client -connect ${local.includes(":") ? `[${local}]` : local}:${port}   see aegis present the certificate`];
  // The unit runs as the unprivileged user aegis, and keys are usually readable by root alone.
  if (a.service) steps.push(`  the service runs as user aegis: it must be able to read ${tls.key ?? tls.cert}`);
  return steps;
}
