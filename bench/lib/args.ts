// Command line of bench/compare.

import { resolve } from "node:path";
import { ALL_COLUMNS, type ColumnId } from "./proxies.ts";

export interface Options {
  quick: boolean;
  columns: ColumnId[];
  aegisPath: string;
  /** Rounds of the throughput workloads; each column keeps its best round. */
  rounds: number;
  /** Spawns per proxy for the startup time; the median is reported. */
  startupTrials: number;
  getRequests: number;
  pipelineRequests: number;
  connRequests: number;
  clients: number;
  pipeline: number;
  iperfSeconds: number;
  idleConnections: number;
  out: string | null;
  keep: boolean;
}

export const USAGE = `usage: bench/compare [--quick] [--only LIST] [--aegis PATH] [--rounds N]
                     [--out FILE | --no-write] [--keep]

Runs the same workloads direct to the backends and through aegis, aegis with a
connection pool, HAProxy and nginx stream, then prints one markdown table and
writes it to bench/RESULTS.md (text after "<!-- notes -->" there is kept).

  --quick        smaller counts, 2 s iperf3, one round, one spawn (about 1 minute)
  --only LIST    comma-separated subset of: ${ALL_COLUMNS.join(",")}
                 ("direct" and "no-proxy" mean none, "aegis-pool" means aegis+pool)
  --aegis PATH   the aegis executable (default: dist/aegis in the repository)
  --rounds N     throughput rounds; each column keeps its best (default 2, quick 1)
  --out FILE     write the results there instead of bench/RESULTS.md
  --no-write     only print
  --keep         keep the temporary directory with every config and log
`;

const ALIASES: Record<string, ColumnId> = {
  none: "none",
  direct: "none",
  "no-proxy": "none",
  aegis: "aegis",
  "aegis+pool": "aegis+pool",
  "aegis-pool": "aegis+pool",
  pool: "aegis+pool",
  haproxy: "haproxy",
  nginx: "nginx",
};

export function parseArgs(argv: string[], repoRoot: string): Options {
  const o: Options = {
    quick: false,
    columns: [...ALL_COLUMNS],
    aegisPath: resolve(repoRoot, "dist/aegis"),
    rounds: 0,
    startupTrials: 5,
    getRequests: 150_000,
    pipelineRequests: 1_500_000,
    connRequests: 20_000,
    clients: 50,
    pipeline: 16,
    iperfSeconds: 5,
    idleConnections: 4000,
    out: resolve(repoRoot, "bench/RESULTS.md"),
    keep: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    const [flag, inline] = arg.startsWith("--") && arg.includes("=") ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)] : [arg, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined || v === "") throw new UsageError(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case "--quick":
        o.quick = true;
        break;
      case "--only":
        o.columns = parseColumns(value());
        break;
      case "--aegis":
        o.aegisPath = resolve(process.cwd(), value());
        break;
      case "--rounds": {
        const n = Number(value());
        if (!Number.isInteger(n) || n < 1 || n > 10) throw new UsageError("--rounds takes 1 to 10");
        o.rounds = n;
        break;
      }
      case "--out":
        o.out = resolve(process.cwd(), value());
        break;
      case "--no-write":
        o.out = null;
        break;
      case "--keep":
        o.keep = true;
        break;
      case "-h":
      case "--help":
        throw new UsageError("");
      default:
        throw new UsageError(`unknown argument: ${arg}`);
    }
  }
  if (o.quick) {
    o.startupTrials = 1;
    o.getRequests = 50_000;
    o.pipelineRequests = 500_000;
    o.connRequests = 10_000;
    o.iperfSeconds = 2;
  }
  if (o.rounds === 0) o.rounds = o.quick ? 1 : 2;
  return o;
}

function parseColumns(list: string): ColumnId[] {
  const wanted = new Set<ColumnId>();
  for (const raw of list.split(",").map((s) => s.trim().toLowerCase()).filter(Boolean)) {
    const id = ALIASES[raw];
    if (!id) throw new UsageError(`--only: unknown column "${raw}" (choose from ${ALL_COLUMNS.join(", ")})`);
    wanted.add(id);
  }
  if (wanted.size === 0) throw new UsageError("--only: empty list");
  return ALL_COLUMNS.filter((c) => wanted.has(c));
}

export class UsageError extends Error {}
