// Looking for trouble besides the numbers: what each proxy logged, and aegis's own
// failure counters. Each returns messages; the caller decides where they go.

import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { indent } from "./report.ts";

export interface LogFindings {
  problems: string[];
  /** Understood and harmless, listed so that nothing is hidden. */
  ignored: string[];
}

/**
 * Lines at warning level or above in the proxy's logs. iperf3 ends every test by resetting
 * its data connection (it closes with unread data in flight), so resets and broken pipes on
 * the iperf3 path (either of iperfPorts) are counted as expected instead.
 */
export function scanProxyLog(title: string, kind: "aegis" | "bun" | "c" | "haproxy" | "nginx", files: string[], iperfPorts: number[]): LogFindings {
  const lines = files
    .filter(existsSync)
    .flatMap((f) => readFileSync(f, "utf8").split("\n"))
    .map((l) => l.trim())
    .filter(Boolean);
  const notable = lines.filter((l) => {
    if (kind === "aegis") return !/"msg":"ready"/.test(l) && /"level":"(warn|error|fatal)"|^[^{]/.test(l);
    if (kind === "nginx") return /\[(warn|error|crit|alert|emerg)\]/.test(l);
    return true; // HAProxy in -db mode and the bare Bun relay say nothing unless something is wrong
  });
  const iperfPath = new RegExp([...iperfPorts.map((p) => `[:"]${p}\\b`), '"listener":"iperf"', '"upstream":"iperf"'].join("|"));
  // nginx over TLS adds "SSL_shutdown() failed (... application data after close notify)" for the same ending.
  const teardown = /reset by peer|broken pipe|ECONNRESET|EPIPE|application data after close notify/i;
  const expected = notable.filter((l) => iperfPath.test(l) && teardown.test(l));
  // aegis warns at start when run as root by hand, which is how bench/compare runs it.
  const asRoot = kind === "aegis" ? notable.filter((l) => /"msg":"running as root/.test(l)) : [];
  const bad = notable.filter((l) => !expected.includes(l) && !asRoot.includes(l));
  const findings: LogFindings = { problems: [], ignored: [] };
  if (expected.length) {
    findings.ignored.push(`${title}: ${expected.length} log line(s) about resets on the iperf3 path (iperf3 resets its data connection when a test ends)`);
  }
  if (asRoot.length) {
    findings.ignored.push(`${title}: ${asRoot.length} "running as root" warning(s) at start (the benchmark runs it as root)`);
  }
  if (bad.length) {
    const distinct = [...new Set(bad.map((l) => l.replace(/"time":"[^"]*",?/, "").slice(0, 300)))];
    findings.problems.push(`${title} logged ${bad.length} warning/error line(s), e.g.:\n${indent(distinct.slice(0, 5).join("\n"))}`);
  }
  return findings;
}

/** A counter line that is understood: kept out of the problems and handed to `note` instead. */
export interface ExpectedCounters {
  test(line: string, value: number): boolean;
  note(lines: string[]): void;
}

/**
 * aegis counts refused clients, failed upstream connects and failed upstream TLS handshakes: any
 * at all is worth a look, unless the caller knows why (`expected`).
 */
export async function aegisCounterProblems(title: string, metricsPort: number, saveTo: string, expected?: ExpectedCounters): Promise<string[]> {
  let text: string;
  try {
    const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { signal: AbortSignal.timeout(3000) });
    text = await res.text();
  } catch (e) {
    return [`${title}: /metrics on 127.0.0.1:${metricsPort} did not answer (${e instanceof Error ? e.message : String(e)})`];
  }
  writeFileSync(saveTo, text);
  const nonZero = text
    .split("\n")
    .filter((l) => /^aegis_(connections_rejected_total|upstream_connect_errors_total|upstream_tls_failures_total)\b/.test(l))
    .filter((l) => Number(l.trim().split(/\s+/).pop()) > 0);
  const understood = expected ? nonZero.filter((l) => expected.test(l, Number(l.trim().split(/\s+/).pop()))) : [];
  if (understood.length) expected?.note(understood);
  const bad = nonZero.filter((l) => !understood.includes(l));
  return bad.length ? [`${title} /metrics at the end of the run (since its last start):\n${indent(bad.join("\n"))}`] : [];
}
