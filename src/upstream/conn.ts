// One upstream socket: owned by a Session while relaying, by a ServerPool while idle, or abandoned.
import type { Socket, SocketHandler } from "bun";
import { NO_QUEUE, type ByteQueue, type QueuePool } from "../primitives/byte-queue.ts";

/** The side of a Session that upstream socket events are delivered to. */
export interface UpstreamOwner {
  onUpstreamOpen(conn: UpstreamConn): void;
  onConnectFailed(conn: UpstreamConn): void;
  fromServer(data: Buffer): void;
  onUpstreamDrain(): void;
  onServerEof(): void;
  onServerClosed(error: Error | undefined): void;
}

/** The side of a ServerPool that idle pooled sockets report to. */
export interface IdleKeeper {
  onOpen(conn: UpstreamConn): void;
  onConnectFailed(conn: UpstreamConn): void;
  onGreeting(conn: UpstreamConn, data: Buffer): void;
  onClosed(conn: UpstreamConn): void;
}

export class UpstreamConn {
  socket: Socket<UpstreamConn> | null = null;
  owner: UpstreamOwner | null = null;
  keeper: IdleKeeper | null = null;
  /**
   * Bytes from the server not yet written to the client; also holds a pooled socket's greeting.
   * NO_QUEUE while nothing waits (see queueToClient and releaseToClient).
   */
  toClient: ByteQueue = NO_QUEUE;
  /** Coarse-clock time it became idle in a pool (for max idle age). */
  idleSince = 0;
  /**
   * Set on a TLS socket: told why its handshake failed (a certificate that does not verify) before
   * the failure goes on as a failed connect. Null on plain sockets, whose `open` is the connect.
   */
  tlsFailed: ((conn: UpstreamConn, code: string | undefined, message: string) => void) | null = null;

  constructor(readonly server: number, readonly queues: QueuePool) {}

  /** The queue toward the client, taken from the Worker's pool if there is none yet; `limit` is buffer_limit. */
  queueToClient(limit: number): ByteQueue {
    const queue = this.toClient;
    return queue !== NO_QUEUE ? queue : (this.toClient = this.queues.take(limit));
  }

  /** Gives the queue back once it is empty (an idle connection holds none). */
  releaseToClient(): void {
    if (this.toClient !== NO_QUEUE && this.toClient.empty) this.toClient = this.queues.give(this.toClient);
  }

  /** Drops whatever waits for the client, queue and all. */
  dropToClient(): void {
    this.toClient = this.queues.give(this.toClient);
  }

  /** Close and forget: used for stale attempts and sockets nobody owns. */
  discard(): void {
    this.tlsFailed = null;
    this.owner = null;
    this.keeper = null;
    this.dropToClient();
    this.socket?.terminate();
  }
}

/** One handler table for every upstream socket in a Worker; `socket.data` says who is told. */
export const upstreamHandlers: SocketHandler<UpstreamConn> = {
  open(socket) {
    const conn = socket.data;
    conn.socket = socket;
    if (conn.tlsFailed) return; // TLS: connected once the handshake verifies
    opened(conn, socket);
  },
  handshake(socket, ok, error) {
    const conn = socket.data;
    const report = conn.tlsFailed;
    if (!report) return;
    // Bun passes ok = true with an error when verification is off; with it on, any error fails.
    if (ok) return opened(conn, socket);
    report(conn, (error as { code?: string } | null)?.code, error?.message ?? "the TLS handshake failed");
    conn.tlsFailed = null; // the close that follows is not reported again
    if (conn.owner) conn.owner.onConnectFailed(conn);
    else if (conn.keeper) conn.keeper.onConnectFailed(conn);
    socket.terminate();
  },
  connectError(socket) {
    const conn = socket.data;
    conn.tlsFailed = null;
    if (conn.owner) conn.owner.onConnectFailed(conn);
    else if (conn.keeper) conn.keeper.onConnectFailed(conn);
  },
  data(socket, data) {
    const conn = socket.data;
    if (conn.owner) conn.owner.fromServer(data);
    else if (conn.keeper) conn.keeper.onGreeting(conn, data);
    else socket.terminate();
  },
  drain(socket) {
    socket.data.owner?.onUpstreamDrain();
  },
  end(socket) {
    const conn = socket.data;
    if (conn.owner) conn.owner.onServerEof();
    else socket.end(); // an idle pooled socket the server closed: drop it (close follows)
  },
  close(socket, error) {
    const conn = socket.data;
    if (conn.tlsFailed) {
      // Closed before its TLS handshake finished (a server that is not TLS, or dropped us): a failed connect.
      conn.tlsFailed(conn, undefined, error?.message ?? "the server closed the connection during the TLS handshake");
      conn.tlsFailed = null;
      conn.socket = null;
      if (conn.owner) conn.owner.onConnectFailed(conn);
      else if (conn.keeper) conn.keeper.onConnectFailed(conn);
      return;
    }
    const owner = conn.owner;
    if (owner) owner.onServerClosed(error);
    else if (conn.keeper) conn.keeper.onClosed(conn);
    conn.socket = null;
  },
  error() {
    // Bun follows every socket error with `close`, which carries the error and does the work.
  },
};

/** The connect is done (for TLS, the handshake verified): the conn's session or pool takes it. */
function opened(conn: UpstreamConn, socket: Socket<UpstreamConn>): void {
  conn.tlsFailed = null;
  if (conn.owner) conn.owner.onUpstreamOpen(conn);
  else if (conn.keeper) conn.keeper.onOpen(conn);
  else socket.terminate(); // its session gave up (connect timeout or client gone)
}
