// JSON responses for the metrics listener: one shape for data, one for errors ({ "error": "..." }).

const JSON_TYPE = "application/json; charset=utf-8";

/** `pretty` for answers people read with curl; compact for what the status page polls. */
export function json(body: unknown, status = 200, headers: Record<string, string> = {}, pretty = true): Response {
  const text = pretty ? JSON.stringify(body, null, 2) + "\n" : JSON.stringify(body);
  return new Response(text, { status, headers: { "content-type": JSON_TYPE, "cache-control": "no-store", ...headers } });
}

/** An error answer: a sentence saying what was wrong and how to get it right, plus any details. */
export function failure(status: number, error: string, details: Record<string, unknown> = {}, headers: Record<string, string> = {}): Response {
  return json({ error, ...details }, status, headers);
}

export function methodNotAllowed(method: string, allowed: readonly string[]): Response {
  return failure(405, `${method} is not allowed here; use ${allowed.join(" or ")}`, {}, { allow: allowed.join(", ") });
}
