/**
 * The SQL of the snapshot reads (snapshot-reads.ts): the page statement — a filter's rows in keyset
 * order on the B-tree it pins, cut to the read budget — the turn page's, and the statement of the
 * blocks a page needs, walked from each snapshot's tip. Built here, run there; the EXPLAIN QUERY PLAN
 * tests read these texts.
 */
import { modelMismatchSql } from "../turn/gen-ai-models";
import { READ_BUDGET_CHARS } from "../turn/limits";
import type { blockNodes, blocks, turnSnapshots } from "../db/schema";
import type { Columns, Nullable } from "./rows";

type SnapshotColumns = typeof turnSnapshots.$inferSelect;
type NodeColumns = typeof blockNodes.$inferSelect;
type BlockColumns = typeof blocks.$inferSelect;

/** A snapshot's place in the page order: (created_at_ms, conv_id, id). */
export interface SnapshotPosition {
  createdAtMs: number;
  convId: string;
  id: number;
}

export type SnapshotOrder = "newest" | "oldest";

export interface SnapshotFilter {
  convId?: string;
  sessionId?: string;
  turnId?: string;
  phase?: string;
  runtimeKey?: string;
  inferenceId?: string;
  /** Inclusive lower bound on created_at_ms. */
  sinceMs?: number;
  /** Only snapshots whose requested and response models differ (true), or not (false): turn/gen-ai-models.ts. */
  modelMismatch?: boolean;
  /** newest (default): newest first, as the debug lists; oldest: chronological, as the export. */
  order?: SnapshotOrder;
  /** Keyset cursor: only snapshots strictly after this position in the page order. */
  after?: SnapshotPosition;
  limit: number;
  /** false: the page only (no blocks statement); records carry blockCount and an empty turn. */
  withBlocks?: boolean;
  /**
   * false: no next position (no row read beyond the page). The latest-snapshot read sets it: the
   * row after its answer may lie far back (another session's or phase's rows in between).
   */
  withNext?: boolean;
}

/**
 * What one page with payloads may return (CONTRACT §6.3): at most MAX_BLOCKS_PER_PAGE blocks and
 * READ_BUDGET_CHARS of read weight (src/turn/read-weight.ts) — a page of long snapshots ends early,
 * with next_cursor, rather than building hundreds of megabytes. The first snapshot of a page is always
 * returned: writes bound every snapshot's weight to one read (limits.ts).
 */
export const MAX_BLOCKS_PER_PAGE = 20_000;

/**
 * A row's read weight: written with it since 0012; for older rows an estimate from what they hold
 * (2 KiB a block, and the turn's own JSON twice).
 */
const ROW_WEIGHT = `coalesce(weight, (CASE WHEN tip_chain IS NULL THEN json_array_length(block_refs_json) ELSE block_count END) * 2048
  + 2 * (length(turn_metadata_json) + length(turn_data_json) + length(turn_extra_json)))`;

/** The statements of one read: the page, the blocks it needs, and the parameters both take. */
export interface SnapshotQueries {
  page: string;
  blocks: string;
  params: unknown[];
}

/** A turn_snapshots row as the page query returns it (block_count computed for legacy rows). */
export type PageRow = Columns<SnapshotColumns> & {
  /** 1 when the snapshot's requested and response models differ (MODEL_MISMATCH). */
  model_mismatch: number;
  read_weight: number;
  /** Rows of the page before the block budget cut it (payload pages only). */
  page_rows?: number;
};

/** A block of the page: on a path node (chain set), or of a legacy snapshot (chain null). */
export type BlockRow = Pick<Columns<NodeColumns>, "conv_id" | "block_id" | "content_hash"> &
  Nullable<Pick<Columns<NodeColumns>, "chain" | "parent_chain" | "extra_json">> &
  Nullable<Pick<Columns<BlockColumns>, "kind" | "role" | "payload_json" | "block_metadata_json">>;

const FILTER_COLUMNS = [
  ["convId", "conv_id"],
  ["sessionId", "session_id"],
  ["turnId", "turn_id"],
  ["phase", "phase"],
  ["runtimeKey", "runtime_key"],
  ["inferenceId", "inference_id"],
] as const;

/** OTLP-recorded snapshots' model truth (turn/gen-ai-models.ts): from the metadata, row by row (no index). */
const MODEL_MISMATCH = modelMismatchSql("turn_metadata_json");

const SNAPSHOT_COLUMNS = `id, conv_id, session_id, turn_id, phase, created_at_ms, runtime_key, inference_id,
  turn_metadata_json, turn_data_json, turn_extra_json, tip_chain, block_refs_json, ${MODEL_MISMATCH} AS model_mismatch`;

/** Legacy rows (tip_chain NULL) still list their blocks in block_refs_json. */
const BLOCK_COUNT = "CASE WHEN tip_chain IS NULL THEN json_array_length(block_refs_json) ELSE block_count END";

const PAGE_COLUMNS = `${SNAPSHOT_COLUMNS},
  ${BLOCK_COUNT} AS block_count, ${ROW_WEIGHT} AS read_weight`;

/**
 * The B-tree a read pins (filterIndex): the identity index, or the table itself — its primary key
 * (conv_id, created_at_ms, id), which `NOT INDEXED` selects for a WITHOUT ROWID table.
 */
type SnapshotIndex = "turn_snapshots_identity" | "primary key";

/**
 * The page order over (created_at_ms, conv_id, id) — id breaks equal times of a conversation by
 * arrival; conv_id matters only across conversations (the session filter) — and the cursor
 * comparison that continues it.
 */
function snapshotOrder(order: SnapshotOrder = "newest"): { sql: string; after: "<" | ">" } {
  return order === "newest"
    ? { sql: "created_at_ms DESC, conv_id DESC, id DESC", after: "<" }
    : { sql: "created_at_ms ASC, conv_id ASC, id ASC", after: ">" };
}

/**
 * Rows of a page (already ordered and limited) cut to the read budget: the rows whose blocks and
 * weight fit (the first one always), counted over the limited rows only — never over the whole
 * conversation. `block_count` and `read_weight` must not be NULL (a sum with a NULL would drop the row).
 * A row is in the page when the page's blocks and weight up to and including it fit: the first row
 * that would pass either budget starts the next page.
 */
function withinReadBudget(rows: string, order: string, blockBudget: string, weightBudget: string): string {
  return `SELECT * FROM (
  SELECT *, sum(block_count) OVER running AS blocks_through, sum(read_weight) OVER running AS weight_through,
    count(*) OVER () AS page_rows
  FROM (${rows})
  WINDOW running AS (ORDER BY ${order} ROWS UNBOUNDED PRECEDING)
) WHERE (blocks_through <= ${blockBudget} AND weight_through <= ${weightBudget}) OR weight_through = read_weight
ORDER BY ${order}`;
}

/**
 * Which B-tree a filter reads (pinned: without statistics SQLite would take the identity index for
 * conv_id + session_id and sort the whole session):
 * - one turn (conv_id, session_id, turn_id): the identity index — only that turn's rows, sorted;
 * - any other filter with conv_id: the table, the conversation newest first from the cursor, other
 *   filters checked row by row — rows read grow with how far back the matches are, not with the
 *   conversation;
 * - session_id without conv_id: the identity index — the session's rows (of every conversation it
 *   wrote to), sorted.
 */
function filterIndex(filter: SnapshotFilter): SnapshotIndex {
  if (filter.convId === undefined) return "turn_snapshots_identity";
  return filter.sessionId !== undefined && filter.turnId !== undefined ? "turn_snapshots_identity" : "primary key";
}

/**
 * The page query; every filter combination is served by the table or its identity index (filterIndex).
 */
function pageQuery(filter: SnapshotFilter): { sql: string; params: unknown[] } {
  const where: string[] = [];
  const params: unknown[] = [];
  const param = (value: unknown) => {
    params.push(value);
    return `?${params.length}`;
  };
  const order = snapshotOrder(filter.order);
  for (const [field, column] of FILTER_COLUMNS) {
    const value = filter[field];
    if (value !== undefined) where.push(`${column} = ${param(value)}`);
  }
  if (filter.sinceMs !== undefined) where.push(`created_at_ms >= ${param(filter.sinceMs)}`);
  // Not indexed: checked row by row on the B-tree filterIndex picks, like phase or runtime_key.
  if (filter.modelMismatch !== undefined) where.push(`${MODEL_MISMATCH} = ${param(filter.modelMismatch ? 1 : 0)}`);
  if (filter.after) {
    // Within one conversation the row value follows the primary key (conv_id is fixed), so the cursor is a range of it.
    where.push(
      filter.convId !== undefined
        ? `(created_at_ms, id) ${order.after} (${param(filter.after.createdAtMs)}, ${param(filter.after.id)})`
        : `(created_at_ms, conv_id, id) ${order.after} (${param(filter.after.createdAtMs)}, ${param(filter.after.convId)}, ${param(filter.after.id)})`,
    );
  }
  // A conversation whose deletion is under way reads as gone at once (store/deletion.ts).
  where.push("NOT EXISTS (SELECT 1 FROM conversation_deletions AS d WHERE d.conv_id = turn_snapshots.conv_id)");
  const index = filterIndex(filter);
  const rows = `SELECT ${PAGE_COLUMNS}
FROM turn_snapshots ${index === "primary key" ? "NOT INDEXED" : `INDEXED BY ${index}`}
WHERE ${where.join(" AND ")}
ORDER BY ${order.sql}
LIMIT ${param(filter.withNext === false ? filter.limit : filter.limit + 1)}`;
  if (filter.withBlocks === false) return { sql: rows, params };
  return { sql: withinReadBudget(rows, order.sql, param(MAX_BLOCKS_PER_PAGE), param(READ_BUDGET_CHARS)), params };
}

/** The blocks of a page: its paths walked from the tips (each node once), and its legacy snapshots' blocks. */
function blocksQuery(page: string): string {
  return `WITH RECURSIVE page AS (${page}),
path(conv_id, chain) AS (
  SELECT conv_id, tip_chain FROM page WHERE tip_chain IS NOT NULL AND tip_chain <> ''
  UNION
  SELECT n.conv_id, n.parent_chain FROM path JOIN block_nodes AS n ON n.conv_id = path.conv_id AND n.chain = path.chain
  WHERE n.parent_chain <> ''
)
SELECT n.conv_id, n.chain, n.parent_chain, n.block_id, n.content_hash, n.extra_json,
  b.kind, b.role, b.payload_json, b.block_metadata_json
FROM path
JOIN block_nodes AS n ON n.conv_id = path.conv_id AND n.chain = path.chain
LEFT JOIN blocks AS b ON b.block_id = n.block_id AND b.content_hash = n.content_hash
UNION ALL
SELECT NULL, NULL, NULL, b.block_id, b.content_hash, NULL, b.kind, b.role, b.payload_json, b.block_metadata_json
FROM blocks AS b
WHERE (b.block_id, b.content_hash) IN (
  SELECT ref.value ->> 0, ref.value ->> 1 FROM page, json_each(page.block_refs_json) AS ref WHERE page.tip_chain IS NULL)`;
}

/** The SQL a filter runs (its page, then the blocks of that page); the EXPLAIN QUERY PLAN tests read it. */
export function snapshotQueries(filter: SnapshotFilter): SnapshotQueries {
  const { sql, params } = pageQuery(filter);
  return { page: sql, blocks: blocksQuery(sql), params };
}

// ---- the latest snapshot (resuming a conversation) ------------------------------------------

export interface LatestSnapshotQuery {
  convId: string;
  sessionId?: string;
  phase?: string;
}

/**
 * A latest-snapshot read is a filter with conv_id and without turn_id, so it walks the conversation
 * newest first on the table's primary key (filterIndex; checked by an EXPLAIN QUERY PLAN test) and
 * stops at the first match: the conversation alone, its first row; with a phase or a session, the
 * rows newer than the answer (the phases of a turn in progress, another session's newer turns) —
 * never the length of the conversation before it.
 */
export const latestFilter = (query: LatestSnapshotQuery): SnapshotFilter => ({
  convId: query.convId,
  sessionId: query.sessionId,
  phase: query.phase,
  limit: 1,
  withNext: false,
});

/** The SQL of a latest-snapshot read, for EXPLAIN QUERY PLAN checks. */
export function latestSnapshotQueries(query: LatestSnapshotQuery): SnapshotQueries {
  return snapshotQueries(latestFilter(query));
}

// ---- each turn's newest snapshot, turn by turn (the Markdown transcript) ---------------------

/** A turn's place in its conversation's creation order: (turn_created_at_ms, turn_id, session_id). */
export interface TurnPosition {
  createdAtMs: number;
  turnId: string;
  sessionId: string;
}

export interface TurnSnapshotsQuery {
  convId: string;
  /** Only snapshots of this phase; a turn without one is skipped. */
  phase?: string;
  /** Keyset cursor: only turns strictly after this position. */
  after?: TurnPosition;
  /** Turns per page. */
  limit: number;
}

/** A page row of the turn page: the turn's position, and its newest snapshot's columns (NULL when it has none). */
export type TurnPageRow = PageRow & { position_created_at_ms: number; position_turn_id: string; position_session_id: string };

const TURN_ORDER = "position_created_at_ms, position_turn_id, position_session_id";

/**
 * A page of turns in creation order from turns_by_conv_created (conv_id, turn_created_at_ms,
 * turn_id) — a range from the cursor, never the turns before it — and per turn its newest snapshot
 * from turn_snapshots_identity (session_id, conv_id, turn_id, …), then that row by its primary key:
 * rows in proportion to the page.
 */
export function turnSnapshotsQueries(query: TurnSnapshotsQuery): SnapshotQueries {
  const params: unknown[] = [];
  const param = (value: unknown) => {
    params.push(value);
    return `?${params.length}`;
  };
  const conv = param(query.convId);
  let after = "";
  if (query.after) {
    const [createdAtMs, turnId, sessionId] = [param(query.after.createdAtMs), param(query.after.turnId), param(query.after.sessionId)];
    // The first term is the index range; the second skips the turns of the same time and id before the cursor.
    after = `
    AND (turn_created_at_ms, turn_id) >= (${createdAtMs}, ${turnId})
    AND (turn_created_at_ms, turn_id, session_id) > (${createdAtMs}, ${turnId}, ${sessionId})`;
  }
  const phase = query.phase !== undefined ? ` AND s.phase = ${param(query.phase)}` : "";
  const rows = `WITH turn_page AS (
  SELECT turn_created_at_ms AS position_created_at_ms, turn_id AS position_turn_id, session_id AS position_session_id
  FROM turns INDEXED BY turns_by_conv_created
  WHERE conv_id = ${conv}${after}
  ORDER BY turn_created_at_ms, turn_id, session_id
  LIMIT ${param(query.limit + 1)}
), picked AS MATERIALIZED (
  SELECT turn_page.*, (
    SELECT json_array(s.created_at_ms, s.id) FROM turn_snapshots AS s INDEXED BY turn_snapshots_identity
    WHERE s.conv_id = ${conv} AND s.session_id = turn_page.position_session_id AND s.turn_id = turn_page.position_turn_id${phase}
    ORDER BY s.created_at_ms DESC, s.id DESC LIMIT 1
  ) AS snapshot_key
  FROM turn_page
)
SELECT picked.position_created_at_ms, picked.position_turn_id, picked.position_session_id,
  ${SNAPSHOT_COLUMNS},
  coalesce(${BLOCK_COUNT}, 0) AS block_count, coalesce(${ROW_WEIGHT}, 0) AS read_weight
FROM picked LEFT JOIN turn_snapshots
  ON turn_snapshots.conv_id = ${conv} AND turn_snapshots.created_at_ms = picked.snapshot_key ->> 0 AND turn_snapshots.id = picked.snapshot_key ->> 1
ORDER BY ${TURN_ORDER}`;
  const sql = withinReadBudget(rows, TURN_ORDER, param(MAX_BLOCKS_PER_PAGE), param(READ_BUDGET_CHARS));
  return { page: sql, blocks: blocksQuery(sql), params };
}
