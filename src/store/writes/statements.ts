/**
 * The SQL of a snapshot write, the rows it reads from its one JSON parameter (json_each, so a
 * request's statement count is constant whatever it carries), and how D1 answers when the write
 * refuses itself. Used by both ways of writing (one-round-trip.ts; read-then-write.ts and its reads,
 * plan-reads.ts) and by the conversion of legacy snapshots (store/conversion.ts).
 */
import type { PathNode } from "../../turn/block-path";
import { projectSnapshot, type BlockPrefix, type PreparedSnapshot, type StoredBlock } from "../../turn/snapshot";
import { d1ErrorText, jsonParameterChunks, type D1Handle } from "../d1";

// ---- reads -----------------------------------------------------------------------------------------

/** The nodes of the request that the conversations already have: their depth (to check prefixes) and path weight. */
export const FIND_NODES = `
SELECT conv_id, chain, depth, path_weight FROM block_nodes
WHERE (conv_id, chain) IN (SELECT value ->> 0, value ->> 1 FROM json_each(?1))`;

/**
 * What a stored block's content weighs in a read (src/turn/read-weight.ts). Rows older than 0012 have
 * no weight: three characters per character of their stored JSON — YAML's indentation and escapes,
 * and the JSON beside it — plus the keys.
 */
export const STORED_BLOCK_WEIGHT = (b: string) =>
  `coalesce(${b}.weight, 3 * (length(${b}.payload_json) + length(${b}.block_metadata_json)) + length(${b}.kind) + length(${b}.role) + 64)`;

/** A stored node's own weight: its block's content, its id and its extra keys (read-weight.ts). */
const STORED_NODE_WEIGHT = (n: string, b: string) =>
  `${STORED_BLOCK_WEIGHT(b)} + 2 * length(${n}.block_id) + 22 + 3 * length(${n}.extra_json)`;

/**
 * Blocks a conversation's paths reference, among the referenced blocks a request places on new
 * nodes, with what their content weighs.
 */
export const FIND_CONVERSATION_BLOCKS = `
SELECT DISTINCT n.conv_id, n.block_id, n.content_hash, ${STORED_BLOCK_WEIGHT("b")} AS weight
FROM block_nodes AS n JOIN blocks AS b ON b.block_id = n.block_id AND b.content_hash = n.content_hash
WHERE n.conv_id IN (SELECT DISTINCT value ->> 0 FROM json_each(?1))
  AND (n.conv_id, n.block_id, n.content_hash) IN (SELECT value ->> 0, value ->> 1, value ->> 2 FROM json_each(?1))`;

/**
 * The weight of a path whose tip has none (nodes older than 0012, and those the conversion added):
 * its nodes walked from the tip, ?1 = [[conv_id, chain], …].
 */
export const WALK_PATH_WEIGHTS = `
WITH RECURSIVE tip(conv_id, chain) AS (SELECT value ->> 0, value ->> 1 FROM json_each(?1)),
walk(conv_id, tip_chain, chain) AS (
  SELECT conv_id, chain, chain FROM tip
  UNION ALL
  SELECT walk.conv_id, walk.tip_chain, n.parent_chain FROM walk
  JOIN block_nodes AS n ON n.conv_id = walk.conv_id AND n.chain = walk.chain
  WHERE n.parent_chain <> ''
)
SELECT walk.conv_id, walk.tip_chain AS chain, sum(${STORED_NODE_WEIGHT("n", "b")}) AS path_weight
FROM walk
JOIN block_nodes AS n ON n.conv_id = walk.conv_id AND n.chain = walk.chain
LEFT JOIN blocks AS b ON b.block_id = n.block_id AND b.content_hash = n.content_hash
GROUP BY walk.conv_id, walk.tip_chain`;

/**
 * Conversations of the request whose deletion is under way (no write may recreate them); for a write
 * with a conversation token minted at ?2, those deleted since (CONTRACT §6.3: such a token stops
 * working); and those moving out of or into this database, or moved out (§6.4: written where they
 * live) — listed first: a move's purge of the source is a deletion too, and the move is the answer.
 */
export const FIND_DELETIONS = `
SELECT conv_id AS deleting, state AS why, other_binding FROM conversation_moves WHERE conv_id IN (SELECT value FROM json_each(?1))
UNION ALL
SELECT conv_id, 'deleting', NULL FROM conversation_deletions WHERE conv_id IN (SELECT value FROM json_each(?1))
UNION ALL
SELECT conv_id, 'deleted', NULL FROM conversation_tombstones
WHERE ?2 IS NOT NULL AND deleted_at_ms >= ?2 AND conv_id IN (SELECT value FROM json_each(?1))`;

export const SELECT_EXISTING = `
SELECT conv_id, session_id, turn_id, phase, created_at_ms, runtime_key, inference_id,
  turn_metadata_json, turn_data_json, turn_extra_json, tip_chain, block_count, block_refs_json
FROM turn_snapshots
WHERE (conv_id, session_id, turn_id, phase, created_at_ms) IN (
  SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4 FROM json_each(?1))`;

// ---- writes ----------------------------------------------------------------------------------------

/**
 * The snapshot rows, last in the batch. Inserting one also rolls its turn up (the trigger
 * turn_snapshots_roll_up_turn, drizzle/0010) and moves the turn's creation time back for an older
 * snapshot (turn_snapshots_lower_turn_created, drizzle/0009); the conversations' events go before
 * it, so that a new turn is still "not there" when they count it. A duplicate identity fails the
 * insert, and with it the whole batch.
 *
 * The guard (see isGuardRefusal): a row gets no id, which fails the batch, when its conversation is
 * being deleted; when its prefix (prefix_chain, prefix_depth) — an explicit one, a remembered tip, or
 * the deepest node the plan found stored — names no node of its conversation at that depth, so a
 * write never outlives a deletion that removed what it builds on; for a conversation token minted at
 * token_iat, when the conversation was deleted since; or when the conversation is moving out of this
 * database, or moved out (CONTRACT §6.4). Nodes of this batch count: they go before.
 *
 * id: one more than the highest id of the snapshot's (conv_id, created_at_ms) — a primary-key seek —
 * plus `offset`, the request's earlier snapshots of that same (conv_id, created_at_ms): the insert
 * reads the table before it writes, so snapshots of one statement cannot see each other.
 */
export const INSERT_SNAPSHOTS = `
INSERT INTO turn_snapshots (id, conv_id, session_id, turn_id, phase, created_at_ms, runtime_key, inference_id,
  turn_metadata_json, turn_data_json, turn_extra_json, tip_chain, block_count, weight)
SELECT CASE
    WHEN EXISTS (SELECT 1 FROM conversation_deletions AS d WHERE d.conv_id = v.value ->> 'conv_id')
      OR (v.value ->> 'prefix_chain' IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM block_nodes AS n
        WHERE n.conv_id = v.value ->> 'conv_id' AND n.chain = v.value ->> 'prefix_chain' AND n.depth = v.value ->> 'prefix_depth'))
      OR (v.value ->> 'token_iat' IS NOT NULL AND EXISTS (
        SELECT 1 FROM conversation_tombstones AS t
        WHERE t.conv_id = v.value ->> 'conv_id' AND t.deleted_at_ms >= v.value ->> 'token_iat'))
      OR EXISTS (SELECT 1 FROM conversation_moves AS m WHERE m.conv_id = v.value ->> 'conv_id')
    THEN NULL
    ELSE coalesce((SELECT max(s.id) FROM turn_snapshots AS s
      WHERE s.conv_id = v.value ->> 'conv_id' AND s.created_at_ms = v.value ->> 'created_at_ms'), 0) + 1 + (v.value ->> 'offset') END,
  v.value ->> 'conv_id', v.value ->> 'session_id', v.value ->> 'turn_id', v.value ->> 'phase', v.value ->> 'created_at_ms',
  v.value ->> 'runtime_key', v.value ->> 'inference_id', v.value ->> 'metadata_json', v.value ->> 'data_json', v.value ->> 'extra_json',
  v.value ->> 'tip_chain', v.value ->> 'block_count', v.value ->> 'weight'
FROM json_each(?1) AS v`;

/** Content of blocks placed on new nodes: a new row, or one more reference to a stored one. */
export const UPSERT_BLOCKS = `
INSERT INTO blocks (block_id, content_hash, hash_algorithm, kind, role, payload_json, block_metadata_json, first_seen_at_ms, ref_count, weight)
SELECT value ->> 'block_id', value ->> 'content_hash', value ->> 'hash_algorithm', value ->> 'kind', value ->> 'role',
  value ->> 'payload_json', value ->> 'metadata_json', value ->> 'first_seen_at_ms', value ->> 'references', value ->> 'weight'
FROM json_each(?1) WHERE true
ON CONFLICT (block_id, content_hash) DO UPDATE SET ref_count = coalesce(ref_count, 0) + excluded.ref_count`;

/** Referenced blocks (content not in the request) placed on new nodes: one more reference each. */
export const COUNT_REFERENCES = `
UPDATE blocks SET ref_count = coalesce(ref_count, 0) + r.value ->> 2
FROM json_each(?1) AS r
WHERE blocks.block_id = r.value ->> 0 AND blocks.content_hash = r.value ->> 1`;

/**
 * Fails the batch (see isGuardRefusal) when a referenced block's row is gone — a deletion that
 * completed between the plan's read and this write: the node must not point at nothing.
 */
export const GUARD_REFERENCES = `
INSERT INTO write_guards (refused)
SELECT NULL FROM json_each(?1) AS r
WHERE NOT EXISTS (SELECT 1 FROM blocks AS b WHERE b.block_id = r.value ->> 0 AND b.content_hash = r.value ->> 1)`;

export const INSERT_NODES = `
INSERT INTO block_nodes (conv_id, chain, parent_chain, depth, block_id, content_hash, extra_json, path_weight)
SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6, value ->> 7
FROM json_each(?1)`;

/**
 * The one-round-trip write: block contents on nodes the conversation does not have yet — a new row,
 * or one more reference to a stored one — counted before INSERT_NEW_NODES adds those nodes. ?1: the
 * request's distinct blocks, each with `nodes`, the [conv_id, chain] of the request's distinct nodes
 * that hold it.
 */
export const UPSERT_BLOCKS_ON_NEW_NODES = `
INSERT INTO blocks (block_id, content_hash, hash_algorithm, kind, role, payload_json, block_metadata_json, first_seen_at_ms, ref_count, weight)
SELECT block_id, content_hash, hash_algorithm, kind, role, payload_json, metadata_json, first_seen_at_ms, refs, weight FROM (
  SELECT b.value ->> 'block_id' AS block_id, b.value ->> 'content_hash' AS content_hash, b.value ->> 'hash_algorithm' AS hash_algorithm,
    b.value ->> 'kind' AS kind, b.value ->> 'role' AS role, b.value ->> 'payload_json' AS payload_json,
    b.value ->> 'metadata_json' AS metadata_json, b.value ->> 'first_seen_at_ms' AS first_seen_at_ms, b.value ->> 'weight' AS weight,
    (SELECT count(*) FROM json_each(b.value -> 'nodes') AS n
     WHERE NOT EXISTS (SELECT 1 FROM block_nodes AS x WHERE x.conv_id = n.value ->> 0 AND x.chain = n.value ->> 1)) AS refs
  FROM json_each(?1) AS b
)
WHERE refs > 0
ON CONFLICT (block_id, content_hash) DO UPDATE SET ref_count = coalesce(ref_count, 0) + excluded.ref_count`;

export const INSERT_NEW_NODES = `
INSERT INTO block_nodes (conv_id, chain, parent_chain, depth, block_id, content_hash, extra_json, path_weight)
SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6, value ->> 7
FROM json_each(?1) WHERE true
ON CONFLICT (conv_id, chain) DO NOTHING`;

/**
 * The pointer rule: the runtime of the newest event (by event time; ties go to the later arrival)
 * wins, and an older event never moves it back. Used by snapshot writes, runtime switches and
 * imported evidence alike. An event without a session_id applies only to an existing conversation
 * (keeping its session); no event recreates a conversation whose deletion is under way, nor one
 * deleted since a conversation token was minted (token_iat), nor one moving or moved out.
 */
export const UPSERT_CONVERSATION_EVENTS = `
INSERT INTO conversations (conv_id, session_id, current_runtime_key, current_runtime_at_ms, created_at_ms,
  last_activity_ms, turn_count, snapshot_count)
SELECT e.value ->> 'conv_id', coalesce(e.value ->> 'session_id', c.session_id), e.value ->> 'runtime_key',
  CASE WHEN e.value ->> 'runtime_key' <> '' THEN e.value ->> 'at_ms' ELSE 0 END,
  e.value ->> 'at_ms', e.value ->> 'at_ms',
  CASE WHEN e.value ->> 'first_of_turn' AND NOT EXISTS (
    SELECT 1 FROM turns AS t
    WHERE t.conv_id = e.value ->> 'conv_id' AND t.session_id = e.value ->> 'session_id' AND t.turn_id = e.value ->> 'turn_id'
  ) THEN 1 ELSE 0 END,
  e.value ->> 'snapshots'
FROM json_each(?1) AS e LEFT JOIN conversations AS c ON c.conv_id = e.value ->> 'conv_id'
WHERE (e.value ->> 'session_id' IS NOT NULL OR c.conv_id IS NOT NULL)
  AND NOT EXISTS (SELECT 1 FROM conversation_deletions AS d WHERE d.conv_id = e.value ->> 'conv_id')
  AND (e.value ->> 'token_iat' IS NULL OR NOT EXISTS (
    SELECT 1 FROM conversation_tombstones AS t WHERE t.conv_id = e.value ->> 'conv_id' AND t.deleted_at_ms >= e.value ->> 'token_iat'))
  AND NOT EXISTS (SELECT 1 FROM conversation_moves AS m WHERE m.conv_id = e.value ->> 'conv_id')
ON CONFLICT (conv_id) DO UPDATE SET
  session_id = CASE WHEN excluded.last_activity_ms >= last_activity_ms THEN excluded.session_id ELSE session_id END,
  current_runtime_key = CASE
    WHEN excluded.current_runtime_key <> '' AND excluded.current_runtime_at_ms >= current_runtime_at_ms
    THEN excluded.current_runtime_key ELSE current_runtime_key END,
  current_runtime_at_ms = CASE
    WHEN excluded.current_runtime_key <> '' AND excluded.current_runtime_at_ms >= current_runtime_at_ms
    THEN excluded.current_runtime_at_ms ELSE current_runtime_at_ms END,
  created_at_ms = min(created_at_ms, excluded.created_at_ms),
  last_activity_ms = max(last_activity_ms, excluded.last_activity_ms),
  turn_count = turn_count + excluded.turn_count,
  snapshot_count = snapshot_count + excluded.snapshot_count`;

/**
 * Every statement a snapshot write sends, by name — for tools that tell apart what a write sent
 * (the bench counts rows and statements per write by them).
 */
export const SNAPSHOT_WRITE_STATEMENTS = {
  // Read, then write.
  FIND_NODES,
  SELECT_EXISTING,
  FIND_DELETIONS,
  FIND_CONVERSATION_BLOCKS,
  WALK_PATH_WEIGHTS,
  INSERT_SNAPSHOTS,
  UPSERT_BLOCKS,
  COUNT_REFERENCES,
  GUARD_REFERENCES,
  INSERT_NODES,
  // The one-round-trip write (INSERT_SNAPSHOTS too).
  UPSERT_BLOCKS_ON_NEW_NODES,
  INSERT_NEW_NODES,
  // Both.
  UPSERT_CONVERSATION_EVENTS,
} as const;

// ---- rows ------------------------------------------------------------------------------------------

/** What a write knows of its caller. */
export interface WriteOptions {
  /** The issue time of the conversation token it came with, if any (its tombstone check). */
  tokenIssuedAtMs?: number;
  /**
   * The caller's own statements that belong in the write's batch (OTLP ingestion's trace memory,
   * src/otlp/recording.ts: one round trip instead of two) — run last in it, so they commit or fail
   * with the snapshots; when nothing is written (every snapshot unchanged), in a batch of their own.
   */
  alongside?: readonly D1PreparedStatement[];
}

/** A path node to write, with the weight of its path through it. */
export type NodeToWrite = PathNode & { convId: string; pathWeight: number };

/**
 * Snapshot rows. `offset`: the earlier snapshots of `all` with its (conv_id, created_at_ms) — see
 * INSERT_SNAPSHOTS; `prefix_chain` / `prefix_depth`: the node its guard checks (guardOf).
 */
export function snapshotRowsOf(
  all: readonly PreparedSnapshot[],
  guardOf: (s: PreparedSnapshot, index: number) => BlockPrefix | null,
  weightOf: (s: PreparedSnapshot, index: number) => number,
  options: WriteOptions,
) {
  const seen = new Map<string, number>();
  return all.map((s, i) => {
    const key = JSON.stringify([s.convId, s.createdAtMs]);
    const offset = seen.get(key) ?? 0;
    seen.set(key, offset + 1);
    const guard = guardOf(s, i);
    return {
      ...projectSnapshot(s),
      metadata_json: s.metadataJson,
      data_json: s.dataJson,
      extra_json: s.extraJson,
      tip_chain: s.tipChain,
      block_count: s.blockCount,
      weight: weightOf(s, i),
      offset,
      prefix_chain: guard?.chain ?? null,
      prefix_depth: guard?.blocks ?? null,
      token_iat: options.tokenIssuedAtMs ?? null,
    };
  });
}

export const blockRowOf = (b: StoredBlock, firstSeenAtMs: number) => ({
  block_id: b.id,
  content_hash: b.contentHash,
  hash_algorithm: b.hashAlgorithm,
  kind: b.kind,
  role: b.role,
  payload_json: b.payloadJson,
  metadata_json: b.metadataJson,
  first_seen_at_ms: firstSeenAtMs,
  weight: b.contentWeight,
});

export const nodeRowOf = (n: NodeToWrite) => [
  n.convId,
  n.chain,
  n.parentChain,
  n.depth,
  n.blockId,
  n.contentHash,
  n.extraJson,
  n.pathWeight,
];

/** Pointer events (UPSERT_CONVERSATION_EVENTS), the first snapshot of each turn in the request marked. */
export function eventRowsOf(snapshots: readonly PreparedSnapshot[], options: WriteOptions) {
  const seenTurns = new Set<string>();
  return snapshots.map((s) => {
    const turnKey = JSON.stringify([s.convId, s.sessionId, s.turnId]);
    const firstOfTurn = !seenTurns.has(turnKey);
    seenTurns.add(turnKey);
    return {
      conv_id: s.convId,
      session_id: s.sessionId,
      turn_id: s.turnId,
      at_ms: s.createdAtMs,
      runtime_key: s.runtimeKey,
      first_of_turn: firstOfTurn ? 1 : 0,
      snapshots: 1,
      token_iat: options.tokenIssuedAtMs ?? null,
    };
  });
}

/** One statement per JSON-parameter chunk of `rows`. */
export const statementsFor = (db: D1Handle, sql: string, rows: readonly unknown[]) =>
  jsonParameterChunks(rows).map((chunk) => db.prepare(sql).bind(chunk));

// ---- how D1 answers a refusal --------------------------------------------------------------------

/**
 * What made a write batch fail on purpose, or null for anything else. D1 reports a failure by its
 * message only (no error code beyond SQLite's text); SQLite's constraint messages name the table and
 * column, which is the stable part — each guard refuses through a column of its own:
 *  - "guard": INSERT_SNAPSHOTS gave a row no id (turn_snapshots.id), or GUARD_REFERENCES inserted
 *    NULL into write_guards.refused;
 *  - "duplicate": a snapshot identity (a replay or a conflict) is stored already;
 *  - "concurrent": a path node the plan meant to add was added by another writer in between.
 */
export type Refusal = "guard" | "duplicate" | "concurrent";

const REFUSALS: ReadonlyArray<[Refusal, RegExp]> = [
  ["guard", /NOT NULL constraint failed: (turn_snapshots\.id|write_guards\.refused)/],
  ["duplicate", /UNIQUE constraint failed: turn_snapshots\./],
  ["concurrent", /UNIQUE constraint failed: block_nodes\./],
];

export function refusalOf(error: unknown): Refusal | null {
  const text = d1ErrorText(error);
  return REFUSALS.find(([, pattern]) => pattern.test(text))?.[0] ?? null;
}
