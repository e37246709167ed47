// Command line of bench/compare.

import { resolve } from "node:path";
import { ALL_COLUMNS, type ColumnId } from "./proxies.ts";

/** Parts of a run: the main table, the latency-aware balancing row, the scrape-cost row, the TLS rows, the client-identity rows. */
export type Section = "main" | "balance" | "scrape" | "tls" | "client";
export const ALL_SECTIONS: Section[] = ["main", "balance", "scrape", "tls", "client"];

export interface Options {
  quick: boolean;
  sections: Section[];
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
  /** Seconds of each wrk row. */
  wrkSeconds: number;
  /** GETs counted under strace for the syscalls-per-GET row. */
  syscallRequests: number;
  /** Proxied connections held open for the held-connections row (two fds each in the proxy). */
  heldConnections: number;
  /** Connection-per-GET requests per column in the balancing row. */
  balanceRequests: number;
  /** How much later the slow one of the three balancing backends answers. */
  slowMs: number;
  /** Without/with pairs in the scrape-cost row; each side keeps its best. */
  scrapeRounds: number;
  scrapeIntervalMs: number;
  /** Seconds of openssl s_time (handshakes alone) per column and round. */
  tlsSTimeSeconds: number;
  /** New TLS connections (one PING each) per column and round in the handshake row. */
  tlsHandshakes: number;
  /** Requests per test (GET, SET) per column and round in the keep-alive TLS rows. */
  tlsRequests: number;
  /** Bytes SET and read back through each program's TLS hop before the TLS rounds. */
  tlsIntegrityBytes: number;
  /** Rounds of the client-identity rows: each gives one variant ÷ plain ratio, so at least 3 to see the noise. */
  clientRounds: number;
  out: string | null;
  keep: boolean;
}

export const USAGE = `usage: bench/compare [--quick] [--only LIST] [--sections LIST | --extra-only]
                     [--aegis PATH] [--rounds N] [--slow-ms N] [--client-rounds N]
                     [--out FILE | --no-write] [--keep]

Runs the same workloads direct to the backends and through aegis, aegis with a
connection pool, HAProxy and nginx stream, then prints one markdown table and
writes it to bench/RESULTS.md (text after "<!-- notes -->" there is kept).
Then four more tables: latency-aware balancing (three backends, one slow),
the cost of scraping aegis's /metrics every 100 ms, TLS (aegis, bare Bun,
HAProxy and nginx terminating the same certificate, and as TLS pairs), and what
send_proxy = "v2" and 50 source routes cost a new connection per request.

  --quick        smaller counts, 2 s iperf3, one round, one spawn (about 3 minutes)
  --only LIST    comma-separated subset of: ${ALL_COLUMNS.join(",")}
                 ("direct" and "no-proxy" mean none, "aegis-pool" means aegis+pool);
                 the balancing row runs its aegis columns with aegis, its HAProxy
                 ones with haproxy; the scrape row needs aegis; the TLS rows run
                 aegis, bun, haproxy and nginx (none and aegis+pool have no TLS column)
  --sections LIST  comma-separated subset of: ${ALL_SECTIONS.join(",")} (default: all)
                 main = the table above, balance = one slow backend of three,
                 scrape = /metrics every 100 ms under load, tls = handshakes,
                 keep-alive requests and bulk through TLS, client = send_proxy
                 and 50 routes against the plain listener. Without every section,
                 nothing is written unless --out is given (RESULTS.md stays whole)
  --extra-only   every section but main (= --sections balance,scrape,tls,client)
  --slow-ms N    how much later the slow backend answers (default 5)
  --client-rounds N  rounds of the client rows, each one ratio (default 5, quick 3)
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
  "aegis-w1": "aegis-w1",
  w1: "aegis-w1",
  bun: "bun",
  "bare-bun": "bun",
  c: "c",
  "c-relay": "c",
  haproxy: "haproxy",
  nginx: "nginx",
};

export function parseArgs(argv: string[], repoRoot: string): Options {
  const o: Options = {
    quick: false,
    sections: [...ALL_SECTIONS],
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
    syscallRequests: 20_000,
    wrkSeconds: 5,
    heldConnections: 9_900,
    balanceRequests: 20_000,
    slowMs: 5,
    scrapeRounds: 3,
    scrapeIntervalMs: 100,
    tlsSTimeSeconds: 5,
    tlsHandshakes: 10_000,
    tlsRequests: 100_000,
    tlsIntegrityBytes: 4 * 2 ** 20,
    clientRounds: 0,
    out: resolve(repoRoot, "bench/RESULTS.md"),
    keep: false,
  };
  let outGiven = false;
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
      case "--sections":
        o.sections = parseSections(value());
        break;
      case "--extra-only":
        o.sections = ALL_SECTIONS.filter((s) => s !== "main");
        break;
      case "--slow-ms": {
        const n = Number(value());
        if (!Number.isFinite(n) || n < 0 || n > 1000) throw new UsageError("--slow-ms takes 0 to 1000");
        o.slowMs = n;
        break;
      }
      case "--client-rounds": {
        const n = Number(value());
        if (!Number.isInteger(n) || n < 1 || n > 20) throw new UsageError("--client-rounds takes 1 to 20");
        o.clientRounds = n;
        break;
      }
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
        outGiven = true;
        break;
      case "--no-write":
        o.out = null;
        outGiven = true;
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
    o.syscallRequests = 5000;
    o.wrkSeconds = 2;
    o.heldConnections = 3000;
    o.getRequests = 50_000;
    o.pipelineRequests = 500_000;
    o.connRequests = 10_000;
    o.iperfSeconds = 2;
    o.balanceRequests = 10_000;
    o.scrapeRounds = 1;
    o.tlsSTimeSeconds = 3;
    o.tlsHandshakes = 4000;
    o.tlsRequests = 40_000;
  }
  // A partial run would leave RESULTS.md with a table missing: print only, unless asked.
  if (!outGiven && o.sections.length < ALL_SECTIONS.length) o.out = null;
  if (o.rounds === 0) o.rounds = o.quick ? 1 : 2;
  if (o.clientRounds === 0) o.clientRounds = o.quick ? 3 : 5;
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

function parseSections(list: string): Section[] {
  const wanted = new Set<string>(list.split(",").map((s) => s.trim().toLowerCase()).filter(Boolean));
  for (const s of wanted) {
    if (!(ALL_SECTIONS as string[]).includes(s)) throw new UsageError(`--sections: unknown section "${s}" (choose from ${ALL_SECTIONS.join(", ")})`);
  }
  if (wanted.size === 0) throw new UsageError("--sections: empty list");
  return ALL_SECTIONS.filter((s) => wanted.has(s));
}

export class UsageError extends Error {}
