// One ended session as a program running aegis as a library receives it (`on("session")`): the
// access log's facts, with names for TypeScript. Plain data: it crosses from a Worker by postMessage.

export interface SessionRecord {
  /** Wall-clock milliseconds when it ended. */
  time: number;
  /** The Worker that carried it. */
  worker: number;
  listener: string;
  /** The client as "address:port" (the one a PROXY protocol header named, on listeners that take them). */
  client: string;
  /** null: it ended before an upstream was chosen (refused at accept, a failed TLS handshake). */
  upstream: string | null;
  /** null: no server took it (every connect failed, or it never got that far). */
  server: string | null;
  /** Bytes from the client (sent on to the server). */
  bytesIn: number;
  /** Bytes to the client (from the server). */
  bytesOut: number;
  durationMs: number;
  /** How long the server connect took; null when none succeeded. */
  connectMs: number | null;
  /** Server connects tried. */
  attempts: number;
  /** Why it ended, as the access log's `end`: client_closed, server_closed, idle_timeout, rejected, ... */
  end: string;
  /** Why it was refused (max_connections, acl, queue_full, ...), when it was. */
  reason?: string;
}
