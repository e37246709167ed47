// A TLS echo server with two certificates chosen by SNI, built one of the two ways aegis could:
//
//   bun bench/lib/tls-echo.ts native|node PORT CERT_DIR
//
// native: Bun.listen({ tls }) with the first certificate, the second added to Bun's own SNI table
//         through node:tls's addContext on the listener handle: aegis's own serverOptions and
//         addSniCertificates (src/data/tls-listen.ts), so this is exactly what aegis runs.
// node:   node:tls createServer({ SNICallback }) with a secure context per certificate, node-style
//         streams, `socket.pipe(socket)`.
//
// Both: TLS 1.3 only, a.test's certificate by default and b.test's for SNI b.test. Prints
// "ready" once listening. Then reads commands on stdin, one a line:
//   gc     → Bun.gc(true), then "ok OPEN" (connections open now)
//   count  → "ok OPEN"
// and exits at EOF.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createSecureContext, createServer, type SecureContext } from "node:tls";
import type { Socket } from "bun";
import type { CertificateConfig, ListenerTlsConfig } from "../../src/config/types.ts";
import { addSniCertificates, serverOptions } from "../../src/data/tls-listen.ts";

const [kind, portText, dir] = process.argv.slice(2);
const port = Number(portText);
if ((kind !== "native" && kind !== "node") || !Number.isInteger(port) || !dir) {
  console.error("usage: bun tls-echo.ts native|node PORT CERT_DIR");
  process.exit(2);
}

const HOST = "127.0.0.1";
const pem = (name: string) => readFileSync(join(dir, name), "utf8");
const certs = {
  "a.test": { cert: pem("a.pem"), key: pem("a-key.pem"), names: ["a.test", "*.a.test"] },
  "b.test": { cert: pem("b.pem"), key: pem("b-key.pem"), names: ["b.test"] },
};

let open = 0;

function startNative(): void {
  const certificate = (c: (typeof certs)["a.test"], file: string): CertificateConfig => ({
    cert: { file: join(dir!, `${file}.pem`), pem: c.cert },
    key: { file: join(dir!, `${file}-key.pem`), pem: c.key },
    subject: c.names[0]!,
    names: c.names,
    notAfter: Date.now() + 86_400_000,
    fingerprint: file,
  });
  const tls: ListenerTlsConfig = {
    mode: "tls",
    certificates: [certificate(certs["a.test"], "a"), certificate(certs["b.test"], "b")],
    clientCa: null,
    requireClientCert: false,
    minVersion: "1.3",
    alpn: [],
  };
  interface State {
    pending: Uint8Array[] | null;
  }
  // Echo with backpressure: what the kernel did not take is kept, reads pause until drain.
  const flush = (s: Socket<State>): void => {
    const q = s.data.pending;
    while (q && q.length > 0) {
      const chunk = q[0]!;
      const n = s.write(chunk);
      if (n < 0) {
        s.data.pending = null;
        return;
      }
      if (n < chunk.length) {
        q[0] = chunk.subarray(n);
        return;
      }
      q.shift();
    }
    s.data.pending = null;
    s.resume();
  };
  const listener = Bun.listen<State>({
    hostname: HOST,
    port,
    tls: serverOptions(tls),
    socket: {
      open(s) {
        open++;
        s.data = { pending: null };
      },
      data(s, chunk) {
        if (s.data.pending) {
          s.data.pending.push(chunk);
          return;
        }
        const n = s.write(chunk);
        if (n >= 0 && n < chunk.length) {
          s.data.pending = [chunk.subarray(n)];
          s.pause();
        }
      },
      drain(s) {
        if (s.data.pending) flush(s);
      },
      close() {
        open--;
      },
      error() {},
    },
  });
  addSniCertificates(listener, tls);
  console.log("ready");
}

function startNode(): void {
  const contexts = new Map<string, SecureContext>();
  for (const c of Object.values(certs)) {
    const ctx = createSecureContext({ cert: c.cert, key: c.key, minVersion: "TLSv1.3" });
    for (const name of c.names) contexts.set(name, ctx);
  }
  const fallback = contexts.get("a.test")!;
  const server = createServer(
    {
      cert: certs["a.test"].cert,
      key: certs["a.test"].key,
      minVersion: "TLSv1.3",
      SNICallback(name, cb) {
        const lower = name.toLowerCase();
        const dot = lower.indexOf(".");
        cb(null, contexts.get(lower) ?? (dot > 0 ? contexts.get(`*${lower.slice(dot)}`) : undefined) ?? fallback);
      },
    },
    (socket) => {
      open++;
      socket.on("error", () => {});
      socket.on("close", () => open--);
      socket.pipe(socket);
    },
  );
  server.on("tlsClientError", () => {});
  server.listen(port, HOST, () => console.log("ready"));
}

if (kind === "native") startNative();
else startNode();

let buffered = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (text: string) => {
  buffered += text;
  let nl: number;
  while ((nl = buffered.indexOf("\n")) >= 0) {
    const line = buffered.slice(0, nl).trim();
    buffered = buffered.slice(nl + 1);
    if (line === "gc") Bun.gc(true);
    console.log(`ok ${open}`);
  }
});
process.stdin.on("end", () => process.exit(0));
