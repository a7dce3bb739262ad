/**
 * The data step from the first release's layout to block paths (CONTRACT §5.4): a snapshot written
 * by the first release, or carried over from turn_block_membership by the backfill, holds its whole
 * block list in block_refs_json (tip_chain NULL). Converting it adds the path nodes its blocks need
 * (the same nodes a post of the same blocks adds: src/turn/block-path.ts), counts the references to
 * their blocks, and points the snapshot at its tip — then clears the list.
 *
 * Chunked and re-runnable: each call converts a bounded number of the oldest unconverted snapshots
 * (found through the partial index turn_snapshots_unconverted) in one read and one write batch, and
 * a converted row is never converted again. Reads serve both kinds of rows, so a database reads the
 * same before, during and after. The Worker's scheduled handler runs it; `npm run db:convert` too.
 */
import { pathNodes, type PathNode } from "../turn/block-path";
import type { LegacyBlockRef } from "../turn/snapshot";
import { jsonParameterChunks, rowsRead, rowsWritten, type D1Handle } from "./d1";
import { COUNT_REFERENCES, FIND_NODES, INSERT_NODES, refusalOf } from "./writes/statements";

/** Snapshots per chunk, and references per chunk (a legacy row can list thousands of blocks). */
export const CONVERSION_CHUNK_SNAPSHOTS = 200;
export const CONVERSION_CHUNK_REFS = 20_000;

/** Conversations whose conversion failed wait until their retry time (?2 = now): the others go on. */
const NEXT_UNCONVERTED = `
SELECT id, conv_id, block_refs_json FROM turn_snapshots INDEXED BY turn_snapshots_unconverted
WHERE tip_chain IS NULL AND conv_id NOT IN (SELECT conv_id FROM conversion_failures WHERE retry_at_ms > ?2)
ORDER BY conv_id, id LIMIT ?1`;

const NEXT_UNCONVERTED_OF = `
SELECT id, conv_id, block_refs_json FROM turn_snapshots INDEXED BY turn_snapshots_unconverted
WHERE tip_chain IS NULL AND conv_id = ?2 ORDER BY conv_id, id LIMIT ?1`;

/**
 * [id, tip_chain, block_count, conv_id]: each row found through turn_snapshots_unconverted
 * (conv_id, id) — pinned: the planner would walk the conversation's primary-key range instead.
 * Legacy ids are unique (rowids of the first release's table).
 */
const POINT_SNAPSHOTS = `
UPDATE turn_snapshots INDEXED BY turn_snapshots_unconverted SET tip_chain = u.value ->> 1, block_count = u.value ->> 2, block_refs_json = '[]'
FROM json_each(?1) AS u
WHERE turn_snapshots.conv_id = u.value ->> 3 AND turn_snapshots.id = u.value ->> 0 AND turn_snapshots.tip_chain IS NULL`;

/** The statements that find and point legacy rows, for EXPLAIN QUERY PLAN checks. */
export const CONVERSION_QUEUE_STATEMENTS = { NEXT_UNCONVERTED, NEXT_UNCONVERTED_OF, POINT_SNAPSHOTS } as const;

const ANY_UNCONVERTED = `SELECT 1 AS found FROM turn_snapshots INDEXED BY turn_snapshots_unconverted WHERE tip_chain IS NULL LIMIT 1`;

export interface ConversionResult {
  converted: number;
  /** Legacy snapshots still to convert after this chunk. */
  remaining: boolean;
  rowsRead: number;
  rowsWritten: number;
}

/** True while any snapshot is still in the first release's layout. */
export async function hasUnconvertedSnapshots(db: D1Handle): Promise<boolean> {
  return (await db.prepare(ANY_UNCONVERTED).first<{ found: number }>()) !== null;
}

/**
 * Converts one chunk of the oldest legacy snapshots (of one conversation, when `convId` is given;
 * else skipping conversations whose conversion failed until their retry time, `nowMs`).
 */
export async function convertLegacySnapshots(db: D1Handle, options: { convId?: string; nowMs?: number } = {}): Promise<ConversionResult> {
  const next =
    options.convId === undefined
      ? db.prepare(NEXT_UNCONVERTED).bind(CONVERSION_CHUNK_SNAPSHOTS + 1, options.nowMs ?? Date.now())
      : db.prepare(NEXT_UNCONVERTED_OF).bind(CONVERSION_CHUNK_SNAPSHOTS + 1, options.convId);
  const { results: candidates, meta } = await next.all<{ id: number; conv_id: string; block_refs_json: string }>();
  let read = meta?.rows_read ?? 0;
  const chunk: Array<{ id: number; convId: string; nodes: PathNode[] }> = [];
  let refs = 0;
  for (const row of candidates.slice(0, CONVERSION_CHUNK_SNAPSHOTS)) {
    const list = JSON.parse(row.block_refs_json) as LegacyBlockRef[];
    if (chunk.length > 0 && refs + list.length > CONVERSION_CHUNK_REFS) break;
    refs += list.length;
    chunk.push({
      id: row.id,
      convId: row.conv_id,
      nodes: await pathNodes(list.map(([blockId, contentHash]) => ({ blockId, contentHash, extraJson: "" }))),
    });
  }
  if (chunk.length === 0) return { converted: 0, remaining: false, rowsRead: read, rowsWritten: 0 };

  // Planned again only if a concurrent write adds one of the same nodes in between.
  for (let attempt = 0; attempt < 3; attempt++) {
    const wanted = new Map<string, [string, string]>();
    for (const s of chunk) for (const n of s.nodes) wanted.set(`${s.convId}\u0000${n.chain}`, [s.convId, n.chain]);
    // Snapshots without blocks have no nodes to look for (D1 refuses an empty batch).
    const findStatements = jsonParameterChunks([...wanted.values()]).map((c) => db.prepare(FIND_NODES).bind(c));
    const found = findStatements.length > 0 ? await db.batch<{ conv_id: string; chain: string }>(findStatements) : [];
    read += rowsRead(found);
    const existing = new Set(found.flatMap((r) => r.results.map((row) => `${row.conv_id}\u0000${row.chain}`)));
    const added = new Map<string, unknown[]>();
    const references = new Map<string, [string, string, number]>();
    for (const s of chunk) {
      for (const n of s.nodes) {
        const key = `${s.convId}\u0000${n.chain}`;
        if (existing.has(key) || added.has(key)) continue;
        // Path weights are left NULL: a write that continues such a path walks it (read-then-write.ts).
        added.set(key, [s.convId, n.chain, n.parentChain, n.depth, n.blockId, n.contentHash, "", null]);
        const blockKey = `${n.blockId}\u0000${n.contentHash}`;
        const counted = references.get(blockKey);
        if (counted) counted[2] += 1;
        else references.set(blockKey, [n.blockId, n.contentHash, 1]);
      }
    }
    const pointers = chunk.map((s) => [s.id, s.nodes.at(-1)?.chain ?? "", s.nodes.length, s.convId]);
    const statements = [
      ...jsonParameterChunks([...added.values()]).map((c) => db.prepare(INSERT_NODES).bind(c)),
      ...jsonParameterChunks([...references.values()]).map((c) => db.prepare(COUNT_REFERENCES).bind(c)),
      ...jsonParameterChunks(pointers).map((c) => db.prepare(POINT_SNAPSHOTS).bind(c)),
    ];
    try {
      const results = await db.batch(statements);
      const remaining = candidates.length > chunk.length || (options.convId === undefined && (await hasUnconvertedSnapshots(db)));
      return { converted: chunk.length, remaining, rowsRead: read + rowsRead(results), rowsWritten: rowsWritten(results) };
    } catch (error) {
      if (refusalOf(error) !== "concurrent") throw error;
    }
  }
  throw new Error("the conversion of legacy snapshots kept colliding with concurrent writes; it runs again with the next scheduled run");
}

/** The conversation the next chunk would start with (skipping those waiting after a failure), or null. */
export async function nextUnconvertedConversation(db: D1Handle, nowMs: number): Promise<string | null> {
  const row = await db.prepare(NEXT_UNCONVERTED).bind(1, nowMs).first<{ conv_id: string }>();
  return row?.conv_id ?? null;
}

/** A conversation whose conversion failed: counted, and skipped until `retryAtMs`. */
export async function recordConversionFailure(db: D1Handle, convId: string, error: string, retryAtMs: number): Promise<void> {
  await db
    .prepare(
      `INSERT INTO conversion_failures (conv_id, failures, retry_at_ms, last_error) VALUES (?1, 1, ?2, ?3)
       ON CONFLICT (conv_id) DO UPDATE SET failures = failures + 1, retry_at_ms = excluded.retry_at_ms, last_error = excluded.last_error`,
    )
    .bind(convId, retryAtMs, error.slice(0, 500))
    .run();
}

/** A conversation converted after failing before: no longer waiting. */
export async function clearConversionFailure(db: D1Handle, convId: string): Promise<void> {
  await db.prepare("DELETE FROM conversion_failures WHERE conv_id = ?1").bind(convId).run();
}
