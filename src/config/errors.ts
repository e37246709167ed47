// ConfigError: every problem found in a config, reported together like a compiler does.

/**
 * Thrown by the loader and by the value parsers. `problems` holds one line per problem;
 * `message` is the whole report: the problems, then (for TOML syntax errors) the excerpt
 * of the file that smol-toml points at.
 */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  readonly problems: string[];

  constructor(problems: string[], excerpt?: string) {
    super([...problems, ...(excerpt ? [excerpt] : [])].join("\n"));
    this.problems = problems;
  }
}

/** Wraps one problem; used by the value parsers, whose callers collect many. */
export function problem(text: string): ConfigError {
  return new ConfigError([text]);
}
