/**
 * One error taxonomy: every rejection is {"error":{"code","message"}} with the status from this table.
 */
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";

/**
 * Every error code the API answers, its status, and when (one line: the OpenAPI document's response
 * descriptions are built from it, per route, by errorResponses in src/routes/schemas.ts; docs/API.md
 * has the long form, and a test keeps its table to these codes and statuses).
 */
export const ERRORS = {
  INVALID_JSON: { status: 400, when: "the body is empty or not valid JSON" },
  INVALID_REQUEST: { status: 400, when: "JSON of the wrong shape: wrong types, missing or unknown fields, bad ids, numbers out of range" },
  INVALID_PARAMETER: { status: 400, when: "a malformed query or path parameter (or percent-encoding), or X-D1-Bookmark header" },
  INVALID_CURSOR: { status: 400, when: "a cursor this endpoint did not hand out for these filters" },
  INVALID_OTLP: { status: 400, when: "the body is not an ExportTraceServiceRequest in its declared encoding (or not valid gzip)" },
  UNAUTHORIZED: { status: 401, when: "a missing, malformed, wrong, forged or expired bearer token" },
  ORIGIN_NOT_ALLOWED: { status: 403, when: "a CORS preflight from an origin not in CORS_ORIGINS" },
  FORBIDDEN: {
    status: 403,
    when: "a conversation token used outside its conversation or session, on a route it does not grant, or after its conversation was deleted; the ingest token from a browser",
  },
  NOT_FOUND: { status: 404, when: "no such resource (or the surface is switched off)" },
  METHOD_NOT_ALLOWED: { status: 405, when: "a known path with another method (see Allow)" },
  SNAPSHOT_CONFLICT: { status: 409, when: "a different snapshot is already stored under the same identity" },
  CONVERSATION_DELETING: { status: 409, when: "the conversation's deletion is under way" },
  CONVERSATION_MOVING: { status: 409, when: "the conversation is moving to another database; see Retry-After" },
  CONVERSATION_MOVED: {
    status: 409,
    when: "the conversation left the database the write reached (retried where it lives; seen only if that fails too)",
  },
  PAYLOAD_TOO_LARGE: {
    status: 413,
    when: "a body over 4 MiB (as sent or decompressed), YAML payloads over 1 MiB, content over 8 MiB as stored, or an OTLP export with too many messages or inference spans",
  },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, when: "a Content-Type (or Content-Encoding) the route does not read" },
  RATE_LIMITED: { status: 429, when: "over a rate limit (token, conversation or client address); see Retry-After" },
  TOO_MANY_HELD_SPANS: { status: 429, when: "too many spans already wait for their ancestors; see Retry-After" },
  INVALID_TURN: { status: 422, when: "a turn whose content cannot be stored (ids, runtime or inference in its metadata)" },
  INVALID_PAYLOAD: { status: 422, when: "a YAML payload that is not valid YAML, not a mapping, or not a turn" },
  TURN_ID_MISMATCH: { status: 422, when: "turn_id and the turn's id disagree" },
  TURN_ID_REQUIRED: { status: 422, when: "neither turn_id nor the turn's id is given" },
  NESTING_TOO_DEEP: { status: 422, when: "the turn nests deeper than 64 levels" },
  ROW_TOO_LARGE: { status: 422, when: "a row would exceed D1's 2 MB limit" },
  EVENT_TIME_IN_FUTURE: { status: 422, when: "an event time more than MAX_CLOCK_SKEW_MS ahead of the Worker's clock" },
  TOO_MANY_BLOCKS: { status: 413, when: "a snapshot or request lists or carries more blocks than a request may" },
  TOO_MANY_ROWS: { status: 413, when: "a request would write more new rows than a request may" },
  SNAPSHOT_TOO_LARGE: { status: 413, when: "a snapshot (or request) would weigh more in a read than one read may return" },
  UNKNOWN_BLOCK_REF: { status: 422, when: "a block reference or prefix naming a block or path the conversation does not have" },
  INVALID_BLOCK_REF: { status: 422, when: "a block object with a content_hash that is not exactly a reference" },
  UNKNOWN_CONVERSATION: { status: 422, when: "a runtime switch without session_id for a conversation that does not exist" },
  BATCH_SPANS_DATABASES: { status: 422, when: "a batch whose conversations live in more than one database" },
  UNKNOWN_DATABASE: { status: 422, when: "a move to a binding CONVERSATION_DATABASES does not list" },
  INTERNAL: { status: 500, when: "a bug; the message quotes the request id" },
  NOT_CONFIGURED: {
    status: 503,
    when: "a token, signing key or var the route needs is unset or malformed, or a database is missing or behind",
  },
  UNAVAILABLE: { status: 503, when: "D1 failed for a reason that passes on its own; see Retry-After (every write is safe to retry)" },
} as const satisfies Record<string, { status: ContentfulStatusCode; when: string }>;

export type ErrorCode = keyof typeof ERRORS;

/** Each code's status. */
export const ERROR_STATUS = Object.fromEntries(Object.entries(ERRORS).map(([code, e]) => [code, e.status])) as {
  [C in ErrorCode]: (typeof ERRORS)[C]["status"];
};

export interface ErrorBody {
  error: { code: ErrorCode; message: string };
}

export class ApiError extends HTTPException {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(ERROR_STATUS[code], { message });
    this.name = "ApiError";
  }

  toResponse(): Response {
    return errorResponse(this.code, this.message, this.headers);
  }
}

/** Seconds a write refused because its conversation is moving should wait (a move takes seconds). */
export const MOVING_RETRY_AFTER_SECONDS = 2;

/** Headers some refusals always carry, wherever they are raised (the store knows nothing of HTTP). */
const REFUSAL_HEADERS: Partial<Record<ErrorCode, Record<string, string>>> = {
  CONVERSATION_MOVING: { "Retry-After": String(MOVING_RETRY_AFTER_SECONDS) },
};

export function errorResponse(code: ErrorCode, message: string, headers: Record<string, string> = {}): Response {
  const body: ErrorBody = { error: { code, message } };
  return new Response(JSON.stringify(body), {
    status: ERROR_STATUS[code],
    headers: { "content-type": "application/json; charset=UTF-8", ...REFUSAL_HEADERS[code], ...headers },
  });
}

/** The 404 of a path no route serves (or a surface switched off: the same answer, on purpose). */
export function noRoute(c: { req: { method: string; path: string } }): ApiError {
  return new ApiError("NOT_FOUND", `no route for ${c.req.method} ${c.req.path}`);
}
