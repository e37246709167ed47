// log_format = "text": every line, the access log included, as `time level msg key=value ...`.
import { afterEach, expect, test } from "bun:test";
import { SOURCE_COMMAND, simpleConfig, writeConfig } from "./helpers/aegis.ts";
import { startEcho, type Backend } from "./helpers/backends.ts";
import { connect } from "./helpers/client.ts";
import { waitFor } from "./helpers/wait.ts";

const backends: Backend[] = [];
const procs: { kill(s?: NodeJS.Signals): void }[] = [];
afterEach(() => {
  for (const p of procs.splice(0)) p.kill("SIGKILL");
  for (const b of backends.splice(0)) b.stop();
});

test("text log lines carry the same fields as JSON", async () => {
  const echo = startEcho();
  backends.push(echo);
  const path = writeConfig(simpleConfig([echo.address], { logLevel: "info", global: 'access_log = true\nlog_format = "text"' }));
  const proc = Bun.spawn([...SOURCE_COMMAND, "--config", path], { stdout: "pipe", stderr: "pipe" });
  procs.push(proc);
  let text = "";
  void (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of proc.stdout) text += decoder.decode(chunk, { stream: true });
  })();
  // Bounded even when aegis goes quiet (a blocking read() never came back), and says what it got.
  const readUntil = async (pattern: RegExp) => {
    await waitFor(() => pattern.test(text), { timeoutMs: 15_000, what: `a log line matching ${pattern} (stdout so far: ${JSON.stringify(text.slice(-800))})` }).catch(() => {
      throw new Error(`no log line matching ${pattern} within 15 s; stdout so far: ${text.slice(-1500)}`);
    });
    return text;
  };
  const ready = (await readUntil(/ ready .*\n/)).split("\n").find((l) => / info ready /.test(l))!;
  expect(ready).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z info ready config=\S+ pid=\d+ listeners=\[/);
  const port = Number(/"address":"127\.0\.0\.1:(\d+)"/.exec(ready)![1]);
  const client = await connect(port);
  client.write("hello");
  await client.waitFor((t) => t === "hello");
  client.socket.end();
  const line = (await readUntil(/ session .*\n/)).split("\n").find((l) => / info session /.test(l))!;
  expect(line).toMatch(new RegExp(`info session listener=main client=127\\.0\\.0\\.1:\\d+ upstream=app server=${echo.address.replace(/\./g, "\\.")} server_state=up bytes_in=5 bytes_out=5 connect_ms=[\\d.]+ duration_ms=[\\d.]+ attempts=1 end=client_closed`));
});
