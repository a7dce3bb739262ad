/**
 * CORS for browser frontends on the routes a conversation token may call — the write routes
 * (POST, PUT) and the latest-turn read (GET): only origins listed in CORS_ORIGINS get CORS headers;
 * a preflight from any other origin is refused with 403. One policy for all of them: the methods a
 * preflight allows are those of the routes a page may call, and each route still answers only its
 * own method (anything else is 405).
 */
import type { MiddlewareHandler } from "hono";
import { cors } from "hono/cors";
import type { AppEnv } from "./bindings";
import { ApiError } from "./errors";

export function allowedOrigins(env: Env): string[] {
  return (env.CORS_ORIGINS ?? "")
    .split(",")
    .map((origin) => origin.trim())
    .filter(Boolean);
}

const honoCors = cors({
  origin: (origin, c) => (allowedOrigins(c.env as Env).includes(origin) ? origin : null),
  allowMethods: ["GET", "POST", "PUT", "OPTIONS"],
  // Content-Encoding: an OTLP exporter may gzip its export (POST /v1/traces).
  allowHeaders: ["Authorization", "Content-Type", "Content-Encoding", "X-D1-Bookmark"],
  // Response headers a page may read besides the CORS-safelisted ones: without Retry-After in this
  // list a page cannot tell how long to wait after a 429 or 503 (fetch's headers.get gives null).
  exposeHeaders: ["X-Request-Id", "X-D1-Bookmark", "Retry-After"],
  maxAge: 600,
});

export const writeRoutesCors: MiddlewareHandler<AppEnv> = async (c, next) => {
  const origin = c.req.header("origin");
  if (c.req.method === "OPTIONS" && (!origin || !allowedOrigins(c.env).includes(origin))) {
    throw new ApiError("ORIGIN_NOT_ALLOWED", `origin ${JSON.stringify(origin ?? "(none)")} is not allowed (see CORS_ORIGINS)`);
  }
  return honoCors(c, next);
};
