// One proxied connection: client socket, upstream socket, and the relay between them in both directions.
import type { TLSOptions } from "bun";
import { NO_EXCLUSIONS } from "../balancing/balancer.ts";
import { L, S } from "../shared/layout.ts";
import { NO_QUEUE, type ByteQueue } from "../primitives/byte-queue.ts";
import { defineBitFlags } from "../primitives/bit-flags.ts";
import { UNSCHEDULED, type TimerEntry } from "../primitives/timer-wheel.ts";
import type { UpstreamConn, UpstreamOwner } from "../upstream/conn.ts";
import { NO_SERVER, Outcome, POOLED, QUEUED, QUEUE_FULL, type Assigner, type Claim } from "../upstream/assigner.ts";
import { REFUSED, type RouteInput, type RouteTable } from "../route/table.ts";
import type { RouteTarget } from "../route/routes-for.ts";
import type { RegionPreference } from "../config/types.ts";
import { newIpWords, parseIp, type IpWords } from "../net/ip.ts";
import type { ProxyHeader } from "../net/proxy-protocol.ts";
import type { ProxyAccept } from "./proxy-accept.ts";
import type { ListenerRuntime } from "./listener-runtime.ts";
import { sendProxyHeader } from "./proxy-send.ts";
import type { Plane } from "./plane-types.ts";
import type { ListenerRef } from "./listener-runtime.ts";
import { IP_UNTRACKED } from "../admission/ip-table.ts";
import { parseClientHello, type HelloResult } from "../tls/client-hello.ts";
import type { ClientEvents, ClientSocket } from "./stream-tls.ts";
import type { ListenerTlsConfig } from "../config/types.ts";
import { ClientTls, type TlsFacts, type TlsHost } from "./client-tls.ts";
import type { ProxyHost } from "./proxy-accept.ts";

export type EndReason =
  | "client_closed" | "server_closed" | "client_reset" | "server_reset"
  | "idle_timeout" | "connect_failed" | "shutdown" | "rejected" | "worker_crash"
  /** on_down = "close_sessions": its server went down, was disabled or removed. */
  | "server_down";

/**
 * While connecting, the client is paused only once this much is queued (or buffer_limit, if
 * lower); past the limit the read is still queued (its unsent part), so nothing is refused.
 */
const CONNECTING_PAUSE_AT = 256 * 1024;

const PENDING_HELLO: HelloResult = { status: "pending" };

/** A listener's routes as the data plane holds them: each leads to an upstream's assigner. */
export type Routes = RouteTable<RouteTarget<Assigner>>;

const CONNECTING = 0;
const RELAYING = 1;
const DONE = 2;

/**
 * The Session knows its two sockets and the relay between them. Which upstream it goes to is the
 * route's decision (src/route), and which server, the assigner's (src/upstream): the session only
 * asks for a server, says what happened, and gives it back.
 */
export class Session implements TimerEntry, UpstreamOwner, Claim, RouteInput, ClientEvents, TlsHost, ProxyHost {
  deadline = 0;
  timerPrev: TimerEntry | null = null;
  timerNext: TimerEntry | null = null;
  timerSlot = UNSCHEDULED;

  /**
   * Client bytes not yet written upstream (also what arrives while connecting). NO_QUEUE while
   * nothing waits: a queue comes from the Worker's pool at the first short write and goes back once
   * empty (see queueToServer), so an idle session holds no queue object.
   */
  toServer: ByteQueue = NO_QUEUE;
  conn: UpstreamConn | null = null;
  state = CONNECTING;
  /** The booleans below, one bit each (see defineBitFlags after the class): one slot instead of ten. */
  flags = 0;
  /** FIN seen from each peer, and FIN sent to each peer. */
  declare clientEof: boolean;
  declare serverEof: boolean;
  declare clientShut: boolean;
  declare serverShut: boolean;
  declare clientClosed: boolean;
  declare serverClosed: boolean;
  /**
   * A write to that peer failed (returned -1) on a socket we had not shut: the connection broke.
   * Bun then reports the reset as a plain `end` and an error-less `close` (measured: 10 of 200
   * uploads into a resetting server), so these flags are what keep a reset a reset.
   */
  declare clientBroken: boolean;
  declare serverBroken: boolean;
  /** aegis is resetting both peers itself (see `close`): not the server's fault. */
  declare cutting: boolean;
  /** True while the session waits in its upstream's queue. */
  declare queued: boolean;
  /** True while the session waits for file descriptors to come back before it connects. */
  declare waitingForDescriptors: boolean;
  endReason: EndReason | null = null;
  /** The upstream its route chose; null while the route waits for the client's first bytes. */
  assigner: Assigner | null = null;
  /**
   * What only some sessions use (PROXY protocol, TLS, routes that read bytes, regions, stickiness,
   * retries): allocated the first time one of them is set, so an idle plain session carries none.
   */
  #rare: SessionRare | null = null;
  /** The per-IP table slot this session counts in, given back when it ends (IP_UNTRACKED: none). */
  ipSlot = IP_UNTRACKED;
  /** The server whose place (against its max_connections and soft_limit) this session holds, or -1. */
  held = -1;
  attempts = 0;
  bytesIn = 0;
  bytesOut = 0;
  /** Bytes already added to the Worker's top talkers; -1 until the session began there (its client known). */
  talked = -1;
  readonly #startMono = performance.now();
  #connectStart = 0;
  /** When the client's first bytes went to the server: 0 before, -1 once the first reply is timed. */
  #replyClock = 0;
  connectMs = -1;
  lastActive: number;
  /** Read on demand (each read is a getpeername call), or at accept when the access log needs the port. */
  #clientAddress: string | null = null;
  clientPort = 0;
  /** This session's listener's first counter cell, looked up once rather than per chunk. */
  readonly #cellBase: number;
  /** The relaying server's first counter cell once paired (-1 before): its byte counts are bumped per chunk. */
  #serverBase = -1;

  constructor(
    readonly plane: Plane,
    readonly listener: ListenerRef,
    /** The client's socket; in postgres mode, the TLS socket it became after the SSLRequest (or direct TLS). */
    public client: ClientSocket,
  ) {
    this.lastActive = plane.now;
    this.#cellBase = listener.base;
  }

  // ---- what only some sessions use (kept in #rare) ------------------------------------------

  #more(): SessionRare {
    return (this.#rare ??= new SessionRare());
  }

  /** Servers this session's connect already failed on (the balancer skips them on a retry). */
  get exclude(): readonly number[] {
    return this.#rare === null ? NO_EXCLUSIONS : this.#rare.exclude;
  }
  set exclude(v: readonly number[]) {
    if (this.#rare !== null || v !== NO_EXCLUSIONS) this.#more().exclude = v;
  }

  /** The listener's routes, while they wait for the client's first bytes. */
  get #routes(): Routes | null {
    return this.#rare === null ? null : this.#rare.routes;
  }
  set #routes(v: Routes | null) {
    if (this.#rare !== null || v !== null) this.#more().routes = v;
  }

  /** A PROXY-protocol listener's first stage, until the header is in; null after it, and on other listeners. */
  get #proxy(): ProxyAccept | null {
    return this.#rare === null ? null : this.#rare.proxy;
  }
  set #proxy(v: ProxyAccept | null) {
    if (this.#rare !== null || v !== null) this.#more().proxy = v;
  }

  /** The PROXY header the client's balancer sent (its destination and TLVs go on with send_proxy); null: none. */
  get proxyHeader(): ProxyHeader | null {
    return this.#rare === null ? null : this.#rare.proxyHeader;
  }
  set proxyHeader(v: ProxyHeader | null) {
    if (this.#rare !== null || v !== null) this.#more().proxyHeader = v;
  }

  /** The client's address parsed, once asked for (undefined: not yet; null: it does not parse). */
  get #clientIp(): IpWords | null | undefined {
    return this.#rare === null ? undefined : this.#rare.clientIp;
  }
  set #clientIp(v: IpWords | null | undefined) {
    if (this.#rare !== null || v !== undefined) this.#more().clientIp = v;
  }

  /** The client's country, once asked for (undefined: not yet; null: unknown). */
  get #country(): string | null | undefined {
    return this.#rare === null ? undefined : this.#rare.country;
  }
  set #country(v: string | null | undefined) {
    if (this.#rare !== null || v !== undefined) this.#more().country = v;
  }

  /** The peer that sent a PROXY header naming another client (the balancer in front); null: none. */
  get peer(): string | null {
    return this.#rare === null ? null : this.#rare.peer;
  }
  set peer(v: string | null) {
    if (this.#rare !== null || v !== null) this.#more().peer = v;
  }

  /** The region whose servers the route prefers for this session; null: none. */
  get region(): string | null {
    return this.#rare === null ? null : this.#rare.region;
  }
  set region(v: string | null) {
    if (this.#rare !== null || v !== null) this.#more().region = v;
  }

  /** The stick table entry this session counts on (-1: none); the assigner sets and gives it back. */
  get stickSlot(): number {
    return this.#rare === null ? -1 : this.#rare.stickSlot;
  }
  set stickSlot(v: number) {
    if (this.#rare !== null || v !== -1) this.#more().stickSlot = v;
  }

  /** A TLS listener's stage before routing (the SSLRequest, the handshake); null once done, and on plain listeners. */
  get #clientTls(): ClientTls | null {
    return this.#rare === null ? null : this.#rare.clientTls;
  }
  set #clientTls(v: ClientTls | null) {
    if (this.#rare !== null || v !== null) this.#more().clientTls = v;
  }

  /** The ClientHello as parsed so far, and at how many queued bytes (parsed again only when more came). */
  get #hello(): HelloResult {
    return this.#rare === null ? PENDING_HELLO : this.#rare.hello;
  }
  set #hello(v: HelloResult) {
    if (this.#rare !== null || v !== PENDING_HELLO) this.#more().hello = v;
  }
  get #helloSize(): number {
    return this.#rare === null ? -1 : this.#rare.helloSize;
  }
  set #helloSize(v: number) {
    if (this.#rare !== null || v !== -1) this.#more().helloSize = v;
  }

  /** What TLS said (null: no TLS seen), for the access log. */
  get tls(): TlsFacts | null {
    return this.#rare === null ? null : this.#rare.tls;
  }
  set tls(v: TlsFacts | null) {
    if (this.#rare !== null || v !== null) this.#more().tls = v;
  }

  /** Why admission turned the session away after accept (queue_full, queue_timeout). */
  get rejectReason(): string | null {
    return this.#rare === null ? null : this.#rare.rejectReason;
  }
  set rejectReason(v: string | null) {
    if (this.#rare !== null || v !== null) this.#more().rejectReason = v;
  }

  /** The queue toward the server, taken from the Worker's pool if there is none yet. */
  queueToServer(): ByteQueue {
    const queue = this.toServer;
    return queue !== NO_QUEUE ? queue : (this.toServer = this.plane.queues.take(this.listener.bufferLimit));
  }

  /** Drops whatever waits for the server, queue and all. */
  #dropToServer(): void {
    this.toServer = this.plane.queues.give(this.toServer);
  }

  get clientAddress(): string {
    return (this.#clientAddress ??= this.client.remoteAddress);
  }

  /** Keep the peer's address and port now: Bun forgets the port once the socket closes. */
  rememberPeer(): void {
    this.#clientAddress = this.client.remoteAddress;
    this.clientPort = this.client.remotePort;
  }

  // ---- routing ----------------------------------------------------------------------------

  /**
   * The listener's route stage: choose the upstream now, or, when a route reads the client's first
   * bytes, collect them (as while connecting) and choose once they decide. No await: each chunk
   * tries again, and the wheel bounds the wait (inspect timeout).
   */
  route(routes: Routes): void {
    if (!routes.readsBytes) {
      const target = routes.choose(this, true)!;
      if (target !== REFUSED) return this.#routed(target);
      return this.refuse(L.rejectedTlsInspect, "tls_inspect"); // a matcher on a handshake that said nothing usable
    }
    this.#routes = routes;
    this.plane.wheel.schedule(this, this.plane.now + routes.inspect.timeoutMs);
  }

  /** The client's first bytes so far, for routes that read them (a copy: only while routing). */
  firstBytes(): Uint8Array {
    return this.toServer.copyOut();
  }

  /** The ClientHello in the first bytes (parsed once per new chunk), or what the handshake negotiated. */
  clientHello(): HelloResult {
    const hello = this.#hello;
    const size = this.toServer.size;
    // Parsed again only when more bytes came, and enough to complete it (a drip-fed hello stays linear).
    if (hello.status !== "pending" || size === this.#helloSize || size < (hello.atLeast ?? 0)) return hello;
    this.#helloSize = size;
    return (this.#hello = parseClientHello(this.toServer.copyOut(), this.#routes?.inspect.maxBytes ?? Infinity));
  }

  /** `final`: no more bytes are waited for, so every route must decide. */
  #tryRoute(final: boolean): void {
    const routes = this.#routes!;
    const target = routes.choose(this, final || this.clientEof || this.toServer.size >= routes.inspect.maxBytes);
    if (target === null) return;
    this.#routes = null;
    const hello = this.#hello;
    if (target === REFUSED) {
      const why = hello.status === "invalid" ? hello.why : this.toServer.empty ? "no bytes before the inspect timeout" : "no complete ClientHello before the inspect timeout";
      this.plane.logger.debug("connection refused: tls_inspect", { listener: this.listener.name, client: this.clientAddress, why });
      return this.refuse(L.rejectedTlsInspect, "tls_inspect");
    }
    if (hello.status === "ok" && !this.tls) this.tls = { sni: hello.serverName, alpn: hello.alpn.join(",") || null, version: null, clientCert: null };
    this.#routed(target);
  }

  // ---- TLS on the client side (a terminating listener; the steps are in client-tls.ts) ------

  /**
   * A listener that terminates TLS: route once the handshake is done (routes read what it
   * negotiated). `upgrade` (mode = "postgres"): first answer the SSLRequest, then start TLS on this
   * socket. The inspect timeout bounds the wait for either.
   */
  awaitTls(routes: Routes, tls: ListenerTlsConfig, upgrade: TLSOptions | null, afterProxy: Uint8Array | null = null): void {
    const stage = new ClientTls(routes, tls, upgrade);
    this.#clientTls = stage;
    this.plane.wheel.schedule(this, this.plane.now + routes.inspect.timeoutMs);
    if (afterProxy !== null) stage.afterProxyHeader(this, afterProxy);
  }

  onClientHandshake(ok: boolean, error: Error | null): void {
    const stage = this.#clientTls;
    if (!stage || stage.awaitingRequest) return;
    this.#clientTls = null; // before anything can close the client, so its close is not counted twice
    stage.onHandshake(this, ok, error);
  }

  handshakeDone(facts: TlsFacts, routes: Routes): void {
    this.tls = facts;
    this.#hello = { status: "ok", serverName: facts.sni && facts.sni.toLowerCase(), alpn: facts.alpn ? [facts.alpn] : [], legacyVersion: 0, supportedVersions: [] };
    this.plane.wheel.cancel(this);
    this.route(routes);
  }

  #routed(target: RouteTarget<Assigner>): void {
    this.assigner = target.upstream;
    if (target.preferRegion !== null) this.region = this.#regionFor(target.preferRegion);
    this.connect();
  }

  #regionFor(preference: RegionPreference): string | null {
    if (preference !== true) return preference;
    const country = this.country();
    return country === null ? null : this.plane.geo?.regionOf(country) ?? null;
  }

  // ---- who the client is --------------------------------------------------------------------

  /** A PROXY-protocol listener: the header comes first, within proxy_protocol_timeout. */
  awaitProxy(stage: ProxyAccept): void {
    this.#proxy = stage;
    this.plane.wheel.schedule(this, this.plane.now + stage.config.timeoutMs);
  }

  /** The header is in: its source is the client from now on (a LOCAL header leaves the peer's). */
  proxied(header: ProxyHeader, runtime: ListenerRuntime, rest: Uint8Array): void {
    this.#proxy = null;
    this.plane.wheel.cancel(this);
    this.proxyHeader = header;
    if (header.source) {
      this.peer = this.clientAddress; // the balancer in front, for the access log
      this.#clientAddress = header.source.host;
      this.clientPort = header.source.port;
      this.#clientIp = undefined;
    }
    this.plane.admitProxied(this, runtime, rest);
  }

  clientIp(): IpWords | null {
    if (this.#clientIp === undefined) {
      const words = newIpWords();
      this.#clientIp = parseIp(this.clientAddress, words) ? words : null;
    }
    return this.#clientIp;
  }

  /** The country if a route or a region preference looked it up (the access log does not look it up itself). */
  get knownCountry(): string | null | undefined {
    return this.#country;
  }

  country(): string | null {
    if (this.#country === undefined) this.#country = this.plane.geo?.country(this.clientAddress) ?? null;
    return this.#country;
  }

  // ---- connecting -------------------------------------------------------------------------

  /** Ask the upstream for a server (holding a place on it) and connect, or wait in its queue. */
  connect(): void {
    const server = this.assigner!.assign(this);
    if (server === QUEUED) return; // `granted` or the queue timeout follows
    if (server === QUEUE_FULL) return this.refuse(L.rejectedQueueFull, "queue_full");
    this.granted(server);
  }

  /** This session holds a place on `server` (NO_SERVER: none is eligible): take a pooled socket, or connect. */
  granted(server: number): void {
    if (server === NO_SERVER) return this.#fail();
    const up = this.assigner!;
    this.held = server;
    this.attempts++;
    const pooled = up.takePooled(server);
    if (pooled) {
      this.connectMs = 0;
      up.connected(server, POOLED);
      return this.#adopt(pooled);
    }
    const conn = up.newConn(server);
    conn.owner = this;
    this.conn = conn; // before the connect starts, so whatever it reports finds its session
    this.#connectStart = performance.now();
    this.plane.wheel.schedule(this, this.plane.now + up.config.connectTimeoutMs);
    up.connect(conn);
  }

  /** Entering or leaving the upstream's queue: what the client already sent stays here, the rest waits in the kernel. */
  queueing(waiting: boolean): void {
    this.plane.cells[this.#cellBase + L.queued]! += waiting ? 1 : -1;
    if (waiting) this.client.pause();
  }

  onUpstreamOpen(conn: UpstreamConn): void {
    if (conn !== this.conn || this.state !== CONNECTING) return conn.discard();
    this.connectMs = performance.now() - this.#connectStart;
    this.assigner!.connected(conn.server, this.connectMs);
    this.#adopt(conn);
  }

  onConnectFailed(conn: UpstreamConn): void {
    if (conn !== this.conn || this.state !== CONNECTING) return;
    if (this.plane.shortOfDescriptors()) return this.#noDescriptors(conn);
    this.#retry(conn);
  }

  /**
   * Our own socket() failed for want of descriptors: the server is not to blame and no attempt is
   * spent. The session waits (holding its client's descriptor, so the Worker accepts no more and
   * new clients stay in the kernel's backlog) and connects again once descriptors are back; the
   * connect deadline still bounds the wait, and past it the client is refused as fd_limit.
   */
  #noDescriptors(conn: UpstreamConn): void {
    conn.discard();
    this.conn = null;
    this.attempts--;
    this.#giveBack(Outcome.unused);
    this.waitingForDescriptors = true;
    this.plane.waitForDescriptors(this);
  }

  /** Descriptors are back (the plane's tick saw it): try the connect again. */
  descriptorsBack(): void {
    if (this.state !== CONNECTING || !this.waitingForDescriptors) return;
    this.waitingForDescriptors = false;
    this.connect();
  }

  #retry(conn: UpstreamConn): void {
    const up = this.assigner!;
    this.plane.logger.debug("connect failed", { upstream: up.name, server: up.serverName(conn.server) });
    conn.discard();
    this.conn = null;
    this.#giveBack(Outcome.connectFailed);
    if (this.attempts > up.config.retries) return this.#fail();
    this.exclude = [...this.exclude, conn.server];
    this.connect();
  }

  /** No server could be reached: close the client promptly and count it. */
  #fail(): void {
    this.endReason = "connect_failed";
    this.plane.cells[this.#cellBase + L.rejectedNoServer]! += 1;
    this.client.end(); // close runs synchronously and finishes the session
  }

  /** Admission turned the session away after accept (the queue is full or took too long): close and count it. */
  refuse(cell: number, reason: string): void {
    this.endReason = "rejected";
    this.rejectReason = reason;
    this.plane.cells[this.#cellBase + cell]! += 1;
    this.client.end(); // close runs synchronously and finishes the session
  }

  /** Give back the place held on a server, saying what happened there (the next queued session may take it). */
  #giveBack(outcome: Outcome): void {
    const server = this.held;
    if (server < 0) return;
    this.held = -1;
    this.assigner!.release(server, outcome);
  }

  #adopt(conn: UpstreamConn): void {
    this.plane.wheel.cancel(this);
    conn.owner = this;
    if (conn.toClient !== NO_QUEUE) conn.toClient.capacity = this.listener.bufferLimit; // a pooled socket's greeting
    this.conn = conn;
    this.state = RELAYING;
    // What the client sent while we connected counts for this server too: from here on, per chunk.
    this.#serverBase = this.assigner!.counters.base(conn.server);
    this.plane.cells[this.#serverBase + S.bytesReceived]! += this.bytesIn;
    this.plane.cells[this.#serverBase + S.bytesSent]! += this.bytesOut;
    // The PROXY header goes before any client byte: written now, at pairing, for pooled sockets too.
    const version = this.assigner!.config.sendProxy;
    if (version && !sendProxyHeader(this, conn.socket!, version)) return this.#serverBroke();
    // What the client sent while we connected; this resumes the client once it is all written.
    this.onUpstreamDrain();
    // A pooled socket's greeting; this resumes the upstream socket once it is all written.
    if (!conn.toClient.empty) this.onClientDrain();
    this.#armIdle();
  }

  // ---- relaying -----------------------------------------------------------------------------

  fromClient(data: Buffer): void {
    this.lastActive = this.plane.now;
    if (this.#proxy !== null) return this.#proxy.onBytes(this, data); // the header, not the stream's bytes
    const stage = this.#clientTls;
    if (stage !== null && stage.awaitingRequest) return stage.onRequestBytes(this, data); // not the stream's bytes
    this.plane.cells[this.#cellBase + L.bytesReceived]! += data.length;
    if (this.#serverBase >= 0) this.plane.cells[this.#serverBase + S.bytesReceived]! += data.length;
    this.bytesIn += data.length;
    const socket = this.state === RELAYING && !this.serverClosed ? this.conn!.socket : null;
    if (socket && this.toServer.empty) {
      if (this.#replyClock === 0) this.#replyClock = performance.now();
      const written = socket.write(data);
      if (written === data.length) return;
      if (written < 0) return this.#serverBroke();
      this.queueToServer().push(data, written);
    } else if (this.state === CONNECTING) {
      this.queueToServer().push(data, 0);
      const full = this.toServer.full || this.toServer.size >= CONNECTING_PAUSE_AT;
      if (this.#routes) this.#tryRoute(full);
      // Most clients speak first: hold their opening bytes without the cost of a pause and resume.
      if (!full) return;
    } else if (socket) {
      this.queueToServer().push(data, 0);
    } else if (this.serverClosed && !this.clientClosed) {
      // The server is gone: these bytes can reach nobody. A closed peer answers data with a reset.
      return this.#cutClient();
    } else {
      return;
    }
    this.client.pause(); // resumed by onUpstreamDrain once the queue is written
  }

  fromServer(data: Buffer): void {
    this.lastActive = this.plane.now;
    const conn = this.conn!;
    if (this.#replyClock !== -1) this.#firstReply(conn.server);
    if (this.clientClosed) return void conn.socket?.terminate(); // nobody to deliver to; close finishes
    if (conn.toClient.empty) {
      const written = this.client.write(data);
      if (written === data.length) return this.#countOut(written);
      if (written < 0) return this.#clientBroke();
      this.#countOut(written);
      conn.queueToClient(this.listener.bufferLimit).push(data, written);
    } else {
      conn.queueToClient(this.listener.bufferLimit).push(data, 0);
    }
    conn.socket?.pause(); // resumed by onClientDrain once the queue is written
  }

  /** The upstream socket can take more: write what is queued for it. Safe to call spuriously. */
  onUpstreamDrain(): void {
    const socket = this.conn?.socket;
    if (!socket || this.state !== RELAYING || this.serverClosed) return;
    if (!this.toServer.empty) {
      if (this.#replyClock === 0) this.#replyClock = performance.now();
      if (this.toServer.writeTo(socket) < 0) return this.#serverBroke();
    }
    if (!this.toServer.empty) return;
    if (this.toServer !== NO_QUEUE) this.#dropToServer(); // empty: back to the pool
    if (this.clientEof) this.#shutServer();
    else this.client.resume();
  }

  /** The client can take more: write what is queued for it. Safe to call spuriously. */
  onClientDrain(): void {
    const conn = this.conn;
    if (!conn || this.clientClosed || this.state !== RELAYING) return;
    if (!conn.toClient.empty) {
      const written = conn.toClient.writeTo(this.client);
      if (written < 0) return this.#clientBroke();
      this.#countOut(written);
      if (!conn.toClient.empty) return;
      conn.releaseToClient();
    }
    if (this.serverEof) this.#shutClient();
    else conn.socket?.resume();
  }

  /**
   * The server's first bytes: if the client spoke first, the wait is the server's response time,
   * which latency-aware balancing learns from (a slow server still accepts connections fast).
   * Once per session; a server that speaks first (a greeting) gives no sample.
   */
  #firstReply(server: number): void {
    if (this.#replyClock > 0) this.assigner!.replied(server, performance.now() - this.#replyClock);
    this.#replyClock = -1;
  }

  #countOut(bytes: number): void {
    this.bytesOut += bytes;
    this.plane.cells[this.#cellBase + L.bytesSent]! += bytes;
    if (this.#serverBase >= 0) this.plane.cells[this.#serverBase + S.bytesSent]! += bytes;
  }

  // ---- half-close and close -----------------------------------------------------------------

  onClientEof(): void {
    if (this.clientBroken || this.clientEof) return; // a broken write's `end` is a reset; `close` follows
    this.clientEof = true;
    this.endReason ??= "client_closed";
    const proxy = this.#proxy;
    if (proxy) {
      this.#proxy = null;
      return proxy.endedEarly(this); // the FIN came before the whole header
    }
    if (this.#routes) return this.#tryRoute(true); // no more bytes are coming: route on what came
    if (this.clientShut && !this.clientClosed) this.client.end(); // FIN both ways: close it (Bun may not)
    if (this.state === RELAYING && this.toServer.empty) this.#shutServer();
  }

  onServerEof(): void {
    if (this.serverBroken || this.serverEof) return; // a broken write's `end` is a reset; `close` follows
    this.serverEof = true;
    this.endReason ??= "server_closed";
    if (this.serverShut && !this.serverClosed) this.conn?.socket?.end(); // FIN both ways: close it (Bun may not)
    if (this.conn?.toClient.empty) this.#shutClient();
  }

  // Sending our FIN: a half-close while the peer may still talk, or, once the peer has sent its
  // own FIN, a full close at once (same bytes on the wire, two syscalls and a loop turn fewer).

  #shutServer(): void {
    if (this.serverShut || this.serverClosed) return;
    this.serverShut = true;
    if (this.serverEof) this.conn?.socket?.end();
    else this.conn?.socket?.shutdown();
  }

  #shutClient(): void {
    if (this.clientShut || this.clientClosed) return;
    this.clientShut = true;
    if (this.clientEof) this.client.end();
    else this.client.shutdown();
  }

  /** Why the session ended: the first reason holds, but a reset outranks an earlier FIN. */
  #ended(reason: EndReason): void {
    const end = this.endReason;
    const fin = end === null || end === "client_closed" || end === "server_closed";
    if (fin && (end === null || reason === "client_reset" || reason === "server_reset")) this.endReason = reason;
  }

  /** A write to the server failed: it reset the connection. Reset it ourselves too, in case Bun has not. */
  #serverBroke(): void {
    if (this.serverClosed) return;
    this.serverBroken = true;
    this.conn?.socket?.terminate();
  }

  #clientBroke(): void {
    if (this.clientClosed) return;
    this.clientBroken = true;
    this.client.terminate();
  }

  /** Reset the client: its stream was cut, and a FIN would make the truncated stream look complete. */
  #cutClient(): void {
    this.conn?.dropToClient();
    this.client.terminate();
  }

  onClientClosed(error: Error | undefined): void {
    if (this.clientClosed) return;
    const proxy = this.#proxy;
    if (proxy) {
      this.#proxy = null;
      proxy.closedEarly(this);
    }
    // Gone before the handshake finished (or before its SSLRequest): a failed handshake, not a session.
    const stage = this.#clientTls;
    if (stage) {
      this.#clientTls = null;
      stage.closedEarly(this, error?.message ?? "the client closed during the handshake");
    }
    this.clientClosed = true;
    const reset = error !== undefined || this.clientBroken || this.cutting;
    this.#ended(reset ? "client_reset" : "client_closed");
    const conn = this.conn;
    if (this.state === CONNECTING) {
      conn?.discard(); // an attempt in flight: its socket is closed when it opens
      this.conn = null;
    } else if (conn && !this.serverClosed) {
      // Nothing more can reach the client; a paused server must be read again, or its close is never seen.
      conn.dropToClient();
      conn.socket?.resume();
      if (reset) {
        conn.socket?.terminate(); // pass the reset on
      } else {
        // A clean close is the client's FIN (Bun closes a socket we shut when the peer's FIN comes,
        // without an `end`): what it sent still goes to the server, then our FIN.
        this.clientEof = true;
        if (this.toServer.empty) this.#shutServer();
      }
    }
    this.#maybeFinish();
  }

  onServerClosed(error: Error | undefined): void {
    if (this.serverClosed || this.state !== RELAYING) return;
    this.serverClosed = true;
    const reset = error !== undefined || this.serverBroken || this.cutting;
    // A reset after the server's own FIN is its kernel answering bytes the client sent after that
    // close (Redis's `timeout`, MySQL's wait_timeout): the server ended the session cleanly and is
    // not to blame, though the client still gets the reset (those bytes reached nobody).
    const afterFin = reset && this.serverEof && !this.cutting;
    this.#ended(reset && !afterFin ? "server_reset" : "server_closed");
    // A reset while the client is still there is the server's doing (not ours passing a client's reset on, nor our own cut).
    const failed = reset && !afterFin && !this.clientClosed && !this.cutting;
    this.#giveBack(failed ? Outcome.serverFailed : Outcome.ok);
    this.#dropToServer();
    if (!this.clientClosed) {
      if (reset) {
        this.#cutClient(); // pass the reset on: a truncated stream must not look complete
      } else {
        if (!this.serverEof) this.onServerEof();
        // A client paused behind a full queue must be read again, or its FIN and close are never seen.
        this.client.resume();
      }
    }
    this.#maybeFinish();
  }

  /** Idle or connect deadline reached (the Worker's timer wheel calls this). */
  onDeadline(now: number): void {
    if (this.state === CONNECTING) {
      const proxy = this.#proxy;
      if (proxy) {
        this.#proxy = null;
        return proxy.timedOut(this);
      }
      const stage = this.#clientTls;
      if (stage) {
        this.#clientTls = null;
        return stage.timedOut(this);
      }
      if (this.#routes) this.#tryRoute(true);
      else if (this.conn) this.#retry(this.conn);
      else if (this.queued) this.#queueTimedOut();
      else if (this.waitingForDescriptors) this.refuse(L.rejectedFdLimit, "fd_limit");
      return;
    }
    if (this.state !== RELAYING || this.listener.idleTimeoutMs <= 0) return;
    const due = this.lastActive + this.listener.idleTimeoutMs;
    if (due > now) return this.plane.wheel.schedule(this, due);
    this.close("idle_timeout");
  }

  #queueTimedOut(): void {
    this.assigner!.withdraw(this);
    this.refuse(L.rejectedQueueTimeout, "queue_timeout");
  }

  #armIdle(): void {
    if (this.listener.idleTimeoutMs > 0) this.plane.wheel.schedule(this, this.lastActive + this.listener.idleTimeoutMs);
  }

  /**
   * End the session now from aegis's side (idle timeout, shutdown, a crash). With bytes still
   * unsent either way, or when `reset` says so, both peers get a reset: a FIN would make a
   * truncated stream look complete.
   */
  close(reason: EndReason, reset = false): void {
    if (this.state === DONE) return;
    this.endReason = reason;
    const conn = this.conn;
    const cut = reset || !this.toServer.empty || (conn !== null && !conn.toClient.empty);
    // Our own terminate() calls the close handlers at once: they must pass a reset on, not a FIN.
    this.cutting = cut;
    if (conn && !this.serverClosed && this.state === RELAYING) {
      if (cut) conn.socket?.terminate();
      else conn.socket?.end();
    }
    if (!this.clientClosed) {
      if (cut) this.client.terminate();
      else this.client.end();
    }
    this.#maybeFinish();
  }

  #maybeFinish(): void {
    if (this.state === DONE || !this.clientClosed) return;
    if (this.state === RELAYING && !this.serverClosed) return;
    this.state = DONE;
    this.plane.wheel.cancel(this);
    this.#giveBack(Outcome.unused);
    this.assigner?.withdraw(this);
    this.#routes = null;
    this.#clientTls = null;
    this.#proxy = null;
    this.#dropToServer();
    if (this.conn) {
      this.conn.dropToClient();
      this.conn.owner = null;
    }
    this.plane.finish(this, performance.now() - this.#startMono);
  }
}

defineBitFlags(Session, "flags", [
  "clientEof", "serverEof", "clientShut", "serverShut", "clientClosed", "serverClosed",
  "clientBroken", "serverBroken", "cutting", "queued", "waitingForDescriptors",
]);

/** A Session's rarely used fields, with the values a session that never set them reads. */
class SessionRare {
  exclude: readonly number[] = NO_EXCLUSIONS;
  routes: Routes | null = null;
  proxy: ProxyAccept | null = null;
  proxyHeader: ProxyHeader | null = null;
  clientIp: IpWords | null | undefined = undefined;
  country: string | null | undefined = undefined;
  peer: string | null = null;
  region: string | null = null;
  stickSlot = -1;
  clientTls: ClientTls | null = null;
  hello: HelloResult = PENDING_HELLO;
  helloSize = -1;
  tls: TlsFacts | null = null;
  rejectReason: string | null = null;
}
