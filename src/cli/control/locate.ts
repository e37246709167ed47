// Finds the running aegis from its config file: the [metrics] listen address and the [admin] token.
// Only those two sections are read, so a file broken elsewhere (or certificates this user cannot
// read) still lets `aegis status` and `aegis reload` reach the running process.
import { readAdmin } from "../../config/admin.ts";
import { formatAddress } from "../../config/address.ts";
import { ConfigError } from "../../config/errors.ts";
import { MAX_CONFIG_BYTES, readBoundedFile, readFailure } from "../../config/read-file.ts";
import { ADMIN, METRICS } from "../../config/schema.ts";
import { readSection } from "../../config/section.ts";
import { parseToml } from "../../config/toml.ts";
import { tableAt } from "../../config/top-level.ts";

/** A failure of a control command: the sentence to print and the exit code. */
export class ControlError extends Error {
  constructor(message: string, readonly code: number) {
    super(message);
  }
}

/** Exit codes of the control commands (the help texts say the same). */
export const EXIT = { refused: 1, usage: 2, unreachable: 3 } as const;

export interface Instance {
  /** "http://127.0.0.1:8082". */
  url: string;
  /** "127.0.0.1:8082", as dialled. */
  address: string;
  /** Where the address comes from, for messages: "[metrics] listen in /etc/aegis/aegis.toml". */
  where: string;
  configPath: string;
  /** null: the file turns the admin API off. */
  token: string | null;
  /** "[admin] token_file = "admin.token"" or "[admin] token", for messages. */
  tokenWhere: string;
}

/** Only the keys the schema knows: an unknown key elsewhere in the section is not this command's business. */
function known(table: Record<string, unknown> | undefined, fields: object): Record<string, unknown> | undefined {
  if (!table) return undefined;
  return Object.fromEntries(Object.entries(table).filter(([k]) => Object.hasOwn(fields, k)));
}

/** A wildcard bind is dialled on loopback: the same machine, the same family. */
function dialHost(host: string): string {
  if (host === "" || host === "0.0.0.0") return "127.0.0.1";
  if (host === "::" || /^[0:]+$/.test(host)) return "::1";
  return host;
}

export function locate(configPath: string): Instance {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(readBoundedFile(configPath, MAX_CONFIG_BYTES));
  } catch (e) {
    const why = e instanceof TypeError ? "the file is not valid UTF-8" : readFailure(e);
    throw new ControlError(`cannot read the config file ${configPath}: ${why} (it tells where the running aegis listens)`, EXIT.usage);
  }
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text, configPath);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    throw new ControlError(`invalid config, so the running aegis cannot be found from it (and was not asked anything)\n${e.message}`, EXIT.usage);
  }
  const problems: string[] = [];
  const m = readSection(known(tableAt(doc, "metrics", problems), METRICS) ?? {}, METRICS, "metrics", problems);
  const adminTable = known(tableAt(doc, "admin", problems), ADMIN);
  const a = adminTable && readSection(adminTable, ADMIN, "admin", problems);
  if (problems.length || !m) throw new ControlError(`invalid config\n${problems.map((p) => `${configPath}: ${p}`).join("\n")}`, EXIT.usage);
  if (!m.enabled) {
    throw new ControlError(`the metrics listener is off in ${configPath} ([metrics] enabled = false): the running aegis serves no admin API to ask. Turn it on and restart aegis`, EXIT.usage);
  }
  const listen = m.listen;
  const where = `[metrics] listen in ${configPath}`;
  if (listen.port === 0) {
    throw new ControlError(`${where} is port 0 (a free port picked at each start), so the running aegis cannot be found from the file: give it a fixed port, e.g. listen = "127.0.0.1:8082"`, EXIT.usage);
  }
  const admin = a && readAdmin(a, configPath, listen, problems);
  if (problems.length) throw new ControlError(`invalid config\n${problems.map((p) => `${configPath}: ${p}`).join("\n")}`, EXIT.usage);
  const dial = { host: dialHost(listen.host), port: listen.port };
  const address = formatAddress(dial);
  return {
    url: `http://${address}`,
    address,
    where,
    configPath,
    token: admin?.token ?? null,
    tokenWhere: a?.token_file !== undefined ? `[admin] token_file = ${JSON.stringify(a.token_file)} in ${configPath}` : `[admin] token in ${configPath}`,
  };
}
