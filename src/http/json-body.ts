/**
 * Body checks for JSON write routes, in order: size (413), content type (415), UTF-8 (400),
 * empty (400), JSON syntax (400). The parsed body is kept for the scope check and the zod validator.
 */
import type { MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { AppEnv } from "./bindings";
import { ApiError } from "./errors";

/** Largest accepted request body (the CONTRACT allows at most 4 MiB). */
export const MAX_BODY_BYTES = 4 * 1024 * 1024;

export const limitBody: MiddlewareHandler<AppEnv> = bodyLimit({
  maxSize: MAX_BODY_BYTES,
  onError: () => {
    throw new ApiError("PAYLOAD_TOO_LARGE", `request body is larger than ${MAX_BODY_BYTES} bytes (4 MiB)`);
  },
});

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
