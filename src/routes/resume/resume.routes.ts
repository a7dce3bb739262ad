import { createRoute, z } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../../http/bindings";
import { authenticateWriter } from "../../http/auth";
import { writeRoutesCors } from "../../http/cors";
import { readSession } from "../../http/sessions";
import { requireDecodableUrl } from "../../http/path";
import { latestTurnScope } from "../../http/scope";
import { errorResponses, SnapshotProjectionSchema, StoredTurnSchema, WRITE_AUTH_ERRORS, SERVER_ERRORS } from "../schemas";

const optionalText = (name: string, description: string) =>
  z
    .string()
    .max(256, `${name} must be at most 256 characters`)
    .optional()
    .openapi({ description, param: { name, in: "query" } });

export const LatestTurnSchema = SnapshotProjectionSchema.extend({ turn: StoredTurnSchema }).openapi("LatestTurn");

/**
 * Before validation, in order: CORS, credential and rate limits, decodable URL, what a conversation
 * token may read (403), then the D1 read session (bookmark-aware).
 */
/** The ingest token (app backends) or a conversation token (chat pages). */
const latestTurnSecurity: Array<Record<string, string[]>> = [{ ingestToken: [] }, { conversationToken: [] }];

const latestTurnMiddleware: MiddlewareHandler<AppEnv>[] = [
  writeRoutesCors,
  authenticateWriter,
  requireDecodableUrl,
  latestTurnScope,
  readSession,
];

export const getLatestTurnRoute = createRoute({
  method: "get",
  path: "/api/conversations/{conv_id}/turns/latest",
  operationId: "getLatestTurn",
  tags: ["resume"],
  summary: "The newest snapshot of a conversation (optionally of one phase and/or session), with its full turn",
  description:
    "What a frontend reads to resume a conversation. Newest by created_at_ms; equal times: the later arrival. A conversation token may read its own conversation only; a token bound to a session reads that session (the default without session_id).",
  security: latestTurnSecurity,
  middleware: latestTurnMiddleware,
  request: {
    params: z.object({
      conv_id: z
        .string()
        .min(1)
        .openapi({ param: { name: "conv_id", in: "path" } }),
    }),
    query: z.object({
      phase: optionalText("phase", "Only snapshots of this phase (e.g. final)"),
      session_id: optionalText("session_id", "Only snapshots of this session (default for a session-bound token: its session)"),
    }),
  },
  responses: {
    200: { description: "The newest matching snapshot", content: { "application/json": { schema: LatestTurnSchema } } },
    ...errorResponses(...WRITE_AUTH_ERRORS, ...SERVER_ERRORS, "NOT_FOUND"),
  },
});
