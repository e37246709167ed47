// One listener as a Worker runs it. The object outlives reloads that keep its name and address: the
// listening socket stays open and only its routes and settings are swapped.
import type { TCPSocketListener, TLSOptions } from "bun";
import { keepsSocket } from "../config/listener-identity.ts";
import type { ListenerConfig } from "../config/types.ts";
import { cidrSetOf, type CidrSet } from "../net/cidr-set.ts";
import { newIpWords, parseIp } from "../net/ip.ts";
import type { Endpoint } from "../net/proxy-protocol.ts";
import type { Routes, Session } from "./session.ts";

/** What a session keeps of its listener: fixed at accept, so a reload never changes it under the session. */
export interface ListenerRef {
  readonly name: string;
  /** First counter cell of this listener in the Worker's region. */
  readonly base: number;
  /** First cell of its session-duration histogram. */
  readonly histBase: number;
  /**
   * The address clients reach it at, when the bind says (an IP, not a wildcard or a name): the
   * destination a PROXY header names without asking the kernel. Null: read it from the socket.
   */
  readonly local: Endpoint | null;
  /** The port it listens on. */
  readonly port: number;
  /** idle_timeout, in ms (0: none). */
  readonly idleTimeoutMs: number;
  /** buffer_limit: bytes held per direction before that side stops being read. */
  readonly bufferLimit: number;
}

export class ListenerRuntime implements ListenerRef {
  socket: TCPSocketListener<Session | null> | null = null;
  /**
   * mode = "postgres": the TLS options a connection is upgraded with after its SSLRequest (the
   * listening socket itself is plain). Null otherwise.
   */
  upgradeTls: TLSOptions | null = null;
  #trusted: CidrSet | null = null;
  #local: Endpoint | null = null;
  #localFor: ListenerConfig | null = null;
  #localPort = -1;
  #trustedFor: ListenerConfig | null = null;
  #ref: ListenerRef | null = null;
  /** The config #ref was made from: its name, idle_timeout, buffer_limit and (with the port) local come from it. */
  #refFor: ListenerConfig | null = null;

  constructor(
    public config: ListenerConfig,
    public routes: Routes,
    public base: number,
    public histBase: number,
  ) {}

  get name(): string {
    return this.config.name;
  }

  get idleTimeoutMs(): number {
    return this.config.idleTimeoutMs;
  }

  get bufferLimit(): number {
    return this.config.bufferLimit;
  }

  /** The same listening socket can serve the new config (the rule is config/listener-identity.ts). */
  sameSocket(next: ListenerConfig): boolean {
    return keepsSocket(this.config, this.socket?.port ?? null, next);
  }

  /** proxy_protocol_from as a set, built once per config. */
  get trustedProxies(): CidrSet {
    if (this.#trustedFor !== this.config) {
      this.#trusted = cidrSetOf(this.config.proxyProtocol?.from ?? []);
      this.#trustedFor = this.config;
    }
    return this.#trusted!;
  }

  /**
   * A fixed snapshot for a session (the runtime's own fields change on reload). One object is
   * shared by every session accepted under the same settings, not one per session: it is frozen,
   * and made anew only when a reload (or the bound port) changed what it holds.
   */
  ref(): ListenerRef {
    const r = this.#ref;
    const port = this.port;
    const c = this.config;
    if (r !== null && this.#refFor === c && r.base === this.base && r.histBase === this.histBase && r.port === port) return r;
    this.#refFor = c;
    return (this.#ref = Object.freeze({ name: c.name, base: this.base, histBase: this.histBase, local: this.local, port, idleTimeoutMs: c.idleTimeoutMs, bufferLimit: c.bufferLimit }));
  }

  get port(): number {
    return this.socket?.port ?? this.config.bind.port;
  }

  /** The bind's address when it is an IP (not a wildcard, not a name), worked out once per config and port. */
  get local(): Endpoint | null {
    const port = this.port;
    if (this.#localFor !== this.config || this.#localPort !== port) {
      const host = this.config.bind.host;
      const wildcard = host === "0.0.0.0" || host === "::" || !parseIp(host, newIpWords());
      this.#local = wildcard ? null : { host: host.startsWith("::ffff:") && host.includes(".") ? host.slice(7) : host, port };
      this.#localFor = this.config;
      this.#localPort = port;
    }
    return this.#local;
  }
}
