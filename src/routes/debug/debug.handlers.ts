import type { RouteHandler } from "@hono/zod-openapi";
import type { AppEnv } from "../../http/bindings";
import { decodeCursor, encodeCursor } from "../../http/cursor";
import { ApiError } from "../../http/errors";
import { listConversationsAcross, listSnapshotsAcross } from "../../store/across-databases";
import { getConversationWithHistory, type ConversationPosition } from "../../store/conversations";
import { listSnapshots as readSnapshotPage, type SnapshotFilter, type SnapshotPosition } from "../../store/snapshot-reads";
import { turnToJson, turnToYaml } from "../../turn/turn";
import { conversationView } from "../conversation-view";
import { givenFilter } from "../schemas";
import { turnListBody } from "./debug.wire";
import {
  DEFAULT_LIMIT,
  MAX_LIMIT,
  type getConversationRoute,
  type getTurnRoute,
  type listConversationsRoute,
  type listSnapshotsRoute,
} from "./debug.routes";

const isSnapshotPosition = (v: unknown): v is SnapshotPosition =>
  typeof v === "object" &&
  v !== null &&
  Number.isSafeInteger((v as SnapshotPosition).createdAtMs) &&
  typeof (v as SnapshotPosition).convId === "string" &&
  Number.isSafeInteger((v as SnapshotPosition).id);

const isConversationPosition = (v: unknown): v is ConversationPosition =>
  typeof v === "object" &&
  v !== null &&
  Number.isSafeInteger((v as ConversationPosition).lastActivityMs) &&
  typeof (v as ConversationPosition).convId === "string";

export const listConversations: RouteHandler<typeof listConversationsRoute, AppEnv> = async (c) => {
  const query = c.req.valid("query");
  const scope = ["conversations", query.since_ms ?? null];
  const after = query.cursor ? await decodeCursor(c.env.DEBUG_TOKEN!, scope, query.cursor, isConversationPosition) : undefined;
  const dbs = c.var.databases.all().map((d) => d.db);
  const { rows, next } = await listConversationsAcross(dbs, { limit: query.limit ?? DEFAULT_LIMIT, sinceMs: query.since_ms, after });
  return c.json({ items: rows.map(conversationView), next_cursor: next ? await encodeCursor(c.env.DEBUG_TOKEN!, scope, next) : null }, 200);
};

export const getConversation: RouteHandler<typeof getConversationRoute, AppEnv> = async (c) => {
  const { conv_id } = c.req.valid("param");
  const found = await c.var.databases.read(conv_id, {}, (db) => getConversationWithHistory(db, conv_id));
  if (!found) throw new ApiError("NOT_FOUND", `conversation ${JSON.stringify(conv_id)} not found`);
  return c.json({ ...conversationView(found.conversation), runtime_history: found.runtimeHistory }, 200);
};

export const listSnapshots: RouteHandler<typeof listSnapshotsRoute, AppEnv> = async (c) => {
  const query = c.req.valid("query");
  const convId = givenFilter(query.conv_id);
  const sessionId = givenFilter(query.session_id);
  if (!convId && !sessionId) throw new ApiError("INVALID_PARAMETER", "give conv_id or session_id (or both)");
  const filter: Omit<SnapshotFilter, "limit"> = {
    convId,
    sessionId,
    phase: givenFilter(query.phase),
    // An explicit empty runtime_key / inference_id asks for snapshots whose value is unknown.
    runtimeKey: query.runtime_key,
    inferenceId: query.inference_id,
    sinceMs: query.since_ms,
    modelMismatch: query.model_mismatch === undefined ? undefined : query.model_mismatch === "true",
  };
  const scope = ["turns", filter];
  const after = query.cursor ? await decodeCursor(c.env.DEBUG_TOKEN!, scope, query.cursor, isSnapshotPosition) : undefined;
  const withBlocks = query.payload !== "none";
  const request = { ...filter, after, limit: query.limit ?? DEFAULT_LIMIT, withBlocks };
  // One conversation lives in one database; a session's snapshots may be in any of them.
  const page = convId
    ? await readSnapshotPage((await c.var.databases.forConversation(convId, { place: false })).db, request)
    : await listSnapshotsAcross(
        c.var.databases.all().map((d) => d.db),
        request,
      );
  const nextCursor = page.next ? await encodeCursor(c.env.DEBUG_TOKEN!, scope, page.next) : null;
  return c.json(
    turnListBody(query, page.records, (r) => (withBlocks ? { payload: turnToYaml(r.turn) } : { block_count: r.blockCount }), nextCursor),
    200,
  );
};

export const getTurn: RouteHandler<typeof getTurnRoute, AppEnv> = async (c) => {
  const { conv_id, session_id, turn_id } = c.req.valid("param");
  const query = c.req.valid("query");
  const filter = { convId: conv_id, sessionId: session_id, turnId: turn_id };
  const scope = ["turn", filter];
  const after = query.cursor ? await decodeCursor(c.env.DEBUG_TOKEN!, scope, query.cursor, isSnapshotPosition) : undefined;
  const request = { ...filter, after, limit: query.limit ?? MAX_LIMIT };
  const page = await c.var.databases.read(conv_id, {}, async (db) => {
    const found = await readSnapshotPage(db, request);
    return found.records.length > 0 || after ? found : null;
  });
  if (!page) {
    throw new ApiError(
      "NOT_FOUND",
      `turn ${JSON.stringify(turn_id)} of conversation ${JSON.stringify(conv_id)}, session ${JSON.stringify(session_id)} has no snapshot`,
    );
  }
  return c.json(
    {
      conv_id,
      session_id,
      turn_id,
      items: page.records.map((r) => ({
        phase: r.phase,
        created_at_ms: r.createdAtMs,
        runtime_key: r.runtimeKey,
        inference_id: r.inferenceId,
        model_mismatch: r.modelMismatch,
        payload: turnToYaml(r.turn),
        parsed: turnToJson(r.turn),
      })),
      next_cursor: page.next ? await encodeCursor(c.env.DEBUG_TOKEN!, scope, page.next) : null,
    },
    200,
  );
};
