// One listener as a Worker runs it. The object outlives reloads that keep its name and address: the
// listening socket stays open and only its routes and settings are swapped.
import type { TCPSocketListener, TLSOptions } from "bun";
import { keepsSocket } from "../config/listener-identity.ts";
import type { ListenerConfig } from "../config/types.ts";
import { cidrSetOf, type CidrSet } from "../net/cidr-set.ts";
import type { Routes, Session } from "./session.ts";

/** What a session keeps of its listener: fixed at accept, so a reload never changes it under the session. */
export interface ListenerRef {
  readonly name: string;
  /** First counter cell of this listener in the Worker's region. */
  readonly base: number;
  /** First cell of its session-duration histogram. */
  readonly histBase: number;
}

export class ListenerRuntime implements ListenerRef {
  socket: TCPSocketListener<Session | null> | null = null;
  /**
   * mode = "postgres": the TLS options a connection is upgraded with after its SSLRequest (the
   * listening socket itself is plain). Null otherwise.
   */
  upgradeTls: TLSOptions | null = null;
  #trusted: CidrSet | null = null;
  #trustedFor: ListenerConfig | null = null;

  constructor(
    public config: ListenerConfig,
    public routes: Routes,
    public base: number,
    public histBase: number,
  ) {}

  get name(): string {
    return this.config.name;
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

  /** A fixed snapshot for one session (the runtime's own fields change on reload). */
  ref(): ListenerRef {
    return { name: this.config.name, base: this.base, histBase: this.histBase };
  }
}
