// An http check on another port, as in front of PostgreSQL with Patroni, through the compiled binary:
// two database nodes (on 127.0.0.2 and 127.0.0.3, one port each) and, beside each, a tiny HTTP server
// on one shared port P answering 200 or 503 on /primary. health = { check = "http", path = "/primary",
// port = P } sends every session to the node whose /primary says 200; when the answers swap, new
// sessions follow and the old primary's are reset (on_down = "close_sessions"). No check reaches the
// database ports (which get the PROXY header; Patroni, on its own port, does not), and the API's
// last_check shows what was sent, the reply and why the other failed.
import { afterAll, expect, test } from "bun:test";
import type { Socket, TCPSocketListener } from "bun";
import { startAegis, tempDir, type Aegis } from "./helpers/aegis.ts";
import { ensureBinary } from "./helpers/build.ts";
import { connect } from "./helpers/client.ts";

const TOKEN = "patroni-token-0123456789abcdef";
const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

interface Node {
  host: string;
  port: number;
  /** Bytes the database port got that start like an HTTP request: a check sent to the wrong port. */
  httpOnDataPort: number;
  checks: number;
  primary: boolean;
}

/** A "database" on `host` that greets with its name and echoes. */
function database(host: string, tag: string, node: Partial<Node>): TCPSocketListener {
  return Bun.listen({
    hostname: host, port: 0,
    socket: {
      open: (s: Socket) => void s.write(`${tag}:`),
      data: (s: Socket, d: Buffer) => {
        if (d.toString("latin1").startsWith("GET ")) node.httpOnDataPort = (node.httpOnDataPort ?? 0) + 1;
        s.write(d);
      },
    },
  });
}

/** Patroni's /primary on host:port: 200 while this node is primary, else 503. */
function patroni(host: string, port: number, node: Node) {
  return Bun.serve({
    hostname: host, port,
    fetch(req) {
      node.checks++;
      if (new URL(req.url).pathname !== "/primary") return new Response("not found", { status: 404 });
      return new Response(node.primary ? "primary" : "replica", { status: node.primary ? 200 : 503 });
    },
  });
}

async function landsOn(port: number, marker: string): Promise<string> {
  const c = await connect(port);
  try {
    c.write(`${marker}\n`);
    const text = await c.waitFor((t) => t.includes(`${marker}\n`));
    return text.slice(0, text.indexOf(":"));
  } finally {
    c.socket.end();
  }
}

test("sessions follow the node whose Patroni says primary; checks go to Patroni's port only", async () => {
  const nodes: Node[] = ["127.0.0.2", "127.0.0.3"].map((host, i) => ({ host, port: 0, httpOnDataPort: 0, checks: 0, primary: i === 0 }));
  nodes.forEach((n, i) => {
    const db = database(n.host, `node${i + 1}`, n);
    n.port = db.port;
    cleanups.push(() => db.stop(true));
  });
  // One Patroni port for both nodes, as in a real cluster (8008 on each host).
  const first = patroni(nodes[0]!.host, 0, nodes[0]!);
  cleanups.push(() => first.stop(true));
  const patroniPort = first.port!;
  const second = patroni(nodes[1]!.host, patroniPort, nodes[1]!);
  cleanups.push(() => second.stop(true));

  const toml = `
[global]
workers = 2
log_level = "info"
shutdown_grace = "5s"
[metrics]
listen = "127.0.0.1:0"
[admin]
token = "${TOKEN}"
[[listener]]
name = "pg"
bind = "127.0.0.1:0"
upstream = "pg"
[[upstream]]
name = "pg"
on_down = "close_sessions"
send_proxy = "v2"
servers = [{ name = "node1", address = "${nodes[0]!.host}:${nodes[0]!.port}" }, { name = "node2", address = "${nodes[1]!.host}:${nodes[1]!.port}" }]
health = { check = "http", path = "/primary", status = "200", port = ${patroniPort}, interval = "1s", timeout = "1s", rise = 1, fall = 2 }
`;
  const a: Aegis = await startAegis(toml, { command: [ensureBinary()], cwd: tempDir() });
  cleanups.push(() => a.stop("SIGKILL"));
  await a.waitForLog((l) => l.msg === "server state" && l.server === "node2" && l.to === "down", 20_000);
  for (let i = 0; i < 6; i++) expect(await landsOn(a.port, `before-${i}`)).toBe("node1");
  const old = await connect(a.port);
  old.write("old\n");
  expect((await old.waitFor((t) => t.includes("old\n"))).startsWith("node1:")).toBe(true);

  // Patroni fails over: node2 is primary now.
  nodes[0]!.primary = false;
  nodes[1]!.primary = true;
  await a.waitForLog((l) => l.msg === "server state" && l.server === "node1" && l.to === "down", 20_000);
  expect(((await old.closed) as NodeJS.ErrnoException | undefined)?.code).toBe("ECONNRESET");
  await a.waitForLog((l) => l.msg === "server state" && l.server === "node2" && l.to === "up", 20_000);
  for (let i = 0; i < 6; i++) expect(await landsOn(a.port, `after-${i}`)).toBe("node2");

  // The checks went to Patroni, never to the databases; the last check says what it saw.
  expect(nodes.every((n) => n.checks > 0 && n.httpOnDataPort === 0)).toBe(true);
  const r = await fetch(`http://127.0.0.1:${a.metricsPort}/api/upstreams/pg`, { headers: { authorization: `Bearer ${TOKEN}` } });
  const view = Object.fromEntries(((await r.json()) as { servers: { name: string; health: { last_check: Record<string, unknown> } }[] }).servers.map((s) => [s.name, s.health.last_check]));
  expect(view.node1).toMatchObject({ ok: false, sent: "GET /primary", reason: "status 503 Service Unavailable, expected 200" });
  expect(String(view.node1!.reply)).toStartWith("HTTP/1.1 503");
  expect(view.node2).toMatchObject({ ok: true, sent: "GET /primary", reason: "" });
  expect(typeof view.node2!.ms).toBe("number");
}, 90_000);
