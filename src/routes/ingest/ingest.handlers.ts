import type { RouteHandler } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../../http/bindings";
import { maxClockSkewMs } from "../../http/config";
import { switchRuntime } from "../../store/conversations";
import { saveSnapshots, type SaveResult } from "../../store/snapshot-writes";
import { normalizeAttribution } from "../../turn/attribution-value";
import { assertRequestBounds, assertYamlBudget } from "../../turn/limits";
import {
  assertNotInFuture,
  hashBlocks,
  projectSnapshot,
  readSnapshot,
  type PreparedSnapshot,
  type SnapshotRequest,
} from "../../turn/snapshot";
import { conversationView } from "../conversation-view";
import type { postTurnBatchRoute, postTurnRoute, putRuntimeRoute } from "./ingest.routes";

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

/** What was stored, for the request's log line (http/write-log.ts): ids and counts, never content. */
function reportWrite(c: Context<AppEnv>, snapshots: readonly PreparedSnapshot[], result: SaveResult) {
  c.set("writeLog", {
    snapshots: snapshots.map((s, i) => ({ ...projectSnapshot(s), outcome: result.outcomes[i]! })),
    rows_written: result.rowsWritten,
    rows_read: result.rowsRead,
    nodes_added: result.nodesAdded,
  });
}

export const postTurn: RouteHandler<typeof postTurnRoute, AppEnv> = async (c) => {
  const [snapshot] = await prepareRequest(c.env, [c.req.valid("json")], Date.now(), false);
  const result = await saveSnapshots(c.var.db, [snapshot!]);
  reportWrite(c, [snapshot!], result);
  return c.json(projectSnapshot(snapshot!), result.outcomes[0] === "created" ? 201 : 200);
};

export const postTurnBatch: RouteHandler<typeof postTurnBatchRoute, AppEnv> = async (c) => {
  const snapshots = await prepareRequest(c.env, c.req.valid("json").items, Date.now(), true);
  const result = await saveSnapshots(c.var.db, snapshots);
  reportWrite(c, snapshots, result);
  return c.json({ items: snapshots.map(projectSnapshot) }, result.outcomes.includes("created") ? 201 : 200);
};

export const putRuntime: RouteHandler<typeof putRuntimeRoute, AppEnv> = async (c) => {
  const now = Date.now();
  const { conv_id } = c.req.valid("param");
  const body = c.req.valid("json");
  const atMs = body.at_ms ?? now;
  assertNotInFuture("at_ms", atMs, now, maxClockSkewMs(c.env));
  // Stored trimmed, as the same value in a snapshot is (the schema checked the trimmed value).
  const runtimeKey = normalizeAttribution(body.runtime_key);
  const { conversation, rowsWritten } = await switchRuntime(c.var.db, {
    convId: conv_id,
    runtimeKey,
    sessionId: body.session_id,
    atMs,
  });
  c.set("writeLog", {
    runtime_key: runtimeKey,
    at_ms: atMs,
    resolved_runtime_key: conversation.currentRuntimeKey,
    rows_written: rowsWritten,
  });
  return c.json(conversationView(conversation), 200);
};
