// One admin API request to the running aegis, with every way it can fail turned into a sentence that
// says what to do: nothing listening, not aegis, the API off, the token refused, no answer in time.
import { ControlError, EXIT, type Instance } from "./locate.ts";

export interface Answer {
  status: number;
  /** The parsed JSON body: aegis's admin API always answers JSON. */
  body: Record<string, unknown>;
}

/** The sentence of an error answer (`{"error": "..."}`). */
export const errorOf = (a: Answer): string => (typeof a.body.error === "string" ? a.body.error : `HTTP ${a.status}`);

export async function request(instance: Instance, method: "GET" | "POST", path: string, body: unknown, timeoutMs: number): Promise<Answer> {
  if (instance.token === null) {
    throw new ControlError(`the admin API is off in ${instance.configPath} (no [admin] token or token_file), and this command needs it. Add
  [admin]
  token_file = "admin.token"      # relative to the config file; make one with: openssl rand -hex 32 > admin.token
then reload the running aegis (systemctl reload aegis, or kill -HUP its pid)`, EXIT.usage);
  }
  let response: Response;
  try {
    response = await fetch(`${instance.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${instance.token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
      redirect: "manual",
    });
  } catch (e) {
    throw unreachable(instance, e, timeoutMs);
  }
  const text = await response.text().catch(() => "");
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = null;
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new ControlError(`something answers on ${instance.address} (${instance.where}), but not aegis's admin API: HTTP ${response.status}, ${response.headers.get("content-type") ?? "no content type"}`, EXIT.unreachable);
  }
  const answer = { status: response.status, body: parsed as Record<string, unknown> };
  if (response.status === 401) {
    throw new ControlError(`the running aegis on ${instance.address} refused the token (${errorOf(answer)}): ${instance.tokenWhere} differs from the token it runs with. Was the token changed without a reload? Reload it with systemctl reload aegis (or kill -HUP its pid)`, EXIT.refused);
  }
  if (response.status === 404 && errorOf(answer).startsWith("the admin API is off")) {
    throw new ControlError(`the running aegis on ${instance.address} has its admin API off (it started without an [admin] token), although ${instance.configPath} has one: reload it so it reads the token (systemctl reload aegis, or kill -HUP its pid)`, EXIT.refused);
  }
  return answer;
}

function unreachable(instance: Instance, e: unknown, timeoutMs: number): ControlError {
  const err = e as { code?: string; name?: string; message?: string };
  if (err.name === "TimeoutError") {
    return new ControlError(`aegis on ${instance.address} (${instance.where}) did not answer within ${Math.round(timeoutMs / 1000)} s`, EXIT.unreachable);
  }
  if (err.code === "ECONNREFUSED") {
    return new ControlError(`no aegis answers on ${instance.address} (${instance.where}): is it running?`, EXIT.unreachable);
  }
  return new ControlError(`cannot reach aegis on ${instance.address} (${instance.where}): ${err.code ?? err.message ?? String(e)}`, EXIT.unreachable);
}
