/**
 * Shared zod schemas: they validate requests and generate the OpenAPI document (one source).
 */
import { z } from "@hono/zod-openapi";
import { ERROR_STATUS, ERRORS, type ErrorCode } from "../http/errors";
import { BLOCK_KINDS } from "../turn/block-kinds";
import { identifierProblem, MAX_ID_LENGTH } from "../turn/identifier";

/** An identifier stored and returned exactly (quotes, %, /, emoji…), by the rules of turn/identifier.ts. */
export function identifier(name: string, max = MAX_ID_LENGTH) {
  return z
    .string({ error: `${name} must be a string` })
    .superRefine((value, ctx) => {
      const problem = identifierProblem(name, value, max);
      if (problem) ctx.addIssue({ code: "custom", message: problem });
    })
    .openapi({ minLength: 1, maxLength: max });
}

/** A positive integer of milliseconds since the epoch that JSON and D1 both hold exactly. */
export function epochMs(name: string) {
  const message = `${name} must be a positive safe integer (milliseconds since the epoch)`;
  return z.number({ error: message }).int(message).positive(message).max(Number.MAX_SAFE_INTEGER, message);
}

/** An optional query filter: '' means "not given" (debug envelopes echo '' for an absent one). */
export const givenFilter = (value: string | undefined): string | undefined => (value === undefined || value === "" ? undefined : value);

export const ErrorSchema = z
  .object({
    error: z.object({
      code: z.string().openapi({ example: "INVALID_REQUEST" }),
      message: z.string().openapi({ example: "conv_id must not be empty" }),
    }),
  })
  .openapi("Error");

/**
 * The error responses of a route, from the codes it can answer: one response per status, its
 * description the codes' meanings (ERRORS, src/http/errors.ts) and its schema the envelope with
 * `code` limited to those codes. The test harness checks every error a test provokes against them.
 */
export function errorResponses(...codes: ErrorCode[]) {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of new Set(codes)) byStatus.set(ERROR_STATUS[code], [...(byStatus.get(ERROR_STATUS[code]) ?? []), code]);
  return Object.fromEntries(
    [...byStatus]
      .sort(([a], [b]) => a - b)
      .map(([status, list]) => [
        status,
        {
          description: list.map((code) => `${code}: ${ERRORS[code].when}`).join(". "),
          content: {
            "application/json": {
              schema: z.object({
                error: z.object({
                  code: z.enum(list as [ErrorCode, ...ErrorCode[]]),
                  message: z.string().openapi({ description: "A sentence for people" }),
                }),
              }),
            },
          },
        },
      ]),
  );
}

/** Codes any route that reads D1 can answer. */
export const SERVER_ERRORS: ErrorCode[] = ["INTERNAL", "UNAVAILABLE", "NOT_CONFIGURED", "INVALID_PARAMETER"];
/** Codes of a JSON body (size, type, syntax, shape). */
export const JSON_BODY_ERRORS: ErrorCode[] = ["PAYLOAD_TOO_LARGE", "UNSUPPORTED_MEDIA_TYPE", "INVALID_JSON", "INVALID_REQUEST"];
/** Codes of a write route's credentials: ingest token or conversation token, from a server or a browser. */
export const WRITE_AUTH_ERRORS: ErrorCode[] = ["UNAUTHORIZED", "FORBIDDEN", "RATE_LIMITED", "NOT_CONFIGURED"];
/** Codes of a debug route's credential (404 while DEBUG_TOKEN is unset; 403 for a conversation token). */
export const DEBUG_AUTH_ERRORS: ErrorCode[] = ["UNAUTHORIZED", "FORBIDDEN", "NOT_FOUND"];
/** Codes of an admin route's credential (404 while ADMIN_TOKEN is unset). */
export const ADMIN_AUTH_ERRORS: ErrorCode[] = ["UNAUTHORIZED", "FORBIDDEN", "NOT_FOUND"];
/** Codes of a snapshot write's content, bounds and store. */
export const SNAPSHOT_WRITE_ERRORS: ErrorCode[] = [
  "INVALID_TURN",
  "INVALID_PAYLOAD",
  "TURN_ID_MISMATCH",
  "TURN_ID_REQUIRED",
  "NESTING_TOO_DEEP",
  "ROW_TOO_LARGE",
  "EVENT_TIME_IN_FUTURE",
  "TOO_MANY_BLOCKS",
  "TOO_MANY_ROWS",
  "SNAPSHOT_TOO_LARGE",
  "UNKNOWN_BLOCK_REF",
  "INVALID_BLOCK_REF",
  "SNAPSHOT_CONFLICT",
  "CONVERSATION_DELETING",
  "CONVERSATION_MOVING",
  "CONVERSATION_MOVED",
];

export const ConversationSchema = z
  .object({
    conv_id: z.string(),
    session_id: z.string(),
    resolved_runtime_key: z.string().openapi({ description: "The runtime the conversation uses now (a pointer, not history)" }),
    created_at_ms: z.number().int(),
    last_activity_ms: z.number().int(),
    turn_count: z.number().int(),
    snapshot_count: z.number().int(),
  })
  .openapi("Conversation");

const jsonObject = (description: string) => z.record(z.string(), z.unknown()).openapi({ description });

/** A block as the API returns it: normalized (kind, role, default id), its extra keys kept. */
export const StoredBlockSchema = z
  .looseObject({
    id: z.string(),
    kind: z.enum(BLOCK_KINDS),
    role: z.string(),
    payload: jsonObject("The block's payload"),
    metadata: jsonObject("The block's metadata"),
  })
  .openapi("StoredBlock", { description: "A block as stored; keys besides these are the block's extra keys, returned verbatim" });

/** A turn as the API returns it (the `parsed` of the debug API, the `turn` of the latest-turn read). */
export const StoredTurnSchema = z
  .looseObject({
    id: z.string(),
    blocks: z.array(StoredBlockSchema),
    metadata: jsonObject("The turn's metadata"),
    data: jsonObject("The turn's data"),
  })
  .openapi("StoredTurn", { description: "A turn as stored; keys besides these are the turn's extra keys (run_id, …), returned verbatim" });

/** A stored snapshot's identity with its own runtime and inference: what a write answers per item. */
export const SnapshotProjectionSchema = z
  .object({
    conv_id: z.string(),
    session_id: z.string(),
    turn_id: z.string(),
    phase: z.string(),
    created_at_ms: z.number().int(),
    runtime_key: z.string().openapi({ description: "The runtime that produced this snapshot ('' when unknown)" }),
    inference_id: z.string().openapi({ description: "The inference run of this snapshot ('' when unknown)" }),
  })
  .openapi("SnapshotProjection");
