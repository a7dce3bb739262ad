/**
 * Reading snapshots back as turns. Every read is one D1 batch of two statements — the page, and the
 * blocks that page references (the page subquery repeated inside a json_each join) — so a request
 * costs one round trip and a constant number of queries whatever the limit.
 */
import { storedObject, type Block, type BlockKind, type Turn } from "../turn/turn";
import type { BlockRef } from "../turn/snapshot";
import { rowsRead, type D1Handle } from "./d1";

export interface SnapshotPosition {
  createdAtMs: number;
  id: number;
}

export interface SnapshotFilter {
  convId?: string;
  sessionId?: string;
  turnId?: string;
  phase?: string;
  runtimeKey?: string;
  inferenceId?: string;
  /** Inclusive lower bound on created_at_ms. */
  sinceMs?: number;
  /** Keyset cursor: only snapshots strictly after this position in newest-first order. */
  after?: SnapshotPosition;
  limit: number;
  /** false: the page only (no blocks statement); records carry blockCount and an empty turn. */
  withBlocks?: boolean;
}

export interface SnapshotRecord {
  id: number;
  convId: string;
  sessionId: string;
  turnId: string;
  phase: string;
  createdAtMs: number;
  runtimeKey: string;
  inferenceId: string;
  blockCount: number;
  turn: Turn;
}

export interface SnapshotPage {
  records: SnapshotRecord[];
  /** Position of the last record when more match, for the next page's cursor. */
  next: SnapshotPosition | null;
  rowsRead: number;
}

/** A turn_snapshots row as D1 returns it (the columns the store reads and writes). */
export interface SnapshotRow {
  id: number;
  conv_id: string;
  session_id: string;
  turn_id: string;
  phase: string;
  created_at_ms: number;
  runtime_key: string;
  inference_id: string;
  turn_metadata_json: string;
  turn_data_json: string;
  turn_extra_json: string;
  block_refs_json: string;
}

interface BlockRow {
  block_id: string;
  content_hash: string;
  kind: string;
  role: string;
  payload_json: string;
  block_metadata_json: string;
}

const FILTER_COLUMNS = [
  ["convId", "conv_id"],
  ["sessionId", "session_id"],
  ["turnId", "turn_id"],
  ["phase", "phase"],
  ["runtimeKey", "runtime_key"],
  ["inferenceId", "inference_id"],
] as const;

/** The page query; every filter combination is served by one of the turn_snapshots indexes. */
function pageQuery(filter: SnapshotFilter): { sql: string; params: unknown[] } {
  const where: string[] = [];
  const params: unknown[] = [];
  const param = (value: unknown) => {
    params.push(value);
    return `?${params.length}`;
  };
  for (const [field, column] of FILTER_COLUMNS) {
    const value = filter[field];
    if (value !== undefined) where.push(`${column} = ${param(value)}`);
  }
  if (filter.sinceMs !== undefined) where.push(`created_at_ms >= ${param(filter.sinceMs)}`);
  if (filter.after) where.push(`(created_at_ms, id) < (${param(filter.after.createdAtMs)}, ${param(filter.after.id)})`);
  // One turn's snapshots: without statistics SQLite prefers an index that yields the sort order
  // (session or conversation + created_at_ms) and reads the whole session to find a few rows; the
  // identity index reads only the turn's, and sorting those few costs nothing.
  const turnIndex = filter.convId !== undefined && filter.sessionId !== undefined && filter.turnId !== undefined ? " INDEXED BY turn_snapshots_identity" : "";
  const sql = `SELECT id, conv_id, session_id, turn_id, phase, created_at_ms, runtime_key, inference_id,
  turn_metadata_json, turn_data_json, turn_extra_json, block_refs_json, json_array_length(block_refs_json) AS block_count
FROM turn_snapshots${turnIndex}${where.length ? `\nWHERE ${where.join(" AND ")}` : ""}
ORDER BY created_at_ms DESC, id DESC
LIMIT ${param(filter.limit + 1)}`;
  return { sql, params };
}

function blocksQuery(page: string): string {
  return `SELECT block_id, content_hash, kind, role, payload_json, block_metadata_json
FROM blocks
WHERE (block_id, content_hash) IN (
  SELECT ref.value ->> 0, ref.value ->> 1
  FROM (${page}) AS page, json_each(page.block_refs_json) AS ref)`;
}

/** The SQL a filter runs, for EXPLAIN QUERY PLAN checks. */
export function snapshotQueries(filter: SnapshotFilter): { page: string; blocks: string; params: unknown[] } {
  const { sql, params } = pageQuery(filter);
  return { page: sql, blocks: blocksQuery(sql), params };
}

function toTurn(row: SnapshotRow, blocks: Map<string, BlockRow>): Turn {
  const refs = JSON.parse(row.block_refs_json) as BlockRef[];
  return {
    id: row.turn_id,
    blocks: refs.map(([blockId, contentHash, extra]): Block => {
      const found = blocks.get(JSON.stringify([blockId, contentHash]));
      if (!found) {
        // Only possible for legacy rows whose block went missing before import: say so, don't hide it.
        return { id: blockId, kind: "other", role: "", payload: {}, metadata: { "turnstore.missing_block@v1": contentHash }, extra: extra ?? {} };
      }
      return {
        id: blockId,
        kind: found.kind as BlockKind,
        role: found.role,
        payload: storedObject(found.payload_json),
        metadata: storedObject(found.block_metadata_json),
        extra: extra ?? {},
      };
    }),
    metadata: storedObject(row.turn_metadata_json),
    data: storedObject(row.turn_data_json),
    extra: row.turn_extra_json === "" ? {} : storedObject(row.turn_extra_json),
  };
}

export async function listSnapshots(db: D1Handle, filter: SnapshotFilter): Promise<SnapshotPage> {
  const { page, blocks, params } = snapshotQueries(filter);
  const withBlocks = filter.withBlocks ?? true;
  const [pageResult, blockResult] = await db.batch<unknown>([
    db.prepare(page).bind(...params),
    ...(withBlocks ? [db.prepare(blocks).bind(...params)] : []),
  ]);
  const rows = pageResult!.results as Array<SnapshotRow & { block_count: number }>;
  const blockMap = new Map(((blockResult?.results ?? []) as BlockRow[]).map((b) => [JSON.stringify([b.block_id, b.content_hash]), b]));
  const pageRows = rows.slice(0, filter.limit);
  const last = pageRows[pageRows.length - 1];
  return {
    records: pageRows.map((row) => ({
      id: row.id,
      convId: row.conv_id,
      sessionId: row.session_id,
      turnId: row.turn_id,
      phase: row.phase,
      createdAtMs: row.created_at_ms,
      runtimeKey: row.runtime_key,
      inferenceId: row.inference_id,
      blockCount: row.block_count,
      turn: withBlocks ? toTurn(row, blockMap) : { id: row.turn_id, blocks: [], metadata: {}, data: {}, extra: {} },
    })),
    next: rows.length > filter.limit && last ? { createdAtMs: last.created_at_ms, id: last.id } : null,
    rowsRead: rowsRead(blockResult ? [pageResult!, blockResult] : [pageResult!]),
  };
}
