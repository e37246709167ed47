// The scrape-cost row: the keep-alive GET workload through aegis, alone and while a separate
// Bun process (lib/scraper.ts) fetches its /metrics every 100 ms for the whole run.

import { join } from "node:path";
import { startPiped, stop } from "./procs.ts";
import { redisBenchmark, redisBenchmarkArgs, type RedisBenchOptions } from "./workloads.ts";
import type { Options } from "./args.ts";

export interface ScraperStats {
  scrapes: number;
  failed: number;
  firstError: string;
  bytes: number;
  medianMs: number;
  p99Ms: number;
  maxMs: number;
}

export interface ScrapeRound {
  round: number;
  scraped: boolean;
  rps: number;
  p50: number;
  p99: number;
  max: number;
  seconds: number;
  scraper?: ScraperStats;
}

export interface ScrapeResult {
  rounds: ScrapeRound[];
  without?: ScrapeRound;
  with?: ScrapeRound;
  intervalMs: number;
  command: string;
}

export interface ScrapeContext {
  o: Options;
  logDir: string;
  problem(msg: string): void;
  say(msg: string): void;
  checkInterrupted(): void;
  /** Whether the aegis under test still runs (checked after each workload). */
  alive(): boolean;
}

export async function runScrapeCost(ctx: ScrapeContext, port: number, metricsPort: number): Promise<ScrapeResult> {
  const { o, say, problem } = ctx;
  const bench: RedisBenchOptions = { requests: o.getRequests, clients: o.clients, pipeline: 1, keepalive: true };
  const url = `http://127.0.0.1:${metricsPort}/metrics`;
  const result: ScrapeResult = {
    rounds: [], intervalMs: o.scrapeIntervalMs,
    command: redisBenchmarkArgs(0, bench).join(" ").replace(/-p 0\b/, "-p PORT"),
  };
  for (let round = 0; round < o.scrapeRounds; round++) {
    // Alternate which goes first, so that drift on a noisy machine favours neither.
    for (const scraped of round % 2 === 0 ? [false, true] : [true, false]) {
      ctx.checkInterrupted();
      if (!ctx.alive()) return result;
      say(`scrape cost round ${round + 1}/${o.scrapeRounds}: aegis ${scraped ? `with /metrics every ${o.scrapeIntervalMs} ms` : "without scraping"}`);
      let scraper: ReturnType<typeof startPiped> | null = null;
      try {
        if (scraped) {
          scraper = startPiped("scraper", [process.execPath, join(import.meta.dir, "scraper.ts"), url, String(o.scrapeIntervalMs)], join(ctx.logDir, "scraper.log"));
          const ready = await scraper.readLine(10_000);
          if (ready === null) throw new Error(`the scraper got no answer from ${url} within 10 s`);
        }
        const t0 = performance.now();
        const b = await redisBenchmark(port, bench);
        const seconds = (performance.now() - t0) / 1000;
        let stats: ScraperStats | undefined;
        if (scraper) {
          scraper.writeLine("stop");
          const line = await scraper.readLine(10_000);
          stats = line ? (JSON.parse(line) as ScraperStats) : undefined;
          if (!stats) problem(`scrape cost round ${round + 1}: the scraper printed no summary`);
          else if (stats.failed > 0) problem(`scrape cost round ${round + 1}: ${stats.failed} of ${stats.failed + stats.scrapes} scrapes of ${url} failed (first: ${stats.firstError})`);
        }
        if (b.warnings.length) problem(`scrape cost round ${round + 1}${scraped ? " (scraped)" : ""}: redis-benchmark said: ${[...new Set(b.warnings)].slice(0, 3).join(" | ")}`);
        const row: ScrapeRound = { round: round + 1, scraped, rps: b.rps, p50: b.p50Ms, p99: b.p99Ms, max: b.maxMs, seconds, ...(stats ? { scraper: stats } : {}) };
        result.rounds.push(row);
        const key = scraped ? "with" : "without";
        const prev = result[key];
        if (!prev || row.rps > prev.rps) result[key] = row;
        say(`  rps=${row.rps.toFixed(0)} p50=${row.p50.toFixed(3)} p99=${row.p99.toFixed(3)} max=${row.max.toFixed(3)}${stats ? ` scrapes=${stats.scrapes} (${stats.bytes} B, median ${stats.medianMs.toFixed(2)} ms, max ${stats.maxMs.toFixed(2)} ms)` : ""}`);
      } catch (e) {
        problem(`scrape cost round ${round + 1}${scraped ? " (scraped)" : ""}: ${e instanceof Error ? e.message : String(e)}`);
      } finally {
        if (scraper) await stop(scraper.proc);
      }
      if (!ctx.alive()) problem(`aegis exited during the scrape-cost workload${scraped ? " (scraped)" : ""}`);
    }
  }
  return result;
}

const fmt = (v: number | undefined, digits: number): string =>
  v === undefined || !Number.isFinite(v) ? "—" : v.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });

export function renderScrapeTable(r: ScrapeResult): string {
  const rows: [string, "higher" | "lower", number, (x: ScrapeRound) => number][] = [
    ["GET, 50 clients: requests/s", "higher", 0, (x) => x.rps],
    ["GET, 50 clients: p50 latency, ms", "lower", 3, (x) => x.p50],
    ["GET, 50 clients: p99 latency, ms", "lower", 3, (x) => x.p99],
    ["GET, 50 clients: max latency, ms", "lower", 3, (x) => x.max],
  ];
  const head = ["metric", "better", "aegis", `aegis, /metrics every ${r.intervalMs} ms`, "scraped ÷ not"];
  const lines = rows.map(([label, better, digits, get]) => {
    const a = r.without ? get(r.without) : NaN;
    const b = r.with ? get(r.with) : NaN;
    return [label, better === "higher" ? "↑ higher" : "↓ lower", fmt(a, digits), fmt(b, digits), Number.isFinite(a) && Number.isFinite(b) && a > 0 ? `${(b / a).toFixed(2)}×` : "—"];
  });
  const s = r.with?.scraper;
  if (s) {
    lines.push(["scrapes during the run (failed)", "", "", `${s.scrapes} (${s.failed})`, ""]);
    lines.push(["scrape time, median / p99 / max, ms", "↓ lower", "", `${fmt(s.medianMs, 2)} / ${fmt(s.p99Ms, 2)} / ${fmt(s.maxMs, 2)}`, ""]);
    lines.push(["/metrics body, bytes", "", "", fmt(s.bytes, 0), ""]);
  }
  return [head, ["---", "---", "---:", "---:", "---:"], ...lines].map((l) => `| ${l.join(" | ")} |`).join("\n");
}

export function scrapeMarkdown(r: ScrapeResult): string {
  const pairs = new Set(r.rounds.map((x) => x.round)).size;
  return `## Cost of scraping /metrics under load

The keep-alive GET workload through the plain aegis column (\`${r.command}\`), without and with a separate Bun process
(\`lib/scraper.ts\`) fetching \`http://METRICS/metrics\` every ${r.intervalMs} ms (start to start, one at a time) for the whole
workload. ${pairs} pair(s) of runs, the order alternating between pairs; each side keeps its best run by requests/s with that run's latencies.
On the ↑ row a ratio below 1.00× is what scraping costs; on ↓ rows a ratio above 1.00×.

${renderScrapeTable(r)}
`;
}
