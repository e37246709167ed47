// The one teardown of the test files that start aegis, backends and clients: whatever a test did, none of it outlives the test.
import { afterEach } from "bun:test";
import type { Aegis } from "./aegis.ts";
import type { Backend } from "./backends.ts";
import type { Client } from "./client.ts";

/** The lists a test file pushes what it starts onto; each is emptied after every test. */
export interface Started {
  readonly backends: Backend[];
  readonly clients: Client[];
  /** Anything else to undo, run last, in the order pushed. */
  readonly cleanups: (() => void)[];
}

/**
 * Registers the teardown: the clients' sockets are cut first (so aegis has no session to wait on),
 * then the aegis `current` returns is killed, then the backends stop and the cleanups run.
 * `current` is read at teardown time, so a file keeps its own `let aegis` and assigns it as it
 * likes; stopping an aegis that has already exited returns at once.
 */
export function stopAfterEach(current: () => Aegis | null = () => null): Started {
  const started: Started = { backends: [], clients: [], cleanups: [] };
  afterEach(async () => {
    for (const c of started.clients.splice(0)) c.socket.terminate();
    await current()?.stop("SIGKILL");
    for (const b of started.backends.splice(0)) b.stop();
    for (const f of started.cleanups.splice(0)) f();
  });
  return started;
}
