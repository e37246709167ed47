// Fault injection for tests: off unless the process was started with AEGIS_TEST_FAULTS=1.
//
// Nothing in a config file, the command line or the admin API can turn it on; without the variable
// the metrics listener answers 404 at /faults/ and a Worker ignores a fault message.

export const FAULTS_ENV = "AEGIS_TEST_FAULTS";

export function faultsEnabled(): boolean {
  return process.env[FAULTS_ENV] === "1";
}

/** Crash the calling Worker as a bug would: an exception nothing catches, thrown from a timer. */
export function crashThisWorker(worker: number): void {
  setTimeout(() => {
    throw new Error(`${FAULTS_ENV}: Worker ${worker} crashed on purpose`);
  }, 0);
}

/** Block the calling Worker's thread for `ms`: no message, timer or socket is served meanwhile. */
export function stallThisWorker(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
