/**
 * createApp(): the Hono app every route group is mounted on — request ids, one onError that speaks
 * the error envelope and hides internals, 404 vs 405, and zod validation failures as 400s.
 */
import { OpenAPIHono } from "@hono/zod-openapi";
import { HTTPException } from "hono/http-exception";
import { isTransientD1Error, TRANSIENT_RETRY_AFTER_SECONDS } from "../store/d1";
import { StoreError, type StoreErrorCode } from "../store/errors";
import { TurnFormatError, type TurnErrorCode } from "../turn/turn";
import { describeIssue } from "./validation";
import { GATED_SURFACES, surfaceGate } from "./auth";
import { assignRequestId, requestLogFields } from "./request-id";
import { logWriteRequests } from "./write-log";
import type { AppEnv } from "./bindings";
import { ApiError, errorResponse, ERROR_STATUS, noRoute, type ErrorCode } from "./errors";

/**
 * The store's and the rules' error codes are API codes, answered as they are by onError below: one
 * added there without an entry in ERRORS (src/http/errors.ts) is a type error here.
 */
export const STORE_AND_RULE_CODES_ARE_API_CODES: [StoreErrorCode | TurnErrorCode] extends [ErrorCode] ? true : never = true;

export function createRouter() {
  return new OpenAPIHono<AppEnv>({
    strict: true,
    defaultHook: (result) => {
      if (!result.success) {
        const where = result.target === "json" ? "" : result.target === "query" ? "query parameter " : "";
        const { message } = describeIssue(result.error.issues[0]!);
        throw new ApiError(result.target === "json" ? "INVALID_REQUEST" : "INVALID_PARAMETER", where + message);
      }
    },
  });
}

const STATUS_CODES: Partial<Record<number, ErrorCode>> = Object.fromEntries(
  Object.entries(ERROR_STATUS)
    .map(([code, status]) => [status, code as ErrorCode])
    .reverse(),
);

/** A route pattern ("/api/debug/turn/:conv_id/...") as a regular expression over request paths. */
function patternRegExp(path: string): RegExp {
  const source = path
    .split("/")
    .map((part) => (part.startsWith(":") ? "[^/]+" : part === "*" ? ".*" : part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")))
    .join("/");
  return new RegExp(`^${source}$`);
}

export function createApp() {
  const app = createRouter();
  // Our own id on every request and response; a client-sent X-Request-Id is only logged (request-id.ts).
  app.use("*", assignRequestId);
  app.use("/api/*", logWriteRequests);
  for (const surface of GATED_SURFACES) for (const path of surface.paths) app.use(path, surfaceGate(surface.token));

  app.onError((err, c) => {
    if (err instanceof ApiError) return err.toResponse();
    if (err instanceof TurnFormatError || err instanceof StoreError) return errorResponse(err.code, err.message);
    if (err instanceof HTTPException) {
      // Hono middleware (bearer-auth) may carry a complete response already.
      const res = err.getResponse();
      if (res.headers.get("content-type")?.includes("application/json")) return res;
      const code = STATUS_CODES[err.status] ?? (err.status >= 500 ? "INTERNAL" : "INVALID_REQUEST");
      return errorResponse(code, err.message || "request refused");
    }
    if (isTransientD1Error(err)) {
      console.warn(
        JSON.stringify({
          level: "warn",
          event: "d1_unavailable",
          ...requestLogFields(c),
          method: c.req.method,
          path: c.req.path,
          error: String((err as Error)?.message ?? err).slice(0, 300),
        }),
      );
      return errorResponse(
        "UNAVAILABLE",
        `the database is briefly unavailable; retry in ${TRANSIENT_RETRY_AFTER_SECONDS} s (request id ${c.get("requestId")})`,
        {
          "Retry-After": String(TRANSIENT_RETRY_AFTER_SECONDS),
        },
      );
    }
    // Internals stay in the log; the client gets the request id to quote.
    console.error(
      JSON.stringify({
        level: "error",
        ...requestLogFields(c),
        method: c.req.method,
        path: c.req.path,
        error: String(err?.stack ?? err),
      }),
    );
    return errorResponse("INTERNAL", `internal error (request id ${c.get("requestId")})`);
  });

  app.notFound((c) => {
    // A known path with another method is 405 with Allow; anything else is 404.
    const allowed = [
      ...new Set(app.routes.filter((r) => r.method !== "ALL" && patternRegExp(r.path).test(c.req.path)).map((r) => r.method)),
    ];
    if (allowed.length > 0) {
      return errorResponse("METHOD_NOT_ALLOWED", `${c.req.method} is not allowed on ${c.req.path}; use ${allowed.join(", ")}`, {
        Allow: allowed.join(", "),
      });
    }
    return noRoute(c).toResponse();
  });
  return app;
}
