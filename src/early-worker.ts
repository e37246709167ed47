// Imported first by main.ts: when the command will run the proxy, the first Worker starts loading
// before any other module is evaluated, since time to the first relayed connection is a target.
// A bad command line or config simply exits the process, idle Worker and all.

function commandOf(argv: readonly string[]): string | null {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--config" || arg === "-c") i++;
    else if (arg === "--help" || arg === "-h" || arg === "--version" || arg === "-V") return "help";
    else if (!arg.startsWith("-")) return arg;
  }
  return "run";
}

const command = commandOf(process.argv.slice(2));
let early: Worker | null =
  command === "run" || command === "demo" ? new Worker(new URL("./worker.ts", import.meta.url).href) : null;

/** The Worker started at load time, handed over once; null afterwards or when none was started. */
export function takeEarlyWorker(): Worker | null {
  const worker = early;
  early = null;
  return worker;
}
