// What every question of `aegis init` shares: the streams it runs on and cancellation as an exception.
import type { Readable, Writable } from "node:stream";
import * as p from "@clack/prompts";

export interface WizardIO {
  input: Readable;
  output: Writable;
}

/** Thrown when the user cancels a prompt (Ctrl-C or Escape). */
export class Cancelled extends Error {
  constructor() {
    super("cancelled");
  }
}

/** The answer of a prompt, or Cancelled thrown. */
export async function answer<T>(prompt: Promise<T>): Promise<Exclude<T, symbol>> {
  const value = await prompt;
  if (p.isCancel(value)) throw new Cancelled();
  return value as Exclude<T, symbol>;
}
