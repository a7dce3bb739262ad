/**
 * The SQL of a move (moves.ts): which tables travel with a conversation and in what order, and the
 * statements its copy is made of — a chunk read from the source in key order, bounded by rows and
 * bytes; the same range read back from the target; the upserts that write a chunk there (blocks with
 * their references counted once); the markers both databases keep while the move runs.
 */
import { getTableConfig, type SQLiteTable } from "drizzle-orm/sqlite-core";
import { blockNodes, blocks, conversations, conversationTombstones, turnBlockMembership, turnSnapshots, turns } from "../db/schema";

/** A table copied with the conversation, keyed (after conv_id) by `key`. */
export interface CopyPhase {
  name: string;
  table: SQLiteTable;
  key: string[];
  /** Blocks the chunk's rows name (path nodes: counted references; membership rows: none). */
  blocks?: "counted" | "named";
}

/**
 * In this order: blocks and nodes first, then snapshots (their insert rolls turns up through the
 * triggers), turns (overwriting the roll-up with the source's row), legacy membership rows (a Go
 * store's foreign keys want their turn and block first), and the conversation row itself.
 */
export const PHASES: CopyPhase[] = [
  { name: "block_nodes", table: blockNodes, key: ["chain"], blocks: "counted" },
  { name: "turn_snapshots", table: turnSnapshots, key: ["created_at_ms", "id"] },
  { name: "turns", table: turns, key: ["session_id", "turn_id"] },
  {
    name: "turn_block_membership",
    table: turnBlockMembership,
    key: ["session_id", "turn_id", "phase", "snapshot_created_at_ms", "ordinal"],
    blocks: "named",
  },
  { name: "conversation_tombstones", table: conversationTombstones, key: [] },
  { name: "conversations", table: conversations, key: [] },
];

export const columnsOf = (table: SQLiteTable) => getTableConfig(table).columns.map((c) => c.name);
export const tableName = (table: SQLiteTable) => getTableConfig(table).name;

/** A block's content, as the digest compares it: ref_count, weight and first_seen_at_ms are the database's own. */
export const BLOCK_CONTENT = ["block_id", "content_hash", "hash_algorithm", "kind", "role", "payload_json", "block_metadata_json"];
export const BLOCK_COLUMNS = columnsOf(blocks).filter((c) => c !== "ref_count");

export type Row = unknown[];

const keyList = (phase: CopyPhase, prefix = "") => phase.key.map((k) => `${prefix}${k}`).join(", ");
const orderOf = (phase: CopyPhase, prefix = "") => (phase.key.length > 0 ? keyList(phase, prefix) : `${prefix}conv_id`);

/** `AND (key) > (?n…)`: the rows after the cursor, with parameters from `first`. */
function afterClause(phase: CopyPhase, after: Row | null, first: number, prefix = ""): string {
  if (after === null || phase.key.length === 0) return "";
  return ` AND (${keyList(phase, prefix)}) > (${phase.key.map((_, i) => `?${first + i}`).join(", ")})`;
}

/**
 * The next chunk of a phase, in key order: at most MOVE_CHUNK_ROWS keys, cut once the stored text
 * passes MOVE_CHUNK_BYTES (at least one row; both in moves.ts). Keys and sizes are chosen first, so a
 * chunk of large rows never holds more than about one budget of text. ?1 conv_id, ?2 bytes, ?3 rows,
 * ?4… the cursor. `rows`: the chunk; `blocks`: the content of the blocks its rows name; `keys`: how
 * many keys were left.
 */
export function chunkSql(phase: CopyPhase, after: Row | null, select: "rows" | "blocks"): string {
  const name = tableName(phase.table);
  const keyColumns = ["conv_id", ...phase.key];
  const size = columnsOf(phase.table)
    .map((c) => `coalesce(length(CAST(${c} AS BLOB)), 0)`)
    .join(" + ");
  const chunk = `WITH k AS (
  SELECT ${keyColumns.join(", ")}, sum(bytes) OVER (ORDER BY ${orderOf(phase)} ROWS UNBOUNDED PRECEDING) - bytes AS before
  FROM (SELECT ${keyColumns.join(", ")}, ${size} AS bytes FROM ${name} WHERE conv_id = ?1${afterClause(phase, after, 4)} ORDER BY ${orderOf(phase)} LIMIT ?3)
), chunk AS (SELECT t.* FROM k JOIN ${name} AS t ON ${keyColumns.map((c) => `t.${c} = k.${c}`).join(" AND ")} WHERE k.before < ?2)`;
  if (select === "blocks") return `${chunk}\n${blocksOf("chunk")}`;
  return `${chunk}\nSELECT chunk.*, (SELECT count(*) FROM k) AS keys_left FROM chunk ORDER BY ${orderOf(phase, "chunk.")}`;
}

/** The content of the blocks named by the rows of `source` (a table or CTE with block_id, content_hash). */
const blocksOf = (source: string) =>
  `SELECT ${BLOCK_COLUMNS.map((c) => `b.${c}`).join(", ")} FROM blocks AS b
WHERE (b.block_id, b.content_hash) IN (SELECT block_id, content_hash FROM ${source}) ORDER BY b.block_id, b.content_hash`;

/** A chunk's rows as the target holds them (its read-back): ?1 conv_id, then the cursor, then the chunk's last key. */
export function rangeSql(phase: CopyPhase, after: Row | null, select: "rows" | "blocks"): string {
  const first = 2 + (after === null ? 0 : phase.key.length);
  const upTo = phase.key.length > 0 ? ` AND (${keyList(phase)}) <= (${phase.key.map((_, i) => `?${first + i}`).join(", ")})` : "";
  const range = `SELECT ${select === "rows" ? columnsOf(phase.table).join(", ") : "block_id, content_hash"} FROM ${tableName(phase.table)} WHERE conv_id = ?1${afterClause(phase, after, 2)}${upTo}`;
  return select === "rows" ? `${range} ORDER BY ${orderOf(phase)}` : blocksOf(`(${range})`);
}

/** Upserts rows (arrays in column order) into a table: the source's row wins, a repeated chunk changes nothing. */
export function upsertSql(table: SQLiteTable, columns: readonly string[], keyColumns: readonly string[]): string {
  const values = columns.map((_, i) => `v.value ->> ${i}`).join(", ");
  const rest = columns.filter((c) => !keyColumns.includes(c));
  const update = rest.length > 0 ? `DO UPDATE SET ${rest.map((c) => `${c} = excluded.${c}`).join(", ")}` : "DO NOTHING";
  return `INSERT INTO ${tableName(table)} (${columns.join(", ")}) SELECT ${values} FROM json_each(?1) AS v WHERE true
ON CONFLICT (${keyColumns.join(", ")}) ${update}`;
}

/** Blocks arrive with no reference of their own (a block the target holds keeps its row). */
export const INSERT_BLOCKS = `INSERT INTO blocks (${BLOCK_COLUMNS.join(", ")}, ref_count) SELECT ${BLOCK_COLUMNS.map((_, i) => `v.value ->> ${i}`).join(", ")}, 0
FROM json_each(?1) AS v WHERE true ON CONFLICT (block_id, content_hash) DO NOTHING`;

/**
 * One reference more per node of the chunk the target does not have yet — before the nodes go in,
 * in the same batch — so a chunk copied twice counts once. ?1: the nodes, ?2: the conversation.
 */
export function countReferencesSql(nodeColumns: readonly string[]): string {
  const chain = nodeColumns.indexOf("chain");
  const blockId = nodeColumns.indexOf("block_id");
  const hash = nodeColumns.indexOf("content_hash");
  return `UPDATE blocks SET ref_count = coalesce(ref_count, 0) + c.n
FROM (SELECT v.value ->> ${blockId} AS block_id, v.value ->> ${hash} AS content_hash, count(*) AS n FROM json_each(?1) AS v
      WHERE NOT EXISTS (SELECT 1 FROM block_nodes AS b WHERE b.conv_id = ?2 AND b.chain = v.value ->> ${chain})
      GROUP BY 1, 2) AS c
WHERE blocks.block_id = c.block_id AND blocks.content_hash = c.content_hash`;
}

/** A database's marker of a move under way (conversation_moves): leaving, arriving or moved. */
export interface MoveMarker {
  state: string;
  other_binding: string;
  cursor_json: string;
  digest: string;
}

/**
 * Marks a database's side of a move (?1 conv_id, ?2 state, ?3 the other binding, ?4 start time); a
 * marker that changes state starts its cursor and digest afresh, one that keeps it keeps them.
 */
export const MARK = `INSERT INTO conversation_moves (conv_id, state, other_binding, started_at_ms) VALUES (?1, ?2, ?3, ?4)
ON CONFLICT (conv_id) DO UPDATE SET state = excluded.state, other_binding = excluded.other_binding,
  cursor_json = CASE WHEN state = excluded.state THEN cursor_json ELSE '' END,
  digest = CASE WHEN state = excluded.state THEN digest ELSE '' END`;

/** Step 3's statement: the conversation's row count in every copied table (one column per phase). */
export function rowCountsSql(): string {
  return `SELECT ${PHASES.map((p) => `(SELECT count(*) FROM ${tableName(p.table)} WHERE conv_id = ?1) AS ${p.name}`).join(", ")}`;
}
