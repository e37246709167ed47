// Reads a request's JSON object body, or answers why it cannot.
import { failure } from "./http.ts";

/** Admin requests are a few bytes; anything larger is a mistake or an attack. */
const MAX_BODY_BYTES = 64 * 1024;

export type Body = { ok: true; value: Record<string, unknown> } | { ok: false; response: Response };

export async function readJsonObject(request: Request, example: string): Promise<Body> {
  const length = Number(request.headers.get("content-length") ?? 0);
  if (length > MAX_BODY_BYTES) return { ok: false, response: failure(413, `the body is ${length} bytes; at most ${MAX_BODY_BYTES} are read`) };
  const text = await request.text();
  if (text.length > MAX_BODY_BYTES) return { ok: false, response: failure(413, `the body is over ${MAX_BODY_BYTES} bytes`) };
  if (text.trim() === "") return { ok: false, response: failure(400, `the body is empty: send a JSON object, e.g. ${example}`) };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return { ok: false, response: failure(400, `the body is not valid JSON (${(e as Error).message}): send e.g. ${example}`) };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { ok: false, response: failure(400, `the body must be a JSON object, e.g. ${example}`) };
  }
  return { ok: true, value: value as Record<string, unknown> };
}
