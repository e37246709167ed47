// The TLS questions of `aegis init`: terminate TLS or not, the PEM files (checked as typed), PostgreSQL's SSLRequest mode.
import * as p from "@clack/prompts";
import type { HealthChoice } from "./health-presets.ts";
import { answer, type WizardIO } from "./prompt.ts";
import { absolutePath, certProblem, keyFileProblem, type TlsAnswer } from "./tls.ts";

export type TlsFiles = Omit<TlsAnswer, "postgres">;

/** Asks whether the listener terminates TLS and, if so, for the certificate and key; undefined: plaintext. */
export async function askTls(io: WizardIO, cwd: string, initial: TlsAnswer | undefined): Promise<TlsFiles | undefined> {
  const on = await answer(p.confirm({
    ...io,
    message: "Terminate TLS on this listener (clients connect with TLS, servers stay plaintext)?",
    initialValue: initial !== undefined,
  }));
  if (!on) return undefined;
  const cert = absolutePath(cwd, await answer(p.text({
    ...io,
    message: "Path of the certificate PEM file? (server certificate first, then any intermediates)",
    placeholder: "/etc/aegis/tls/cert.pem",
    ...(initial ? { initialValue: initial.cert } : {}),
    validate: (v) => (v ? certProblem(absolutePath(cwd, v)) ?? undefined : "the certificate's path is needed"),
  })));
  const key = await answer(p.text({
    ...io,
    message: "Path of the private key PEM file? (press Enter if the certificate file holds the key too)",
    placeholder: "/etc/aegis/tls/key.pem",
    ...(initial?.key ? { initialValue: initial.key } : {}),
    validate: (v) => keyFileProblem(cert, v ? absolutePath(cwd, v) : undefined) ?? undefined,
  }));
  return { cert, ...(key ? { key: absolutePath(cwd, key) } : {}) };
}

/**
 * With TLS on a PostgreSQL listener, offers mode = "postgres". psql does not start with a TLS
 * handshake: it first sends an 8-byte SSLRequest in plaintext, which plain TLS termination would
 * take for a broken ClientHello. Default yes, since that is what psql and the drivers do.
 */
export async function askTlsMode(io: WizardIO, files: TlsFiles, health: HealthChoice, initial: boolean): Promise<TlsAnswer> {
  if (health !== "postgresql" && !initial) return { ...files, postgres: false };
  p.log.info(
    "PostgreSQL clients (psql, libpq, most drivers) first ask in plaintext whether the server speaks TLS (an SSLRequest).\n" +
      'mode = "postgres" answers it and then does the handshake, so `psql "sslmode=require"` works;\n' +
      "without it only clients that start with TLS directly (sslnegotiation=direct, PostgreSQL 17+) can connect.",
    io,
  );
  const postgres = await answer(p.confirm({ ...io, message: "Use the PostgreSQL mode (answer the SSLRequest)?", initialValue: true }));
  return { ...files, postgres };
}
