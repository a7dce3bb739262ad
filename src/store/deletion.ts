/**
 * Deleting a conversation (CONTRACT §5.6): every row of it, and every block no other conversation
 * references, in work proportional to what is deleted and in bounded batches.
 *
 *  1. One batch: the conversation row is deleted and its id recorded in conversation_deletions — from
 *     then on it reads 404 everywhere and no write can recreate it (store/writes/ refuses it).
 *  2. Its legacy snapshots (if any) are converted to block paths, so their blocks are counted.
 *  3. Chunks of at most DELETE_CHUNK_ROWS rows per statement, one batch each: legacy membership rows,
 *     turns, snapshots, then — once no membership row of the conversation is left — path nodes (each
 *     block's reference count lowered in the same batch, a block that reaches 0 deleted with it) —
 *     every statement an index range of this conversation. Membership goes before blocks because a
 *     database the Go store created declares turn_block_membership → blocks as a foreign key, which
 *     D1 enforces: no block is deleted while a membership row (of any conversation) still names it.
 *  4. The conversation_deletions row goes last.
 *
 * Interrupted anywhere (a failing batch, the invocation's limits), nothing is half-readable and the
 * next call — the route again, or the scheduled handler, which resumes pending deletions — finishes.
 * A block counted 0 while the first release's snapshots are still being converted elsewhere is kept
 * (they are not counted yet) and collected by the scheduled handler afterwards (collectUnreferencedBlocks).
 */
import { convertLegacySnapshots } from "./conversion";
import type { D1Handle } from "./d1";

/** Rows one statement deletes at most: a few milliseconds of D1 time each. */
export const DELETE_CHUNK_ROWS = 1_000;

const NO_UNCONVERTED = `NOT EXISTS (SELECT 1 FROM turn_snapshots INDEXED BY turn_snapshots_unconverted WHERE tip_chain IS NULL)`;

/**
 * A block no legacy membership row names (turn_block_membership_by_block, drizzle/0011): the Go
 * store's foreign key refuses the deletion of such a block, and the row would lose its content.
 */
const NOT_IN_MEMBERSHIP = `NOT EXISTS (SELECT 1 FROM turn_block_membership AS m WHERE m.block_id = blocks.block_id AND m.content_hash = blocks.content_hash)`;

/** The conversation's path nodes are purged only once its membership rows are gone (they name the same blocks). */
const NO_MEMBERSHIP_LEFT = `NOT EXISTS (SELECT 1 FROM turn_block_membership WHERE conv_id = ?1)`;

/**
 * Records the deletion, if the conversation exists and — for retention (?4 set) — is still idle since
 * before the cutoff: a write that landed after retention listed it keeps it (issue 29). Not while a
 * move copies it out of or into this database (store/moves.ts): the move's own purge of the source
 * comes once it has "moved".
 */
const RECORD_DELETION = `INSERT INTO conversation_deletions (conv_id, requested_at_ms, reason)
SELECT conv_id, ?2, ?3 FROM conversations WHERE conv_id = ?1 AND (?4 IS NULL OR last_activity_ms < ?4)
  AND NOT EXISTS (SELECT 1 FROM conversation_moves WHERE conv_id = ?1 AND state <> 'moved')
ON CONFLICT (conv_id) DO NOTHING`;
/**
 * The tombstone: conversation tokens minted before this moment stop working (CONTRACT §6.3). Not for
 * a move's purge of its source: the conversation lives on elsewhere.
 */
const RECORD_TOMBSTONE = `INSERT INTO conversation_tombstones (conv_id, deleted_at_ms)
SELECT conv_id, requested_at_ms FROM conversation_deletions WHERE conv_id = ?1 AND reason <> 'move'
ON CONFLICT (conv_id) DO UPDATE SET deleted_at_ms = max(deleted_at_ms, excluded.deleted_at_ms)`;
const DELETE_CONVERSATION = `DELETE FROM conversations WHERE conv_id = ?1 AND EXISTS (SELECT 1 FROM conversation_deletions WHERE conv_id = ?1)`;
const PENDING = `SELECT count(*) AS pending FROM conversation_deletions WHERE conv_id = ?1`;

/** The next chunk of path nodes: the same rows for each statement of the batch (one transaction). */
const NODE_CHUNK = `SELECT block_id, content_hash FROM block_nodes WHERE conv_id = ?1 AND ${NO_MEMBERSHIP_LEFT} ORDER BY chain LIMIT ?2`;

/** One batch of a deletion, in order; each statement's changes() count what it deleted. */
const PURGE = {
  membership: `DELETE FROM turn_block_membership WHERE rowid IN (SELECT rowid FROM turn_block_membership WHERE conv_id = ?1 LIMIT ?2)`,
  // A Go-era turns row takes its remaining membership rows with it (ON DELETE CASCADE).
  turns: `DELETE FROM turns WHERE rowid IN (SELECT rowid FROM turns WHERE conv_id = ?1 LIMIT ?2)`,
  snapshots: `DELETE FROM turn_snapshots WHERE conv_id = ?1 AND (created_at_ms, id) IN (SELECT created_at_ms, id FROM turn_snapshots WHERE conv_id = ?1 ORDER BY created_at_ms, id LIMIT ?2)`,
  references: `UPDATE blocks SET ref_count = ref_count - c.n
FROM (SELECT block_id, content_hash, count(*) AS n FROM (${NODE_CHUNK}) GROUP BY block_id, content_hash) AS c
WHERE blocks.block_id = c.block_id AND blocks.content_hash = c.content_hash`,
  blocks: `DELETE FROM blocks WHERE ref_count <= 0 AND (block_id, content_hash) IN (${NODE_CHUNK}) AND ${NO_UNCONVERTED} AND ${NOT_IN_MEMBERSHIP}`,
  block_nodes: `DELETE FROM block_nodes WHERE conv_id = ?1 AND ${NO_MEMBERSHIP_LEFT} AND chain IN (SELECT chain FROM block_nodes WHERE conv_id = ?1 ORDER BY chain LIMIT ?2)`,
} as const;

const FINISH = `DELETE FROM conversation_deletions WHERE conv_id = ?1
  AND NOT EXISTS (SELECT 1 FROM block_nodes WHERE conv_id = ?1)
  AND NOT EXISTS (SELECT 1 FROM turn_snapshots WHERE conv_id = ?1)
  AND NOT EXISTS (SELECT 1 FROM turns WHERE conv_id = ?1)
  AND NOT EXISTS (SELECT 1 FROM turn_block_membership WHERE conv_id = ?1)`;

/** Why: the DELETE route, retention (src/scheduled.ts), or a move removing its source (store/moves.ts). */
export type DeletionReason = "admin" | "retention" | "move";

/** What one deletion (or one call that continued it) removed. */
export interface DeletionCounts {
  turns: number;
  snapshots: number;
  block_nodes: number;
  blocks: number;
  membership: number;
}

export interface DeletionResult {
  convId: string;
  /** False when the batch budget ran out first: the scheduled handler (or another call) finishes. */
  complete: boolean;
  deleted: DeletionCounts;
  statements: number;
  batches: number;
  rowsWritten: number;
}

const emptyCounts = (): DeletionCounts => ({ turns: 0, snapshots: 0, block_nodes: 0, blocks: 0, membership: 0 });

/**
 * Starts the deletion of a conversation, in one batch: recorded, tombstoned, its row gone. False
 * when neither the conversation nor a pending deletion of it exists (404) — or, for retention
 * (`idleBeforeMs`), when it is no longer idle: checked in the same batch, so a write acknowledged
 * before it always survives.
 */
export async function startDeletion(
  db: D1Handle,
  convId: string,
  reason: DeletionReason,
  nowMs: number,
  idleBeforeMs: number | null = null,
): Promise<boolean> {
  const results = await db.batch<{ pending: number }>([
    db.prepare(RECORD_DELETION).bind(convId, nowMs, reason, idleBeforeMs),
    db.prepare(RECORD_TOMBSTONE).bind(convId),
    db.prepare(DELETE_CONVERSATION).bind(convId),
    db.prepare(PENDING).bind(convId),
  ]);
  return (results.at(-1)!.results[0]?.pending ?? 0) > 0;
}

/**
 * Removes the rows of a conversation whose deletion has started, chunk by chunk, until done or until
 * `maxBatches` batches were used.
 */
export async function continueDeletion(db: D1Handle, convId: string, maxBatches: number): Promise<DeletionResult> {
  const result: DeletionResult = { convId, complete: false, deleted: emptyCounts(), statements: 0, batches: 0, rowsWritten: 0 };
  const changes = (r: D1Result) => r.meta?.changes ?? 0;
  // Legacy snapshots of it first: their blocks get counted like everyone else's.
  while (result.batches < maxBatches) {
    const converted = await convertLegacySnapshots(db, { convId });
    result.batches += converted.converted > 0 ? 2 : 1;
    if (!converted.remaining) break;
  }
  const steps = Object.keys(PURGE) as Array<keyof typeof PURGE>;
  while (result.batches < maxBatches) {
    const statements = [...steps.map((step) => db.prepare(PURGE[step]).bind(convId, DELETE_CHUNK_ROWS)), db.prepare(FINISH).bind(convId)];
    const results = await db.batch(statements);
    result.batches += 1;
    result.statements += statements.length;
    result.rowsWritten += results.reduce((sum, r) => sum + (r.meta?.rows_written ?? 0), 0);
    steps.forEach((step, i) => {
      if (step !== "references") result.deleted[step] += changes(results[i]!);
    });
    if (changes(results.at(-1)!) > 0) {
      result.complete = true;
      break;
    }
  }
  return result;
}

/** Conversations whose deletion started and did not finish, due now (oldest first; a failing one waits its backoff). */
export async function pendingDeletions(db: D1Handle, limit: number, nowMs: number): Promise<Array<{ convId: string; failures: number }>> {
  const { results } = await db
    .prepare("SELECT conv_id, failures FROM conversation_deletions WHERE retry_at_ms <= ?2 ORDER BY requested_at_ms, conv_id LIMIT ?1")
    .bind(limit, nowMs)
    .all<{ conv_id: string; failures: number }>();
  return results.map((r) => ({ convId: r.conv_id, failures: r.failures }));
}

/** A scheduled continuation failed: counted, and the deletion waits until `retryAtMs`. */
export async function recordDeletionFailure(db: D1Handle, convId: string, error: string, retryAtMs: number): Promise<void> {
  await db
    .prepare("UPDATE conversation_deletions SET failures = failures + 1, retry_at_ms = ?2, last_error = ?3 WHERE conv_id = ?1")
    .bind(convId, retryAtMs, error.slice(0, 500))
    .run();
}

/** Tombstones older than the longest token lifetime: no token minted before them can still be valid. */
export async function purgeTombstones(db: D1Handle, beforeMs: number, limit: number): Promise<number> {
  const result = await db
    .prepare(
      "DELETE FROM conversation_tombstones WHERE conv_id IN (SELECT conv_id FROM conversation_tombstones WHERE deleted_at_ms < ?1 LIMIT ?2)",
    )
    .bind(beforeMs, limit)
    .run();
  return result.meta?.changes ?? 0;
}

/** Conversations idle since before `cutoffMs`, oldest activity first (conversations_by_activity, read backwards). */
export async function idleConversations(db: D1Handle, cutoffMs: number, limit: number): Promise<string[]> {
  const { results } = await db
    .prepare("SELECT conv_id FROM conversations WHERE last_activity_ms < ?1 ORDER BY last_activity_ms ASC, conv_id DESC LIMIT ?2")
    .bind(cutoffMs, limit)
    .all<{ conv_id: string }>();
  return results.map((r) => r.conv_id);
}

/**
 * Deletes blocks no path references (ref_count 0), at most `limit`, once no legacy snapshot is left
 * unconverted (before that, a block counted 0 may still be listed by one). Index blocks_unreferenced.
 */
export async function collectUnreferencedBlocks(db: D1Handle, limit: number): Promise<number> {
  const result = await db
    .prepare(
      `DELETE FROM blocks WHERE (block_id, content_hash) IN (SELECT block_id, content_hash FROM blocks WHERE ref_count = 0 LIMIT ?1) AND ${NO_UNCONVERTED} AND ${NOT_IN_MEMBERSHIP}`,
    )
    .bind(limit)
    .run();
  return result.meta?.changes ?? 0;
}
