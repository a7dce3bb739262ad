import { createRoute, z } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../../http/bindings";
import { authenticateWriter } from "../../http/auth";
import { writeRoutesCors } from "../../http/cors";
import { writeSession } from "../../http/sessions";
import { limitBody, requireJsonBody } from "../../http/json-body";
import { requireDecodableUrl } from "../../http/path";
import { batchScope, runtimeScope, snapshotScope } from "../../http/scope";
import { CHAIN } from "../../turn/block-path";
import { attributionProblem, MAX_ATTRIBUTION_LENGTH, normalizeAttribution } from "../../turn/attribution-value";
import { MAX_PHASE_LENGTH } from "../../turn/identifier";
import { BLOCK_KINDS, isJsonObject, type JsonObject } from "../../turn/turn";
import {
  ConversationSchema,
  epochMs,
  errorResponses,
  identifier,
  SnapshotProjectionSchema,
  WRITE_AUTH_ERRORS,
  SERVER_ERRORS,
  JSON_BODY_ERRORS,
  SNAPSHOT_WRITE_ERRORS,
} from "../schemas";

export const MAX_BATCH_ITEMS = 100;
/** A prefix may name any path a snapshot may hold. */
const MAX_PREFIX_BLOCKS = 1_000_000;

/**
 * A runtime key or inference id by the one rule (src/turn/attribution-value.ts): checked trimmed;
 * the value is stored trimmed. `required`: blank is refused (a runtime switch needs a runtime);
 * otherwise '' means "not given" and falls through to the metadata.
 */
const attribution = (name: string, required = false) =>
  z
    .string({ error: `${name} must be a string` })
    .superRefine((value, ctx) => {
      const trimmed = normalizeAttribution(value);
      const problem =
        required && trimmed === "" ? `${name} must not be blank (spaces, tabs, CR and LF are trimmed)` : attributionProblem(name, trimmed);
      if (problem) ctx.addIssue({ code: "custom", message: problem });
    })
    .openapi({
      maxLength: MAX_ATTRIBUTION_LENGTH,
      description: "Trimmed of spaces, tabs, CR and LF; at most 256 characters; no control or format characters; NFC",
    });

/**
 * The turn is read by the turn reader (src/turn/turn.ts), one rule for JSON and YAML; here it only
 * has to be a JSON object. The schema below documents it for OpenAPI.
 */
export const TurnObjectSchema = z.custom<JsonObject>(isJsonObject, { error: "turn must be a JSON object (a turn)" }).openapi("Turn", {
  type: "object",
  description:
    "A geppetto turn. Keys besides id, blocks, metadata, data (and block keys besides id, kind, role, payload, metadata) are kept verbatim and returned, and are not part of the block hash.",
  properties: {
    id: { type: ["string", "null"], description: "Defaults to the request's turn_id" },
    blocks: {
      type: ["array", "null"],
      items: {
        type: "object",
        properties: {
          id: { type: ["string", "null"], description: "Default: <turn_id>#<ordinal>" },
          kind: {
            type: ["string", "null"],
            description: `Trimmed and lower-cased; one of ${BLOCK_KINDS.join(", ")}; missing or null → user; empty or unknown → other`,
          },
          role: { type: ["string", "null"], description: "Trimmed; an llm_text block with an empty role gets assistant" },
          payload: { type: ["object", "null"], additionalProperties: {} },
          metadata: { type: ["object", "null"], additionalProperties: {} },
        },
        additionalProperties: {},
      },
    },
    metadata: { type: ["object", "null"], additionalProperties: {}, description: "Namespaced keys, e.g. geppetto.runtime@v1" },
    data: { type: ["object", "null"], additionalProperties: {} },
  },
  additionalProperties: {},
});

export const SnapshotRequestSchema = z
  .strictObject({
    conv_id: identifier("conv_id"),
    session_id: identifier("session_id"),
    turn_id: identifier("turn_id").optional().openapi({ description: "Defaults to turn.id; must agree with it when both are given" }),
    phase: identifier("phase", MAX_PHASE_LENGTH)
      .optional()
      .openapi({ description: "draft, pre_inference, post_inference, post_tools, final or any other name; default final" }),
    created_at_ms: epochMs("created_at_ms").optional().openapi({ description: "Snapshot time; defaults to the server clock" }),
    runtime_key: attribution("runtime_key").optional().openapi({ description: "Wins over turn metadata when non-empty" }),
    inference_id: attribution("inference_id").optional().openapi({ description: "Wins over turn metadata when non-empty" }),
    turn: TurnObjectSchema.optional(),
    // Exports of OTLP-recorded snapshots carry it (turn/export-formats.ts); they must re-import unchanged.
    model_mismatch: z.boolean({ error: "model_mismatch must be a boolean" }).optional().openapi({
      description:
        "Read-only: exports of snapshots recorded from OpenTelemetry carry it; derived from the turn's turnstore.gen_ai@v1 metadata, so ignored here",
    }),
    payload: z.string({ error: "payload must be a string (the turn as YAML)" }).optional().openapi({
      description: "The turn as YAML, as the Go implementation serializes it (give this or turn)",
    }),
    prefix: z
      .strictObject({
        chain: z.string().regex(CHAIN, "prefix.chain must be 32 lowercase hex characters (a block path's chain)"),
        blocks: z
          .number()
          .int()
          .min(1, "prefix.blocks must be a positive integer")
          .max(MAX_PREFIX_BLOCKS, `prefix.blocks must be at most ${MAX_PREFIX_BLOCKS}`),
      })
      .optional()
      .openapi({
        description:
          "A delta post: the turn's blocks begin with the `blocks` blocks of this conversation's path whose last node is `chain` (docs/API.md, Delta posts); the turn lists only the blocks after them. Stored exactly as the full post would be.",
      }),
  })
  .refine((body) => (body.turn === undefined) !== (body.payload === undefined), {
    message: "give exactly one of turn (a JSON object) or payload (the turn as a YAML string)",
  })
  .openapi("SnapshotRequest", {
    description: "One snapshot of a turn. Exactly one of turn (JSON) and payload (YAML) is given.",
    // Both present match both alternatives, so oneOf refuses them too.
    oneOf: [{ required: ["turn"] }, { required: ["payload"] }],
  });

/** Before validation, in order: CORS, credential and rate limits (before the body is read), body size,
 * type and syntax, what the credential may touch (403), then the D1 session. */
/** The ingest token (servers) or a conversation token (chat pages). */
const writerSecurity: Array<Record<string, string[]>> = [{ ingestToken: [] }, { conversationToken: [] }];

const writeMiddleware = (scope: MiddlewareHandler<AppEnv>): MiddlewareHandler<AppEnv>[] => [
  writeRoutesCors,
  authenticateWriter,
  requireDecodableUrl,
  limitBody,
  requireJsonBody,
  scope,
  writeSession,
];

export const postSnapshotRoute = createRoute({
  method: "post",
  path: "/api/turns",
  operationId: "postSnapshot",
  tags: ["ingestion"],
  summary: "Store one turn snapshot",
  security: writerSecurity,
  middleware: writeMiddleware(snapshotScope),
  request: { body: { required: true, content: { "application/json": { schema: SnapshotRequestSchema } } } },
  responses: {
    201: { description: "Stored", content: { "application/json": { schema: SnapshotProjectionSchema } } },
    200: { description: "Identical replay; nothing written", content: { "application/json": { schema: SnapshotProjectionSchema } } },
    ...errorResponses(...WRITE_AUTH_ERRORS, ...SERVER_ERRORS, ...JSON_BODY_ERRORS, ...SNAPSHOT_WRITE_ERRORS),
  },
});

export const BatchRequestSchema = z
  .strictObject({
    items: z
      .array(SnapshotRequestSchema, { error: "items must be an array of snapshots" })
      .min(1, "items must hold 1 to 100 snapshots")
      .max(MAX_BATCH_ITEMS, "items must hold 1 to 100 snapshots"),
  })
  .openapi("SnapshotBatchRequest");

const BatchResponseSchema = z.object({ items: z.array(SnapshotProjectionSchema) }).openapi("SnapshotBatchResponse");

export const postSnapshotBatchRoute = createRoute({
  method: "post",
  path: "/api/turns/batch",
  operationId: "postSnapshotBatch",
  tags: ["ingestion"],
  summary: "Store 1 to 100 snapshots, all or nothing",
  security: writerSecurity,
  middleware: writeMiddleware(batchScope),
  request: { body: { required: true, content: { "application/json": { schema: BatchRequestSchema } } } },
  responses: {
    201: { description: "Stored (at least one item was new)", content: { "application/json": { schema: BatchResponseSchema } } },
    200: {
      description: "Every item was an identical replay; nothing written",
      content: { "application/json": { schema: BatchResponseSchema } },
    },
    ...errorResponses(...WRITE_AUTH_ERRORS, ...SERVER_ERRORS, ...JSON_BODY_ERRORS, ...SNAPSHOT_WRITE_ERRORS, "BATCH_SPANS_DATABASES"),
  },
});

export const RuntimeSwitchSchema = z
  .strictObject({
    runtime_key: attribution("runtime_key", true).openapi({
      description: "The runtime the conversation uses from at_ms on; trimmed as a snapshot's runtime_key is",
    }),
    session_id: identifier("session_id").optional().openapi({ description: "Required when the conversation does not exist yet" }),
    at_ms: epochMs("at_ms").optional().openapi({ description: "Event time of the switch; defaults to the server clock" }),
  })
  .openapi("RuntimeSwitch");

export const switchRuntimeRoute = createRoute({
  method: "put",
  path: "/api/conversations/{conv_id}/runtime",
  operationId: "switchRuntime",
  tags: ["ingestion"],
  summary: "Announce a runtime (profile) switch for a conversation",
  security: writerSecurity,
  middleware: writeMiddleware(runtimeScope),
  request: {
    params: z.object({ conv_id: identifier("conv_id").openapi({ param: { name: "conv_id", in: "path" } }) }),
    body: { required: true, content: { "application/json": { schema: RuntimeSwitchSchema } } },
  },
  responses: {
    200: { description: "The conversation after the switch", content: { "application/json": { schema: ConversationSchema } } },
    ...errorResponses(
      ...WRITE_AUTH_ERRORS,
      ...SERVER_ERRORS,
      ...JSON_BODY_ERRORS,
      "UNKNOWN_CONVERSATION",
      "EVENT_TIME_IN_FUTURE",
      "CONVERSATION_DELETING",
      "CONVERSATION_MOVING",
      "CONVERSATION_MOVED",
    ),
  },
});
