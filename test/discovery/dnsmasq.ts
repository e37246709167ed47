// A real dnsmasq on 127.0.0.1 for the discovery tests: its own records (hosts file, re-read on
// SIGHUP; SRV lines in its conf, read at start), no upstream servers, killed by PID.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../helpers/aegis.ts";
import { closedPort } from "../helpers/backends.ts";

export interface Dnsmasq {
  port: number;
  /** Replace the A/AAAA records ("127.0.0.2 svc.test" lines) and SIGHUP; resolves once dnsmasq says it read them. */
  hosts(lines: string[]): Promise<void>;
  /** Stop, and start again on the same port with these SRV lines ("_x._tcp.test,target,port,priority,weight"). */
  restart(srv?: string[]): Promise<void>;
  /** Queries dnsmasq logged for `name` and type so far (with `logQueries`). */
  queries(name: string, type?: string): number;
  stop(): void;
}

const DNSMASQ = ["/usr/sbin/dnsmasq", "dnsmasq"].find((p) => Bun.which(p)) ?? "/usr/sbin/dnsmasq";

/**
 * `records`: "name,address,ttl" host records, each with its own TTL; `logQueries`: count what is
 * asked; `local`: a domain dnsmasq answers for alone, so an unknown name there is NXDOMAIN (not REFUSED).
 */
export async function startDnsmasq(options: { srv?: string[]; hosts?: string[]; ttl?: number; records?: string[]; logQueries?: boolean; local?: string } = {}): Promise<Dnsmasq> {
  const dir = tempDir("aegis-dnsmasq-");
  const hostsFile = join(dir, "hosts");
  const log = join(dir, "log");
  writeFileSync(hostsFile, (options.hosts ?? []).join("\n") + "\n");
  const port = closedPort(); // free for TCP just now; dnsmasq takes it for UDP and TCP
  let proc: ReturnType<typeof Bun.spawn> | null = null;
  let output = "";
  let reads = 0;
  const launch = async (srv: string[]) => {
    const conf = join(dir, "dnsmasq.conf");
    writeFileSync(conf, [...srv.map((s) => `srv-host=${s}`), ...(options.records ?? []).map((r) => `host-record=${r}`), ...(options.logQueries ? ["log-queries"] : []), ...(options.local ? [`local=/${options.local}/`] : [])].join("\n") + "\n");
    reads = 0;
    output = "";
    proc = Bun.spawn([DNSMASQ, "--keep-in-foreground", "--no-resolv", "--no-hosts", "--no-daemon", `--port=${port}`, "--listen-address=127.0.0.1",
      "--bind-interfaces", `--addn-hosts=${hostsFile}`, `--conf-file=${conf}`, `--local-ttl=${options.ttl ?? 0}`, "--pid-file=", "--user=root", "--log-facility=-"], { stdout: "pipe", stderr: "pipe" });
    void (async () => {
      for await (const chunk of proc!.stderr as ReadableStream<Uint8Array>) {
        output += new TextDecoder().decode(chunk);
        reads = (output.match(/read .*hosts/g) ?? []).length;
      }
    })();
    await until(() => reads >= 1, "dnsmasq started and read its hosts file");
  };
  const until = async (check: () => boolean, what: string) => {
    for (let i = 0; i < 500 && !check(); i++) {
      if (proc?.exitCode != null) throw new Error(`dnsmasq exited: ${output}`);
      await Bun.sleep(20); // polling dnsmasq's own log line: the event we wait for
    }
    if (!check()) throw new Error(`${what}: not seen; dnsmasq said: ${output}`);
  };
  await launch(options.srv ?? []);
  return {
    port,
    async hosts(lines) {
      writeFileSync(hostsFile, lines.join("\n") + "\n");
      const before = reads;
      proc!.kill("SIGHUP");
      await until(() => reads > before, "dnsmasq re-read its hosts file");
    },
    async restart(srv = []) {
      proc!.kill("SIGKILL");
      await proc!.exited;
      await launch(srv);
    },
    queries(name, type) {
      const re = new RegExp(`query\\[${type ?? "[A-Z]+"}\\] ${name.replaceAll(".", "\\.")} from`, "g");
      return (output.match(re) ?? []).length;
    },
    stop() {
      proc?.kill("SIGKILL");
    },
  };
}
