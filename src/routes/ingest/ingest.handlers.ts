import type { RouteHandler } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../../http/bindings";
import { maxClockSkewMs } from "../../http/config";
import { switchRuntime as recordRuntimeSwitch } from "../../store/conversations";
import { saveSnapshots, type SaveResult } from "../../store/writes";
import { normalizeAttribution } from "../../turn/attribution-value";
import { requestCost, assertYamlBudget } from "../../turn/limits";
import { chargeWork } from "../../http/rate-limit";
import { grantOf } from "../../http/auth";
import { assertNotInFuture } from "../../turn/event-time";
import { hashBlocks, projectSnapshot, readSnapshot, type PreparedSnapshot, type SnapshotRequest } from "../../turn/snapshot";
import { conversationView } from "../conversation-view";
import type { postSnapshotBatchRoute, postSnapshotRoute, switchRuntimeRoute } from "./ingest.routes";

/**
 * Request items → snapshots ready to store: every item is read, the request's cost is bounded
 * (limits.ts) and charged to the caller's rate limits, before anything is hashed or written; the
 * first bad item names its index.
 */
export async function prepareRequest(
  c: Context<AppEnv>,
  items: readonly SnapshotRequest[],
  nowMs: number,
  batch: boolean,
): Promise<PreparedSnapshot[]> {
  assertYamlBudget(items.map((item) => item.payload));
  const skew = maxClockSkewMs(c.env);
  const read = items.map((item, index) => readSnapshot(item, { nowMs, maxClockSkewMs: skew, prefix: batch ? `items[${index}]` : "" }));
  await chargeWork(c, requestCost(read).snapshots);
  return Promise.all(read.map(hashBlocks));
}

/** What the store must know of the caller: a conversation token's issue time (its tombstone check). */
export const writeOptionsOf = (c: Context<AppEnv>) => ({ tokenIssuedAtMs: grantOf(c)?.issuedAtMs });

/** What was stored, for the request's log line (http/write-log.ts): ids and counts, never content. */
function reportWrite(c: Context<AppEnv>, snapshots: readonly PreparedSnapshot[], result: SaveResult) {
  c.set("writeLog", {
    snapshots: snapshots.map((s, i) => ({ ...projectSnapshot(s), outcome: result.outcomes[i]! })),
    rows_written: result.rowsWritten,
    rows_read: result.rowsRead,
    nodes_added: result.nodesAdded,
  });
}

export const postSnapshot: RouteHandler<typeof postSnapshotRoute, AppEnv> = async (c) => {
  const [snapshot] = await prepareRequest(c, [c.req.valid("json")], Date.now(), false);
  const result = await c.var.databases.write([snapshot!.convId], { hint: grantOf(c)?.placement }, (db) =>
    saveSnapshots(db, [snapshot!], writeOptionsOf(c)),
  );
  reportWrite(c, [snapshot!], result);
  return c.json(projectSnapshot(snapshot!), result.outcomes[0] === "created" ? 201 : 200);
};

export const postSnapshotBatch: RouteHandler<typeof postSnapshotBatchRoute, AppEnv> = async (c) => {
  const snapshots = await prepareRequest(c, c.req.valid("json").items, Date.now(), true);
  const result = await c.var.databases.write(
    snapshots.map((s) => s.convId),
    { hint: grantOf(c)?.placement },
    (db) => saveSnapshots(db, snapshots, writeOptionsOf(c)),
  );
  reportWrite(c, snapshots, result);
  return c.json({ items: snapshots.map(projectSnapshot) }, result.outcomes.includes("created") ? 201 : 200);
};

export const switchRuntime: RouteHandler<typeof switchRuntimeRoute, AppEnv> = async (c) => {
  const now = Date.now();
  const { conv_id } = c.req.valid("param");
  const body = c.req.valid("json");
  const atMs = body.at_ms ?? now;
  assertNotInFuture("at_ms", atMs, now, maxClockSkewMs(c.env));
  // Stored trimmed, as the same value in a snapshot is (the schema checked the trimmed value).
  const runtimeKey = normalizeAttribution(body.runtime_key);
  const { conversation, rowsWritten } = await c.var.databases.write([conv_id], { hint: grantOf(c)?.placement }, (db) =>
    recordRuntimeSwitch(db, { convId: conv_id, runtimeKey, sessionId: body.session_id, atMs }, writeOptionsOf(c)),
  );
  c.set("writeLog", {
    runtime_key: runtimeKey,
    at_ms: atMs,
    resolved_runtime_key: conversation.currentRuntimeKey,
    rows_written: rowsWritten,
  });
  return c.json(conversationView(conversation), 200);
};
