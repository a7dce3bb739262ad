/**
 * Reading snapshots back as turns. Every read is one D1 batch: the page, and (for full payloads) the
 * blocks that page needs — the page's block paths walked from each snapshot's last node towards the
 * first, every node once however many snapshots share it (src/turn/block-path.ts), plus the blocks
 * of legacy snapshots not converted yet. A page touches rows in proportion to the snapshots and the
 * distinct blocks it returns, never to the length of the conversation.
 */
import { walkPath } from "../turn/block-path";
import type { LegacyBlockRef } from "../turn/snapshot";
import { storedObject, type Block, type BlockKind, type JsonObject, type Turn } from "../turn/turn";
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

/**
 * Blocks one page with payloads may return: a page of long snapshots ends early (with next_cursor)
 * rather than building hundreds of megabytes. The first snapshot of a page is always returned.
 */
export const MAX_BLOCKS_PER_PAGE = 20_000;

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

/** A turn_snapshots row as the page query returns it. */
interface PageRow {
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
  tip_chain: string | null;
  block_refs_json: string;
  block_count: number;
  /** Rows of the page before the block budget cut it (payload pages only). */
  page_rows?: number;
}

/** A block of the page: on a path node (chain set), or of a legacy snapshot (chain null). */
interface BlockRow {
  conv_id: string;
  chain: string | null;
  parent_chain: string | null;
  block_id: string;
  content_hash: string;
  extra_json: string | null;
  kind: string | null;
  role: string | null;
  payload_json: string | null;
  block_metadata_json: string | null;
}

const FILTER_COLUMNS = [
  ["convId", "conv_id"],
  ["sessionId", "session_id"],
  ["turnId", "turn_id"],
  ["phase", "phase"],
  ["runtimeKey", "runtime_key"],
  ["inferenceId", "inference_id"],
] as const;

const PAGE_COLUMNS = `id, conv_id, session_id, turn_id, phase, created_at_ms, runtime_key, inference_id,
  turn_metadata_json, turn_data_json, turn_extra_json, tip_chain, block_refs_json,
  CASE WHEN tip_chain IS NULL THEN json_array_length(block_refs_json) ELSE block_count END AS block_count`;

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
  // A conversation whose deletion is under way reads as gone at once (store/deletion.ts).
  where.push("NOT EXISTS (SELECT 1 FROM conversation_deletions AS d WHERE d.conv_id = turn_snapshots.conv_id)");
  // One turn's snapshots: without statistics SQLite prefers an index that yields the sort order
  // (session or conversation + created_at_ms) and reads the whole session to find a few rows; the
  // identity index reads only the turn's, and sorting those few costs nothing.
  const turnIndex = filter.convId !== undefined && filter.sessionId !== undefined && filter.turnId !== undefined ? " INDEXED BY turn_snapshots_identity" : "";
  const rows = `SELECT ${PAGE_COLUMNS}
FROM turn_snapshots${turnIndex}
WHERE ${where.join(" AND ")}
ORDER BY created_at_ms DESC, id DESC
LIMIT ${param(filter.limit + 1)}`;
  if (filter.withBlocks === false) return { sql: rows, params };
  // With payloads: keep the rows whose blocks fit the budget (the first one always), counted over
  // the limited rows only (never over the whole conversation).
  const sql = `SELECT * FROM (
  SELECT *, sum(block_count) OVER (ORDER BY created_at_ms DESC, id DESC ROWS UNBOUNDED PRECEDING) AS blocks_through,
    count(*) OVER () AS page_rows
  FROM (${rows})
) WHERE blocks_through - block_count < ${param(MAX_BLOCKS_PER_PAGE)}
ORDER BY created_at_ms DESC, id DESC`;
  return { sql, params };
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

/** The SQL a filter runs, for EXPLAIN QUERY PLAN checks. */
export function snapshotQueries(filter: SnapshotFilter): { page: string; blocks: string; params: unknown[] } {
  const { sql, params } = pageQuery(filter);
  return { page: sql, blocks: blocksQuery(sql), params };
}

function blockOf(id: string, contentHash: string, row: BlockRow | undefined, extra: JsonObject): Block {
  if (!row || row.kind === null) {
    // Only possible for legacy rows whose block went missing before import: say so, don't hide it.
    return { id, kind: "other", role: "", payload: {}, metadata: { "turnstore.missing_block@v1": contentHash }, extra };
  }
  return {
    id,
    kind: row.kind as BlockKind,
    role: row.role ?? "",
    payload: storedObject(row.payload_json ?? "{}"),
    metadata: storedObject(row.block_metadata_json ?? "{}"),
    extra,
  };
}

const extraOf = (text: string | null): JsonObject => (text === null || text === "" ? {} : storedObject(text));

/** A page row's blocks: its path (walked from the tip), or its legacy block_refs_json. */
type NodeRow = BlockRow & { chain: string; parentChain: string };

function blocksOf(row: PageRow, nodes: ReadonlyMap<string, NodeRow>, legacy: ReadonlyMap<string, BlockRow>): Block[] {
  if (row.tip_chain === null) {
    const refs = JSON.parse(row.block_refs_json) as LegacyBlockRef[];
    return refs.map(([blockId, contentHash]) => blockOf(blockId, contentHash, legacy.get(JSON.stringify([blockId, contentHash])), {}));
  }
  const path = walkPath(row.tip_chain, nodes);
  if (path === null) throw new Error(`snapshot ${row.id} of conversation ${JSON.stringify(row.conv_id)} names a block path that is not stored`);
  return path.map((node) => blockOf(node.block_id, node.content_hash, node, extraOf(node.extra_json)));
}

function toTurn(row: PageRow, blocks: Block[]): Turn {
  return {
    id: row.turn_id,
    blocks,
    metadata: storedObject(row.turn_metadata_json),
    data: storedObject(row.turn_data_json),
    extra: extraOf(row.turn_extra_json),
  };
}

export async function listSnapshots(db: D1Handle, filter: SnapshotFilter): Promise<SnapshotPage> {
  const withBlocks = filter.withBlocks ?? true;
  const { page, blocks, params } = snapshotQueries({ ...filter, withBlocks });
  const [pageResult, blockResult] = await db.batch<unknown>([
    db.prepare(page).bind(...params),
    ...(withBlocks ? [db.prepare(blocks).bind(...params)] : []),
  ]);
  const rows = pageResult!.results as PageRow[];
  // Nodes by conversation and chain (a page may span conversations: a session filter).
  const nodesByConv = new Map<string, Map<string, NodeRow>>();
  const legacy = new Map<string, BlockRow>();
  for (const b of (blockResult?.results ?? []) as BlockRow[]) {
    if (b.chain === null) {
      legacy.set(JSON.stringify([b.block_id, b.content_hash]), b);
      continue;
    }
    let nodes = nodesByConv.get(b.conv_id);
    if (!nodes) nodesByConv.set(b.conv_id, (nodes = new Map()));
    nodes.set(b.chain, { ...b, chain: b.chain, parentChain: b.parent_chain ?? "" });
  }
  const cutByBudget = withBlocks && rows.length > 0 && rows.length < (rows[0]!.page_rows ?? 0) && rows.length <= filter.limit;
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
      turn: withBlocks
        ? toTurn(row, blocksOf(row, nodesByConv.get(row.conv_id) ?? new Map(), legacy))
        : { id: row.turn_id, blocks: [], metadata: {}, data: {}, extra: {} },
    })),
    next: (rows.length > filter.limit || cutByBudget) && last ? { createdAtMs: last.created_at_ms, id: last.id } : null,
    rowsRead: rowsRead(blockResult ? [pageResult!, blockResult] : [pageResult!]),
  };
}
