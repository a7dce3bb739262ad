/**
 * One error taxonomy: every rejection is {"error":{"code","message"}} with the status from this table.
 */
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";

export const ERROR_STATUS = {
  INVALID_JSON: 400,
  INVALID_REQUEST: 400,
  INVALID_PARAMETER: 400,
  INVALID_CURSOR: 400,
  /** POST /v1/traces: a body that is not an ExportTraceServiceRequest in its declared encoding. */
  INVALID_OTLP: 400,
  UNAUTHORIZED: 401,
  ORIGIN_NOT_ALLOWED: 403,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  SNAPSHOT_CONFLICT: 409,
  CONVERSATION_DELETING: 409,
  CONVERSATION_MOVING: 409,
  CONVERSATION_MOVED: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RATE_LIMITED: 429,
  /** POST /v1/traces: too many spans wait for their ancestors already (src/otlp/held-spans.ts). */
  TOO_MANY_HELD_SPANS: 429,
  INVALID_TURN: 422,
  INVALID_PAYLOAD: 422,
  TURN_ID_MISMATCH: 422,
  TURN_ID_REQUIRED: 422,
  NESTING_TOO_DEEP: 422,
  ROW_TOO_LARGE: 422,
  EVENT_TIME_IN_FUTURE: 422,
  TOO_MANY_BLOCKS: 413,
  TOO_MANY_ROWS: 413,
  SNAPSHOT_TOO_LARGE: 413,
  UNKNOWN_BLOCK_REF: 422,
  INVALID_BLOCK_REF: 422,
  UNKNOWN_CONVERSATION: 422,
  BATCH_SPANS_DATABASES: 422,
  /** POST /api/conversations/:conv_id/move: a `to` that CONVERSATION_DATABASES does not list. */
  UNKNOWN_DATABASE: 422,
  INTERNAL: 500,
  NOT_CONFIGURED: 503,
  UNAVAILABLE: 503,
} as const satisfies Record<string, ContentfulStatusCode>;

export type ErrorCode = keyof typeof ERROR_STATUS;

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
