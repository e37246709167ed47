// `aegis completion bash|zsh|fish`: completion scripts generated from the command table, so a new
// command or option completes without anyone editing three shell dialects.
import { COMMAND_NAMES, COMMAND_SPECS, CONFIG_OPTION, optionsOf, TOP_OPTIONS, type Completion, type OptionSpec } from "./commands.ts";

export const SHELLS = ["bash", "zsh", "fish"] as const;

/** The script for `shell`; throws for another shell (the parser lists the three). */
export function completionScript(shell: string): string {
  if (shell === "bash") return bash();
  if (shell === "zsh") return zsh();
  if (shell === "fish") return fish();
  throw new Error(`no completion for shell "${shell}": give bash, zsh or fish`);
}

const flags = (o: OptionSpec) => (o.short ? [o.short, o.long] : [o.long]);
const words = (c: Completion) => (c === "command" ? COMMAND_NAMES : typeof c === "string" ? null : c);

// --- bash -------------------------------------------------------------------------------------

/** The case word of _aegis_values: what to complete for a value. */
function bashKind(c: Completion | undefined): string {
  const list = words(c ?? "none");
  return list ? `words ${list.join(" ")}` : String(c ?? "none");
}

function bash(): string {
  const valueCases: string[] = [];
  const commandCases: string[] = [];
  const valued = (prefix: string, options: readonly OptionSpec[]) => {
    for (const o of options.filter((x) => x.value)) {
      valueCases.push(`    ${flags(o).map((f) => `"${prefix}:${f}"`).join("|")}) _aegis_values ${bashKind(o.complete ?? "none")}; return ;;`);
    }
  };
  valued("", [CONFIG_OPTION]);
  for (const spec of COMMAND_SPECS) {
    const options = optionsOf(spec);
    valued(spec.name, options);
    commandCases.push(`    ${spec.name}) opts="${options.flatMap(flags).join(" ")}"; pos="${bashKind(spec.positional?.complete)}" ;;`);
  }
  return `# bash completion for aegis: source <(aegis completion bash), or save it as
# /usr/share/bash-completion/completions/aegis
_aegis_values() {
  local IFS=$'\\n'
  case $1 in
    toml) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -d -- "$cur"; compgen -f -X '!*.toml' -- "$cur")) ;;
    file) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur")) ;;
    dir) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -d -- "$cur")) ;;
    words) shift; COMPREPLY=($(compgen -W "$*" -- "$cur")) ;;
    *) COMPREPLY=() ;;
  esac
}

_aegis() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD-1]} cmd="" opts pos i
  for ((i = 1; i < COMP_CWORD; i++)); do
    case \${COMP_WORDS[i]} in
      -c|--config) ((i++)) ;;
      -*) ;;
      *) cmd=\${COMP_WORDS[i]}; break ;;
    esac
  done
  case "$cmd:$prev" in
${valueCases.join("\n")}
  esac
  if [[ -z $cmd ]]; then
    if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "${TOP_OPTIONS.flatMap(flags).join(" ")}" -- "$cur"))
    else COMPREPLY=($(compgen -W "${COMMAND_NAMES.join(" ")}" -- "$cur")); fi
    return
  fi
  case $cmd in
${commandCases.join("\n")}
    *) return ;;
  esac
  if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "$opts" -- "$cur")); return; fi
  _aegis_values $pos
}
complete -F _aegis aegis
`;
}

// --- zsh --------------------------------------------------------------------------------------

/** Text inside '...' in a zsh script, escaped for _arguments' [description] and name:description. */
const zq = (s: string) => s.replace(/\\/g, "\\\\").replace(/'/g, "'\\''").replace(/([[\]:])/g, "\\$1");

function zshAction(c: Completion | undefined, label: string): string {
  const list = words(c ?? "none");
  const message = zq(label);
  if (list) return `${message}:(${list.join(" ")})`;
  if (c === "toml") return `${message}:_files -g "*.toml(-.)"`;
  if (c === "file") return `${message}:_files`;
  if (c === "dir") return `${message}:_files -/`;
  return `${message}: `;
}

function zshOption(o: OptionSpec): string {
  const value = o.value ? `:${zshAction(o.complete, o.value)}` : "";
  const exclusive = o.long === "--help" || o.long === "--version" ? "(- *)" : o.short ? `(${o.short} ${o.long})` : "";
  const names = o.short ? `{${o.short},${o.long}}` : o.long;
  return `${exclusive ? `'${exclusive}'` : ""}${names}'[${zq(o.description)}]${value}'`;
}

function zsh(): string {
  const cases = COMMAND_SPECS.map((spec) => {
    const specs = optionsOf(spec).map(zshOption);
    const p = spec.positional;
    // ":NAME:action" is a positional that must come, "::NAME:action" one that may.
    if (p) specs.push(`'${p.min > 0 ? ":" : "::"}${zshAction(p.complete, p.name)}'`);
    return `        ${spec.name}) _arguments \\\n          ${specs.join(" \\\n          ")} ;;`;
  });
  return `#compdef aegis
# zsh completion for aegis: source <(aegis completion zsh), or save it as _aegis in a directory of $fpath
_aegis() {
  local curcontext=$curcontext state line
  local -a commands
  commands=(
${COMMAND_SPECS.map((c) => `    '${zq(c.name)}:${zq(c.summary)}'`).join("\n")}
  )
  _arguments -C \\
    ${TOP_OPTIONS.map(zshOption).join(" \\\n    ")} \\
    '1: :->command' \\
    '*:: :->args' && return
  case $state in
    command) _describe -t commands 'aegis command' commands ;;
    args)
      curcontext="\${curcontext%:*:*}:aegis-$words[1]:"
      case $words[1] in
${cases.join("\n")}
      esac ;;
  esac
}
if [[ $funcstack[1] == _aegis ]]; then _aegis "$@"; else compdef _aegis aegis; fi
`;
}

// --- fish -------------------------------------------------------------------------------------

const fq = (s: string) => `'${s.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;

/** The flags that complete a value: -x (exclusive: no plain files) with a list, -r -F for any file. */
function fishValues(c: Completion | undefined): string {
  const list = words(c ?? "none");
  if (list) return ` -x -a ${fq(list.join(" "))}`;
  if (c === "toml") return ` -x -a '(__fish_complete_suffix .toml)'`;
  if (c === "file") return " -r -F";
  if (c === "dir") return ` -x -a '(__fish_complete_directories)'`;
  return " -x";
}

function fishOption(condition: string, o: OptionSpec): string {
  const short = o.short ? ` -s ${o.short.slice(1)}` : "";
  const value = o.value ? fishValues(o.complete) : "";
  return `complete -c aegis -n ${condition}${short} -l ${o.long.slice(2)}${value} -d ${fq(o.description)}`;
}

function fish(): string {
  const top = "__fish_use_subcommand";
  const lines = [
    "# fish completion for aegis: aegis completion fish | source, or save it as",
    "# /usr/share/fish/vendor_completions.d/aegis.fish",
    "complete -c aegis -f",
    ...TOP_OPTIONS.map((o) => fishOption(top, o)),
    ...COMMAND_SPECS.map((c) => `complete -c aegis -n ${top} -a ${c.name} -d ${fq(c.summary)}`),
  ];
  for (const spec of COMMAND_SPECS) {
    const condition = fq(`__fish_seen_subcommand_from ${spec.name}`);
    lines.push(...optionsOf(spec).map((o) => fishOption(condition, o)));
    const p = spec.positional;
    if (p && p.complete !== "none") lines.push(`complete -c aegis -n ${condition}${fishValues(p.complete).replace(" -x", "")}`);
  }
  return lines.join("\n") + "\n";
}
