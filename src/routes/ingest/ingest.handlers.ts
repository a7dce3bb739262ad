import type { RouteHandler } from "@hono/zod-openapi";
import type { AppEnv } from "../../http/bindings";
import { maxClockSkewMs } from "../../http/config";
import { ApiError } from "../../http/errors";
import { switchRuntime } from "../../store/conversations";
import { saveSnapshots } from "../../store/snapshot-writes";
import { assertRequestBounds, assertYamlBudget } from "../../turn/limits";
import { assertNotInFuture, hashBlocks, projectSnapshot, readSnapshot, type PreparedSnapshot, type SnapshotRequest } from "../../turn/snapshot";
import { conversationView } from "../conversation-view";
import type { postTurnBatchRoute, postTurnRoute, putRuntimeRoute } from "./ingest.routes";

/** One JSON line per write: what was stored and what it cost — never the token or the payload text. */
function logWrite(requestId: string, route: string, snapshots: PreparedSnapshot[], outcomes: string[], rowsWritten: number, startedAt: number) {
  console.log(
    JSON.stringify({
      level: "info",
      event: "write",
      route,
      request_id: requestId,
      snapshots: snapshots.map((s, i) => ({
        conv_id: s.convId,
        turn_id: s.turnId,
        phase: s.phase,
        runtime_key: s.runtimeKey,
        inference_id: s.inferenceId,
        outcome: outcomes[i],
      })),
      rows_written: rowsWritten,
      duration_ms: Date.now() - startedAt,
    }),
  );
}


/**
 * Request items → snapshots ready to store: every item is read and the request's work bounds are
 * checked before anything is hashed or written; the first bad item names its index.
 */
async function prepareRequest(env: Env, items: readonly SnapshotRequest[], nowMs: number, batch: boolean): Promise<PreparedSnapshot[]> {
  assertYamlBudget(items.map((item) => item.payload));
  const skew = maxClockSkewMs(env);
  const read = items.map((item, index) => readSnapshot(item, { nowMs, maxClockSkewMs: skew, prefix: batch ? `items[${index}]` : "" }));
  assertRequestBounds(read);
  return Promise.all(read.map(hashBlocks));
}

export const postTurn: RouteHandler<typeof postTurnRoute, AppEnv> = async (c) => {
  const startedAt = Date.now();
  const [snapshot] = await prepareRequest(c.env, [c.req.valid("json")], startedAt, false);
  const { outcomes, rowsWritten } = await saveSnapshots(c.var.db, [snapshot!]);
  logWrite(c.var.requestId, "POST /api/turns", [snapshot!], outcomes, rowsWritten, startedAt);
  return c.json(projectSnapshot(snapshot!), outcomes[0] === "created" ? 201 : 200);
};

export const postTurnBatch: RouteHandler<typeof postTurnBatchRoute, AppEnv> = async (c) => {
  const startedAt = Date.now();
  const snapshots = await prepareRequest(c.env, c.req.valid("json").items, startedAt, true);
  const { outcomes, rowsWritten } = await saveSnapshots(c.var.db, snapshots);
  logWrite(c.var.requestId, "POST /api/turns/batch", snapshots, outcomes, rowsWritten, startedAt);
  const created = outcomes.includes("created");
  return c.json({ items: snapshots.map(projectSnapshot) }, created ? 201 : 200);
};

export const putRuntime: RouteHandler<typeof putRuntimeRoute, AppEnv> = async (c) => {
  const startedAt = Date.now();
  const { conv_id } = c.req.valid("param");
  const body = c.req.valid("json");
  const atMs = body.at_ms ?? startedAt;
  assertNotInFuture("at_ms", atMs, startedAt, maxClockSkewMs(c.env));
  const { conversation, rowsWritten } = await switchRuntime(c.var.db, {
    convId: conv_id,
    runtimeKey: body.runtime_key,
    sessionId: body.session_id,
    atMs,
  });
  console.log(
    JSON.stringify({
      level: "info",
      event: "runtime_switch",
      request_id: c.var.requestId,
      conv_id,
      runtime_key: body.runtime_key,
      resolved_runtime_key: conversation.currentRuntimeKey,
      rows_written: rowsWritten,
      duration_ms: Date.now() - startedAt,
    }),
  );
  return c.json(conversationView(conversation), 200);
};
