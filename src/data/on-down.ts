// on_down = "close_sessions": which sessions a server that went down, was disabled or removed takes with it.
import type { Assigner } from "../upstream/assigner.ts";
import type { ServerState } from "../health/server-state.ts";
import { addressKey } from "../config/address.ts";

/** What the closing needs of a session: where it went. */
export interface OnServer {
  readonly assigner: Assigner | null;
  /** The upstream connection being made or relaying; its `server` indexes its assigner's servers. */
  readonly conn: { readonly server: number } | null;
}

/** Down (active checks) and disabled (an operator) end sessions; draining and ejected do not. */
const ENDS_SESSIONS: ReadonlySet<ServerState> = new Set(["down", "disabled"]);

/**
 * After a snapshot of `current`'s servers: the sessions on one that no longer runs them. Sessions of
 * an older assigner of the same upstream (built before a reload) are judged by the server's name.
 */
export function offDownServers<S extends OnServer>(sessions: Iterable<S>, current: Assigner, states: readonly ServerState[]): S[] {
  if (current.config.onDown !== "close_sessions") return [];
  const ending = new Set<string>();
  states.forEach((state, i) => ENDS_SESSIONS.has(state) && ending.add(current.serverName(i)));
  if (ending.size === 0) return [];
  const out: S[] = [];
  for (const s of sessions) {
    const a = s.assigner;
    if (a && s.conn && a.name === current.name && ending.has(a.serverName(s.conn.server))) out.push(s);
  }
  return out;
}

/**
 * After a reload: sessions on a server the new config removed (or moved to another address), in an
 * upstream whose new config, or old one when the upstream is gone, says close_sessions.
 */
export function offRemovedServers<S extends OnServer>(sessions: Iterable<S>, upstreams: readonly Assigner[], gone: readonly Assigner[]): S[] {
  // Most reloads touch no close_sessions upstream: then no session is looked at.
  if (!upstreams.some((u) => u.config.onDown) && !gone.some((u) => u.config.onDown)) return [];
  const byName = new Map(upstreams.map((u) => [u.name, u]));
  const out: S[] = [];
  for (const s of sessions) {
    const a = s.assigner;
    if (!a || !s.conn) continue;
    const now = byName.get(a.name);
    if (now === a) continue; // kept whole: nothing of it changed
    if ((now ?? a).config.onDown !== "close_sessions") continue;
    const was = a.config.servers[s.conn.server];
    const still = now?.config.servers.find((x) => x.name === was?.name);
    if (!was || !still || addressKey(still.address) !== addressKey(was.address)) out.push(s);
  }
  return out;
}
