// Sessions holding each server, as one Worker's balancer counts them through onTake / onDrop.

/** Contract: never negative, even if a drop arrives for a server the count never saw taken. */
export class ActiveCounts {
  readonly #counts: Int32Array;

  constructor(servers: number) {
    this.#counts = new Int32Array(servers);
  }

  of(server: number): number {
    return this.#counts[server] ?? 0;
  }

  take(server: number): void {
    if (server >= 0 && server < this.#counts.length) this.#counts[server]! += 1;
  }

  drop(server: number): void {
    if (this.#counts[server]! > 0) this.#counts[server]! -= 1;
  }
}
