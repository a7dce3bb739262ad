/**
 * Body checks for JSON write routes, in order: size (413), content type (415), empty (400),
 * JSON syntax (400). The parsed body is left for the zod validator, which reads Hono's body cache.
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

export const requireJsonBody: MiddlewareHandler<AppEnv> = async (c, next) => {
  const type = c.req.header("content-type") ?? "";
  if (!/^application\/json\s*(;|$)/i.test(type)) {
    throw new ApiError("UNSUPPORTED_MEDIA_TYPE", `Content-Type must be application/json, got ${JSON.stringify(type || "(none)")}`);
  }
  const text = await c.req.text();
  if (text.trim() === "") throw new ApiError("INVALID_JSON", "request body is empty; send a JSON object");
  try {
    JSON.parse(text);
  } catch (error) {
    throw new ApiError("INVALID_JSON", `request body is not valid JSON: ${(error as Error).message}`);
  }
  await next();
};
