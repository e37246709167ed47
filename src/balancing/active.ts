// Open connections per server, as one Worker's balancer counts them through onOpen / onClose.

/** Contract: never negative, even if a close arrives for a server the count never saw open. */
export class ActiveCounts {
  readonly #counts: Int32Array;

  constructor(servers: number) {
    this.#counts = new Int32Array(servers);
  }

  of(server: number): number {
    return this.#counts[server] ?? 0;
  }

  open(server: number): void {
    if (server >= 0 && server < this.#counts.length) this.#counts[server]! += 1;
  }

  close(server: number): void {
    if (this.#counts[server]! > 0) this.#counts[server]! -= 1;
  }
}
