/**
 * Body checks for JSON write routes, in order: size (413), content type (415), UTF-8 (400),
 * empty (400), JSON syntax (400). The parsed body is kept for the scope check and the zod validator.
 */
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "./bindings";
import { ApiError } from "./errors";

/** Largest accepted request body (the CONTRACT allows at most 4 MiB). */
export const MAX_BODY_BYTES = 4 * 1024 * 1024;

/**
 * How much of an oversized body is read and discarded before the 413 is sent. A server that answers
 * before reading the body must drop the connection; under `wrangler dev` (and any proxy that keeps
 * the connection) an unread body left on a keep-alive connection breaks the next request on it
 * ("worker restarted mid-request", or a 15–30 s stall). Reading the rest keeps the connection
 * usable; past this bound the body is abandoned (and that connection with it).
 */
export const MAX_DRAINED_BYTES = 64 * 1024 * 1024;

async function discard(reader: ReadableStreamDefaultReader<Uint8Array>, bound: number): Promise<void> {
  let read = 0;
  try {
    while (read <= bound) {
      const { done, value } = await reader.read();
      if (done) return;
      read += value.byteLength;
    }
    await reader.cancel();
  } catch {
    // The client went away: nothing left to keep.
  }
}

const tooLarge = () => new ApiError("PAYLOAD_TOO_LARGE", `request body is larger than ${MAX_BODY_BYTES} bytes (4 MiB)`);

/** Bounded body: 413 past MAX_BODY_BYTES (declared or streamed), with the rest of the body discarded. */
export const limitBody: MiddlewareHandler<AppEnv> = async (c, next) => {
  const body = c.req.raw.body;
  if (!body) return next();
  const declared = c.req.header("content-length");
  if (declared !== undefined && c.req.header("transfer-encoding") === undefined) {
    if (Number(declared) <= MAX_BODY_BYTES) return next();
    await discard(body.getReader(), MAX_DRAINED_BYTES);
    throw tooLarge();
  }
  // No length given (chunked): read it, up to the limit.
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_BODY_BYTES) {
      await discard(reader, MAX_DRAINED_BYTES);
      throw tooLarge();
    }
    chunks.push(value);
  }
  const buffer = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    buffer.set(chunk, offset);
    offset += chunk.byteLength;
  }
  c.req.raw = new Request(c.req.raw, { body: buffer });
  return next();
};

/** V8's parse error, minus the excerpt of the body some messages quote ('Unexpected token …, "…" is
 * not valid JSON'): error bodies never echo payload text. Position-only messages are kept. */
function syntaxProblem(error: unknown): string {
  const message = String((error as Error)?.message ?? error);
  return message.includes('"') ? "unexpected token" : message;
}

const utf8Strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

export const requireJsonBody: MiddlewareHandler<AppEnv> = async (c, next) => {
  const type = c.req.header("content-type") ?? "";
  if (!/^application\/json\s*(;|$)/i.test(type)) {
    throw new ApiError("UNSUPPORTED_MEDIA_TYPE", `Content-Type must be application/json, got ${JSON.stringify(type || "(none)")}`);
  }
  // Decoded strictly: a lenient decode would store U+FFFD in place of the bad bytes and answer 201.
  // (Read outside the try: body-limit's 413 surfaces as a read error and must propagate as is.)
  const bytes = await c.req.arrayBuffer();
  let text: string;
  try {
    text = utf8Strict.decode(bytes);
  } catch {
    throw new ApiError("INVALID_JSON", "request body is not valid UTF-8");
  }
  if (text.trim() === "") throw new ApiError("INVALID_JSON", "request body is empty; send a JSON object");
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    throw new ApiError("INVALID_JSON", `request body is not valid JSON: ${syntaxProblem(error)}`);
  }
  // Parsed once: the scope check and the validator read this value instead of parsing the text again.
  c.set("jsonBody", body);
  c.req.json = <T>() => Promise.resolve(body as T);
  await next();
};
