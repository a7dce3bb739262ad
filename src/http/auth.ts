/**
 * Bearer-token guards on Hono's bearer-auth (constant-time comparison). The token is checked before
 * anything in the request is parsed or validated.
 */
import type { MiddlewareHandler } from "hono";
import { bearerAuth } from "hono/bearer-auth";
import type { AppEnv } from "./bindings";
import { ApiError, errorResponse } from "./errors";

const unauthorized = () =>
  errorResponse("UNAUTHORIZED", "missing or wrong bearer token: send Authorization: Bearer <token>", {
    "WWW-Authenticate": 'Bearer realm="turnstore"',
  });

function guard(token: string): MiddlewareHandler<AppEnv> {
  // Every failure is 401 with the error envelope (Hono answers 400 for a malformed header by default).
  const reply = { message: unauthorized };
  return bearerAuth({ token, realm: "turnstore", noAuthenticationHeader: reply, invalidAuthenticationHeader: reply, invalidToken: reply });
}

/** Write routes: an unset INGEST_TOKEN fails closed with 503. */
export const requireIngestToken: MiddlewareHandler<AppEnv> = async (c, next) => {
  const token = c.env.INGEST_TOKEN;
  if (!token) throw new ApiError("NOT_CONFIGURED", "ingestion is disabled: INGEST_TOKEN is not configured");
  return guard(token)(c, next);
};

/** Debug surface: an unset DEBUG_TOKEN makes it not exist (404), so it cannot be probed. */
export const requireDebugToken: MiddlewareHandler<AppEnv> = async (c, next) => {
  const token = c.env.DEBUG_TOKEN;
  if (!token) throw new ApiError("NOT_FOUND", `no route for ${c.req.method} ${c.req.path}`);
  return guard(token)(c, next);
};
