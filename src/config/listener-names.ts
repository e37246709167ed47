// Default listener names: the upstream's name when that is unambiguous, else "listener-<index>".
import type { ListenerConfig } from "./types.ts";

/** A listener as read from the file; `explicitName` is undefined when `name` was left out. */
export type UnnamedListener = Omit<ListenerConfig, "name"> & { explicitName: string | undefined };

/**
 * Gives every listener a name. An unnamed listener takes its upstream's name when it is the
 * only listener of that upstream and no other listener already has that name; otherwise
 * "listener-<index>" (its index in the file), with a suffix in the unlikely case that is taken.
 * Explicit names are checked for duplicates by the validator and never changed here.
 */
export function nameListeners(items: UnnamedListener[]): ListenerConfig[] {
  const taken = new Set(items.flatMap((l) => (l.explicitName === undefined ? [] : [l.explicitName])));
  const users = new Map<string, number>();
  for (const l of items) users.set(l.upstream, (users.get(l.upstream) ?? 0) + 1);

  return items.map(({ explicitName, ...rest }, i) => {
    let name = explicitName;
    if (name === undefined) {
      name = users.get(rest.upstream) === 1 && !taken.has(rest.upstream) ? rest.upstream : `listener-${i}`;
      for (let n = 2; taken.has(name); n++) name = `listener-${i}-${n}`;
      taken.add(name);
    }
    return { name, ...rest };
  });
}
