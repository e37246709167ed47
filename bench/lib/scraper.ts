// A Prometheus-like scraper in its own process, so that the harness's event loop is not what
// gets measured: fetches URL every INTERVAL_MS (from the start of one fetch to the start of
// the next; never two at once) until a line arrives on stdin or stdin closes.
//
//   bun bench/lib/scraper.ts URL INTERVAL_MS
//
// Prints {"ready":true,"bytes":N} after the first successful scrape (the harness starts the
// workload then), and at the end one JSON line:
//   {"scrapes":N,"failed":N,"firstError":"...","bytes":N,"medianMs":N,"p99Ms":N,"maxMs":N}
// It exits by itself after 10 minutes whatever happens.

const url = process.argv[2] ?? "";
const intervalMs = Number(process.argv[3]);
if (!url || !(intervalMs > 0)) {
  console.error("usage: bun scraper.ts URL INTERVAL_MS");
  process.exit(2);
}
setTimeout(() => process.exit(3), 600_000).unref();

const durations: number[] = [];
let failed = 0;
let firstError = "";
let bytes = 0;
let stopping = false;
let announced = false;

async function scrapeOnce(): Promise<void> {
  const t0 = performance.now();
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
    const body = await res.text();
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    durations.push(performance.now() - t0);
    bytes = body.length;
    if (!announced) {
      announced = true;
      console.log(JSON.stringify({ ready: true, bytes }));
    }
  } catch (e) {
    failed++;
    firstError ||= e instanceof Error ? e.message : String(e);
  }
}

async function loop(): Promise<void> {
  while (!stopping) {
    const started = performance.now();
    await scrapeOnce();
    const wait = intervalMs - (performance.now() - started);
    if (wait > 0 && !stopping) await Bun.sleep(wait);
  }
}

const done = loop();

// Stop on the first line (or EOF) on stdin.
(async () => {
  const reader = Bun.stdin.stream().getReader();
  for (;;) {
    const { value, done: eof } = await reader.read();
    if (eof || (value && new TextDecoder().decode(value).includes("\n"))) break;
  }
  stopping = true;
  await done;
  const sorted = [...durations].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  console.log(JSON.stringify({
    scrapes: durations.length, failed, firstError, bytes,
    medianMs: at(0.5), p99Ms: at(0.99), maxMs: sorted[sorted.length - 1] ?? NaN,
  }));
  process.exit(0);
})();
