// Reads a request's JSON object body, or answers why it cannot.
import { failure } from "./http.ts";

/** Admin requests are a few bytes; anything larger is a mistake or an attack. */
export const MAX_BODY_BYTES = 64 * 1024;

export type Body = { ok: true; value: Record<string, unknown> } | { ok: false; response: Response };

export async function readJsonObject(request: Request, example: string): Promise<Body> {
  const length = Number(request.headers.get("content-length") ?? 0);
  if (length > MAX_BODY_BYTES) return { ok: false, response: failure(413, `the body is ${length} bytes; at most ${MAX_BODY_BYTES} are read`) };
  const bytes = await readAtMost(request, MAX_BODY_BYTES);
  if (bytes === undefined) return { ok: false, response: failure(413, `the body is over ${MAX_BODY_BYTES} bytes`) };
  const text = new TextDecoder().decode(bytes);
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

/**
 * The body's bytes, or undefined once more than `limit` have arrived. Counted while the stream is
 * read, so a chunked body (no Content-Length, or a false one) is never buffered past the limit:
 * the read stops there and the rest is left unread.
 */
async function readAtMost(request: Request, limit: number): Promise<Uint8Array | undefined> {
  if (!request.body) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  // Bounded: each chunk adds bytes, and past `limit` the loop stops.
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      // Not awaited: cancelling can wait on a client that keeps sending; the answer should not.
      reader.cancel().catch(() => {});
      return undefined;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, total);
}
