// A server's state as operators see it, and which states take new connections.

/** up: in rotation. down: failed active checks. ejected: failed passive checks, skipped for a while.
 *  draining: no new connections, sessions continue. disabled: taken out by an operator. */
export type ServerState = "up" | "down" | "ejected" | "draining" | "disabled";
export const SERVER_STATES: readonly ServerState[] = ["up", "down", "ejected", "draining", "disabled"];

/** The operator's wish for a server (from the admin API); health decides within "ready". */
export type AdminState = "ready" | "draining" | "disabled";

export function takesNewConnections(state: ServerState): boolean {
  return state === "up";
}

/** A draining server still takes the clients stuck to it (HAProxy's drain: only persistent connections). */
export function takesStuckClients(state: ServerState): boolean {
  return state === "up" || state === "draining";
}
