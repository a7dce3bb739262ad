import { createRoute, z } from "@hono/zod-openapi";
import { requireDebugToken } from "../../http/auth";
import { readSession } from "../../http/sessions";
import { requireDecodableUrl } from "../../http/path";
import {
  ConversationSchema,
  errorResponses,
  SnapshotProjectionSchema,
  StoredTurnSchema,
  DEBUG_AUTH_ERRORS,
  SERVER_ERRORS,
} from "../schemas";

export const MAX_LIMIT = 1000;
export const DEFAULT_LIMIT = 200;

const limit = z
  .string()
  .regex(/^[0-9]{1,4}$/, `limit must be an integer 1..${MAX_LIMIT}`)
  .transform(Number)
  .refine((n) => n >= 1 && n <= MAX_LIMIT, `limit must be an integer 1..${MAX_LIMIT}`)
  .optional()
  .openapi({
    type: "integer",
    minimum: 1,
    maximum: MAX_LIMIT,
    description: `Page size, 1..${MAX_LIMIT}`,
    param: { name: "limit", in: "query" },
  });

const sinceMs = z
  .string()
  .regex(/^[0-9]{1,16}$/, "since_ms must be a non-negative integer (milliseconds since the epoch)")
  .transform(Number)
  .refine(Number.isSafeInteger, "since_ms must be a non-negative integer (milliseconds since the epoch)")
  .optional()
  .openapi({
    type: "integer",
    minimum: 0,
    maximum: Number.MAX_SAFE_INTEGER,
    description: "Inclusive lower bound (ms)",
    param: { name: "since_ms", in: "query" },
  });

const cursor = z
  .string()
  .optional()
  .openapi({ description: "next_cursor of the previous page, as given", param: { name: "cursor", in: "query" } });

const text = (name: string, description: string) =>
  z
    .string()
    .max(256, `${name} must be at most 256 characters`)
    .optional()
    .openapi({ description, param: { name, in: "query" } });

/** Runtime keys and inference ids are stored trimmed: a filter with edge whitespace could only match nothing. */
const trimmedText = (name: string, description: string) =>
  z
    .string()
    .max(256, `${name} must be at most 256 characters`)
    .refine(
      (v) => v === v.replace(/^[ \t\r\n]+|[ \t\r\n]+$/g, ""),
      `${name} must not start or end with whitespace: stored values are trimmed, so it would match nothing`,
    )
    .optional()
    .openapi({ description, param: { name, in: "query" } });

const readMiddleware = [requireDebugToken, requireDecodableUrl, readSession];
const security = [{ debugToken: [] }];

export const listConversationsRoute = createRoute({
  method: "get",
  path: "/api/debug/conversations",
  operationId: "listConversations",
  tags: ["debug"],
  summary: "Conversations, newest activity first (ties by conv_id)",
  security,
  middleware: readMiddleware,
  request: { query: z.object({ limit, since_ms: sinceMs, cursor }) },
  responses: {
    200: {
      description: "A page of conversations",
      content: {
        "application/json": {
          schema: z.object({ items: z.array(ConversationSchema), next_cursor: z.string().nullable() }).openapi("ConversationPage"),
        },
      },
    },
    ...errorResponses(...DEBUG_AUTH_ERRORS, ...SERVER_ERRORS, "INVALID_CURSOR"),
  },
});

const RuntimeSegmentSchema = z
  .object({
    runtime_key: z.string(),
    first_turn_id: z.string(),
    last_turn_id: z.string(),
    from_ms: z.number().int(),
    to_ms: z.number().int(),
    turn_count: z.number().int(),
  })
  .openapi("RuntimeSegment");

const pathId = (name: string) =>
  z
    .string()
    .min(1)
    .openapi({ param: { name, in: "path" } });

export const getConversationRoute = createRoute({
  method: "get",
  path: "/api/debug/conversations/{conv_id}",
  operationId: "getConversation",
  tags: ["debug"],
  summary: "One conversation with its runtime history (consecutive runtime segments, oldest first)",
  security,
  middleware: readMiddleware,
  request: { params: z.object({ conv_id: pathId("conv_id") }) },
  responses: {
    200: {
      description: "The conversation",
      content: {
        "application/json": {
          schema: ConversationSchema.extend({ runtime_history: z.array(RuntimeSegmentSchema) }).openapi("ConversationDetail"),
        },
      },
    },
    ...errorResponses(...DEBUG_AUTH_ERRORS, ...SERVER_ERRORS, "INVALID_CURSOR"),
  },
});

/** OTLP-recorded snapshots (POST /v1/traces) keep their model truth in turnstore.gen_ai@v1 (turn/gen-ai-models.ts). */
const modelMismatch = z.boolean().openapi({
  description:
    "True when the snapshot's turn metadata (turnstore.gen_ai@v1) names both a requested and a response model and they differ; false otherwise",
});

const SnapshotItemSchema = SnapshotProjectionSchema.extend({
  model_mismatch: modelMismatch,
  payload: z.string().optional().openapi({ description: "The snapshot's turn as YAML (absent with payload=none)" }),
  block_count: z.number().int().optional().openapi({ description: "Number of blocks (only with payload=none)" }),
}).openapi("SnapshotItem");

export const listSnapshotsRoute = createRoute({
  method: "get",
  path: "/api/debug/turns",
  operationId: "listSnapshots",
  tags: ["debug"],
  summary: "Snapshots of a conversation and/or session, newest first",
  security,
  middleware: readMiddleware,
  request: {
    query: z.object({
      conv_id: text("conv_id", "Conversation (this or session_id is required)"),
      session_id: text("session_id", "Session (this or conv_id is required)"),
      phase: text("phase", "Only this phase"),
      runtime_key: trimmedText("runtime_key", "Only snapshots with this runtime_key ('' = unknown)"),
      inference_id: trimmedText("inference_id", "Only snapshots with this inference_id ('' = unknown)"),
      since_ms: sinceMs,
      model_mismatch: z
        .enum(["true", "false"], { error: "model_mismatch must be true or false" })
        .optional()
        .openapi({
          description: "true: only snapshots whose response model differs from the requested one; false: only the others",
          param: { name: "model_mismatch", in: "query" },
        }),
      limit,
      cursor,
      payload: z
        .enum(["full", "none"], { error: "payload must be full or none" })
        .optional()
        .openapi({
          description: "full (default): each item with its YAML payload; none: without payload, with block_count",
          param: { name: "payload", in: "query" },
        }),
    }),
  },
  responses: {
    200: {
      description: "A page of snapshots",
      content: {
        "application/json": {
          schema: z
            .object({
              conv_id: z.string(),
              session_id: z.string(),
              phase: z.string(),
              runtime_key: z.string().openapi({ description: "The runtime_key filter as given ('' when absent or empty)" }),
              inference_id: z.string().openapi({ description: "The inference_id filter as given ('' when absent or empty)" }),
              since_ms: z.number().int(),
              items: z.array(SnapshotItemSchema),
              next_cursor: z.string().nullable(),
            })
            .openapi("SnapshotPage"),
        },
      },
    },
    ...errorResponses(...DEBUG_AUTH_ERRORS, ...SERVER_ERRORS, "INVALID_CURSOR"),
  },
});

export const getTurnRoute = createRoute({
  method: "get",
  path: "/api/debug/turn/{conv_id}/{session_id}/{turn_id}",
  operationId: "getTurn",
  tags: ["debug"],
  summary: "Every snapshot of one turn, newest first",
  security,
  middleware: readMiddleware,
  request: {
    params: z.object({ conv_id: pathId("conv_id"), session_id: pathId("session_id"), turn_id: pathId("turn_id") }),
    query: z.object({
      limit: limit.openapi({ description: `Page size, 1..${MAX_LIMIT} (default ${MAX_LIMIT})` }),
      cursor,
    }),
  },
  responses: {
    200: {
      description: "The turn's snapshots",
      content: {
        "application/json": {
          schema: z
            .object({
              conv_id: z.string(),
              session_id: z.string(),
              turn_id: z.string(),
              items: z.array(
                z.object({
                  phase: z.string(),
                  created_at_ms: z.number().int(),
                  runtime_key: z.string(),
                  inference_id: z.string(),
                  model_mismatch: modelMismatch,
                  payload: z.string(),
                  parsed: StoredTurnSchema,
                }),
              ),
              next_cursor: z.string().nullable(),
            })
            .openapi("TurnDetail"),
        },
      },
    },
    ...errorResponses(...DEBUG_AUTH_ERRORS, ...SERVER_ERRORS, "INVALID_CURSOR"),
  },
});
