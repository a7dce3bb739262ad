/**
 * The write path of POST /api/turns as the bench drives it from Node against local D1 (wrangler's
 * getPlatformProxy): what the route runs after its middleware and request schema — read the item
 * (readSnapshot), check the request's work bounds, hash its blocks and name its path nodes
 * (hashBlocks), then saveSnapshots (one batch for a new snapshot whose blocks are all in the
 * request; read-then-write otherwise) — the same functions, in the same order, as prepareRequest in
 * src/routes/ingest/ingest.handlers.ts.
 */
import { getPlatformProxy } from "wrangler";
import { join } from "node:path";
import type { D1Handle } from "../src/store/d1";
import { saveSnapshots, type SaveResult } from "../src/store/writes";
import { assertYamlBudget, requestCost } from "../src/turn/limits";
import { hashBlocks, readSnapshot, type PreparedSnapshot, type SnapshotRequest } from "../src/turn/snapshot";
import { ROOT } from "../tools/wrangler-dev";

/** Historical event times are fine; only times ahead of the clock are bounded. */
export const BENCH_PREPARE = { maxClockSkewMs: Number.POSITIVE_INFINITY } as const;

export async function prepareBody(body: string, nowMs = Date.now()): Promise<PreparedSnapshot> {
  const request = JSON.parse(body) as SnapshotRequest;
  assertYamlBudget([request.payload]);
  const read = readSnapshot(request, { nowMs, ...BENCH_PREPARE, prefix: "" });
  requestCost([read]);
  return hashBlocks(read);
}

/** One POST /api/turns body through the store; throws unless the snapshot was created. */
export async function postThroughStore(db: D1Handle, body: string): Promise<SaveResult> {
  const snapshot = await prepareBody(body);
  const result = await saveSnapshots(db, [snapshot]);
  if (result.outcomes[0] !== "created")
    throw new Error(`snapshot ${snapshot.turnId}/${snapshot.phase} was not created (${result.outcomes[0]})`);
  return result;
}

export interface LocalD1 {
  db: D1Database;
  dispose(): Promise<void>;
}

/**
 * The DB binding of the Worker over the local D1 under `persistTo` (as `wrangler dev --persist-to`
 * uses it). Wrangler's start-up notes ("Using secrets defined in .dev.vars") are kept off stdout,
 * which carries the report and the JSON line.
 */
export async function openLocalD1(persistTo: string): Promise<LocalD1> {
  const level = process.env.WRANGLER_LOG;
  process.env.WRANGLER_LOG = "warn";
  try {
    const proxy = await getPlatformProxy<{ DB: D1Database }>({
      configPath: join(ROOT, "wrangler.toml"),
      persist: { path: join(persistTo, "v3") },
    });
    return { db: proxy.env.DB, dispose: () => proxy.dispose() };
  } finally {
    if (level === undefined) delete process.env.WRANGLER_LOG;
    else process.env.WRANGLER_LOG = level;
  }
}
