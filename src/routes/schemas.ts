/**
 * Shared zod schemas: they validate requests and generate the OpenAPI document (one source).
 */
import { z } from "@hono/zod-openapi";
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

export function errorResponses(...statuses: number[]) {
  const descriptions: Record<number, string> = {
    400: "Bad input (malformed JSON, wrong types, unknown fields, malformed parameters)",
    401: "Missing or wrong bearer token",
    403: "FORBIDDEN: a conversation token used outside its conversation (or session), or for a route it does not grant; the ingest token from a browser (Origin header); ORIGIN_NOT_ALLOWED: a CORS preflight from an origin not in CORS_ORIGINS",
    404: "Unknown resource (or the debug surface is disabled)",
    409: "A different snapshot is already stored under the same identity",
    413: "Body larger than 4 MiB",
    415: "Content-Type is not application/json",
    429: "RATE_LIMITED: too many requests for this token, conversation or client address; see Retry-After",
    422: "Well-formed but semantically invalid",
    500: "INTERNAL: a bug; the message quotes the request id",
    503: "UNAVAILABLE: D1 is busy or restarting, retry after Retry-After; NOT_CONFIGURED: a token or var is not configured (or, for /healthz, D1 is unreachable or not migrated)",
  };
  return Object.fromEntries(
    statuses.map((status) => [
      status,
      { description: descriptions[status] ?? "Error", content: { "application/json": { schema: ErrorSchema } } },
    ]),
  );
}

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
