// The balancing algorithms `aegis init` offers, each with a one-line explanation.
import { BALANCE_ALGORITHMS } from "../../config/schema.ts";

/** One line per algorithm, as a newcomer needs it to choose. Keys outside the schema are never offered. */
export const ALGORITHM_EXPLANATIONS: Readonly<Record<string, string>> = {
  round_robin: "each server in turn, in proportion to its weight",
  least_conn: "the server with the fewest open connections per weight; for long sessions",
  random: "a random server, weighted",
  p2c: "two random servers, the less loaded one wins (power of two choices)",
  p2c_ewma: "two random servers, the one answering faster and less loaded wins",
  source: "by client IP: a client keeps its server while the server set is unchanged",
  consistent: "by client IP, consistent hashing: when a server goes, only its clients move",
  first: "fill servers in file order: the first available one takes every connection",
};

export interface AlgorithmChoice {
  value: string;
  explanation: string;
}

/** The algorithms the config accepts in this build, in schema order, default first. */
export function offeredAlgorithms(accepted: readonly string[] = BALANCE_ALGORITHMS): AlgorithmChoice[] {
  return accepted.map((value) => ({ value, explanation: ALGORITHM_EXPLANATIONS[value] ?? "see the README's config reference" }));
}
