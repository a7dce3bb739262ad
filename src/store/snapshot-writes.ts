/**
 * Saving snapshots (CONTRACT §4, §5.4), with a constant number of statements per request however
 * many items and blocks it carries — every statement reads its rows from one JSON parameter through
 * json_each.
 *
 * A snapshot costs its new blocks plus a constant, whatever history it repeats: the store writes only
 * the path nodes (src/turn/block-path.ts) the conversation does not have, and block contents (or one
 * more reference to stored content) for those nodes only.
 *
 * Two ways, same result:
 *  - writeAtOnce, for requests whose blocks are all in the request: ONE batch that decides inside D1
 *    which nodes exist, and fails as a whole (a unique key, the snapshot insert's guard) on anything it cannot write
 *    as it is — a stored identity, an unknown prefix, a conversation being deleted;
 *  - otherwise, and after such a failure: a read batch (nodes and identities the request repeats,
 *    deletions, referenced blocks) that answers replays (200), conflicts (409) and unknown references
 *    (422) before anything is written, then a write batch of what is new. A concurrent writer that
 *    stores one of the same nodes or identities in between, or a deletion that begins in between,
 *    fails that write as a whole; it is then planned again.
 */
import type { PathNode } from "../turn/block-path";
import {
  identityKey,
  projectSnapshot,
  snapshotFingerprint,
  type BlockPrefix,
  type LegacyBlockRef,
  type PreparedSnapshot,
  type SnapshotIdentity,
} from "../turn/snapshot";
import { pathNodes } from "../turn/block-path";
import { MAX_NEW_BLOCK_ROWS_PER_REQUEST } from "../turn/limits";
import { storedObject } from "../turn/turn";
import { d1ErrorText, jsonParameterChunks, rowsRead, rowsWritten, type D1Handle } from "./d1";
import { StoreError } from "./errors";
import { deepestKnownTip, forgetTip, rememberTip } from "./known-paths";
import type { Columns } from "./rows";
import type { turnSnapshots } from "../db/schema";

/** The nodes of the request that the conversations already have (their depth, to check prefixes). */
const FIND_NODES = `
SELECT conv_id, chain, depth FROM block_nodes
WHERE (conv_id, chain) IN (SELECT value ->> 0, value ->> 1 FROM json_each(?1))`;

/** Blocks a conversation's paths reference, among the referenced blocks a request places on new nodes. */
const FIND_CONVERSATION_BLOCKS = `
SELECT DISTINCT conv_id, block_id, content_hash FROM block_nodes
WHERE conv_id IN (SELECT DISTINCT value ->> 0 FROM json_each(?1))
  AND (conv_id, block_id, content_hash) IN (SELECT value ->> 0, value ->> 1, value ->> 2 FROM json_each(?1))`;

/** Conversations of the request whose deletion is under way: no write may recreate them. */
const FIND_DELETIONS = `
SELECT conv_id AS deleting FROM conversation_deletions WHERE conv_id IN (SELECT value FROM json_each(?1))`;

const SELECT_EXISTING = `
SELECT conv_id, session_id, turn_id, phase, created_at_ms, runtime_key, inference_id,
  turn_metadata_json, turn_data_json, turn_extra_json, tip_chain, block_count, block_refs_json
FROM turn_snapshots
WHERE (conv_id, session_id, turn_id, phase, created_at_ms) IN (
  SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4 FROM json_each(?1))`;

/**
 * The snapshot rows, last in the batch. Inserting one also rolls its turn up (the trigger
 * turn_snapshots_roll_up_turn, drizzle/0010) and moves the turn's creation time back for an older
 * snapshot (turn_snapshots_lower_turn_created, drizzle/0009); the conversations' events go before
 * it, so that a new turn is still "not there" when they count it. A duplicate identity fails the
 * insert, and with it the whole batch.
 *
 * The guard: a row gets no id — and the batch fails on "NOT NULL constraint failed:
 * turn_snapshots.id" — when its conversation is being deleted, or when its prefix
 * (prefix_chain, prefix_depth) names no node of its conversation at that depth. Nodes of this batch
 * count: they are inserted before.
 *
 * id: one more than the highest id of the snapshot's (conv_id, created_at_ms) — a primary-key seek —
 * plus `offset`, the request's earlier snapshots of that same (conv_id, created_at_ms): the insert
 * reads the table before it writes, so snapshots of one statement cannot see each other.
 */
const INSERT_SNAPSHOTS = `
INSERT INTO turn_snapshots (id, conv_id, session_id, turn_id, phase, created_at_ms, runtime_key, inference_id,
  turn_metadata_json, turn_data_json, turn_extra_json, tip_chain, block_count)
SELECT CASE
    WHEN EXISTS (SELECT 1 FROM conversation_deletions AS d WHERE d.conv_id = v.value ->> 'conv_id')
      OR (v.value ->> 'prefix_chain' IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM block_nodes AS n
        WHERE n.conv_id = v.value ->> 'conv_id' AND n.chain = v.value ->> 'prefix_chain' AND n.depth = v.value ->> 'prefix_depth'))
    THEN NULL
    ELSE coalesce((SELECT max(s.id) FROM turn_snapshots AS s
      WHERE s.conv_id = v.value ->> 'conv_id' AND s.created_at_ms = v.value ->> 'created_at_ms'), 0) + 1 + (v.value ->> 'offset') END,
  v.value ->> 'conv_id', v.value ->> 'session_id', v.value ->> 'turn_id', v.value ->> 'phase', v.value ->> 'created_at_ms',
  v.value ->> 'runtime_key', v.value ->> 'inference_id', v.value ->> 'metadata_json', v.value ->> 'data_json', v.value ->> 'extra_json',
  v.value ->> 'tip_chain', v.value ->> 'block_count'
FROM json_each(?1) AS v`;

/** Content of blocks placed on new nodes: a new row, or one more reference to a stored one. */
const UPSERT_BLOCKS = `
INSERT INTO blocks (block_id, content_hash, hash_algorithm, kind, role, payload_json, block_metadata_json, first_seen_at_ms, ref_count)
SELECT value ->> 'block_id', value ->> 'content_hash', value ->> 'hash_algorithm', value ->> 'kind', value ->> 'role',
  value ->> 'payload_json', value ->> 'metadata_json', value ->> 'first_seen_at_ms', value ->> 'references'
FROM json_each(?1) WHERE true
ON CONFLICT (block_id, content_hash) DO UPDATE SET ref_count = coalesce(ref_count, 0) + excluded.ref_count`;

/** Referenced blocks (content not in the request) placed on new nodes: one more reference each. */
const COUNT_REFERENCES = `
UPDATE blocks SET ref_count = coalesce(ref_count, 0) + r.value ->> 2
FROM json_each(?1) AS r
WHERE blocks.block_id = r.value ->> 0 AND blocks.content_hash = r.value ->> 1`;

const INSERT_NODES = `
INSERT INTO block_nodes (conv_id, chain, parent_chain, depth, block_id, content_hash, extra_json)
SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6
FROM json_each(?1)`;

// ---- The one-round-trip write (writeAtOnce): what the conversation has is decided inside the batch.

/**
 * Block contents on nodes the conversation does not have yet — a new row, or one more reference to a
 * stored one — counted before INSERT_NEW_NODES adds those nodes. ?1: the request's distinct blocks,
 * each with `nodes`, the [conv_id, chain] of the request's distinct nodes that hold it.
 */
const UPSERT_BLOCKS_ON_NEW_NODES = `
INSERT INTO blocks (block_id, content_hash, hash_algorithm, kind, role, payload_json, block_metadata_json, first_seen_at_ms, ref_count)
SELECT block_id, content_hash, hash_algorithm, kind, role, payload_json, metadata_json, first_seen_at_ms, refs FROM (
  SELECT b.value ->> 'block_id' AS block_id, b.value ->> 'content_hash' AS content_hash, b.value ->> 'hash_algorithm' AS hash_algorithm,
    b.value ->> 'kind' AS kind, b.value ->> 'role' AS role, b.value ->> 'payload_json' AS payload_json,
    b.value ->> 'metadata_json' AS metadata_json, b.value ->> 'first_seen_at_ms' AS first_seen_at_ms,
    (SELECT count(*) FROM json_each(b.value -> 'nodes') AS n
     WHERE NOT EXISTS (SELECT 1 FROM block_nodes AS x WHERE x.conv_id = n.value ->> 0 AND x.chain = n.value ->> 1)) AS refs
  FROM json_each(?1) AS b
)
WHERE refs > 0
ON CONFLICT (block_id, content_hash) DO UPDATE SET ref_count = coalesce(ref_count, 0) + excluded.ref_count`;

const INSERT_NEW_NODES = `
INSERT INTO block_nodes (conv_id, chain, parent_chain, depth, block_id, content_hash, extra_json)
SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6
FROM json_each(?1) WHERE true
ON CONFLICT (conv_id, chain) DO NOTHING`;

/**
 * The pointer rule: the runtime of the newest event (by event time; ties go to the later arrival)
 * wins, and an older event never moves it back. Used by snapshot writes, runtime switches and
 * imported evidence alike. An event without a session_id applies only to an existing conversation
 * (keeping its session); no event recreates a conversation whose deletion is under way.
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
 * Every statement this module sends, by name — for tools that tell apart what a write sent
 * (scripts/bench counts rows and statements per write by them).
 */
export const SNAPSHOT_WRITE_STATEMENTS = {
  // Read, then write.
  FIND_NODES,
  SELECT_EXISTING,
  FIND_DELETIONS,
  FIND_CONVERSATION_BLOCKS,
  INSERT_SNAPSHOTS,
  UPSERT_BLOCKS,
  COUNT_REFERENCES,
  INSERT_NODES,
  // The one-round-trip write (INSERT_SNAPSHOTS too).
  UPSERT_BLOCKS_ON_NEW_NODES,
  INSERT_NEW_NODES,
  // Both.
  UPSERT_CONVERSATION_EVENTS,
} as const;

export type SaveOutcome = "created" | "unchanged";

export interface SaveResult {
  /** One per input snapshot, in order. */
  outcomes: SaveOutcome[];
  rowsWritten: number;
  rowsRead: number;
  /** Path nodes the request added: its new blocks. */
  nodesAdded: number;
  /** Results of the caller's `alongside` statements, in order (saveSnapshots). */
  alongside?: D1Result[];
}

/** What a replay must match (snapshotFingerprint) for a prepared snapshot; the import tool dedupes its source with it. */
export function fingerprintOf(s: PreparedSnapshot): string {
  return snapshotFingerprint({
    runtimeKey: s.runtimeKey,
    inferenceId: s.inferenceId,
    metadata: s.turn.metadata,
    data: s.turn.data,
    extra: s.turn.extra,
    tipChain: s.tipChain,
    blockCount: s.blockCount,
  });
}

function describe(s: SnapshotIdentity): string {
  return `(conv_id, session_id, turn_id, phase, created_at_ms) = ${identityKey(s)}`;
}

const where = (s: PreparedSnapshot) => (s.label ? `${s.label}: ` : "");
const nodeKey = (convId: string, chain: string) => `${convId}\u0000${chain}`;
const blockKey = (blockId: string, contentHash: string) => `${blockId}\u0000${contentHash}`;

/** A stored snapshot as SELECT_EXISTING returns it. */
type StoredSnapshotRow = Omit<Columns<typeof turnSnapshots.$inferSelect>, "id">;

/** A stored row's fingerprint; a legacy row (blocks still in block_refs_json) is named by the same chain rule. */
async function storedFingerprint(row: StoredSnapshotRow): Promise<string> {
  let tipChain = row.tip_chain;
  let blockCount = row.block_count;
  if (tipChain === null) {
    const refs = JSON.parse(row.block_refs_json) as LegacyBlockRef[];
    tipChain = (await pathNodes(refs.map(([blockId, contentHash]) => ({ blockId, contentHash, extraJson: "" })))).at(-1)?.chain ?? "";
    blockCount = refs.length;
  }
  return snapshotFingerprint({
    runtimeKey: row.runtime_key,
    inferenceId: row.inference_id,
    metadata: storedObject(row.turn_metadata_json),
    data: storedObject(row.turn_data_json),
    extra: row.turn_extra_json === "" ? {} : storedObject(row.turn_extra_json),
    tipChain,
    blockCount,
  });
}

/** What one attempt writes: the new snapshots, nodes and block references. */
interface WritePlan {
  snapshots: PreparedSnapshot[];
  nodes: Array<PathNode & { convId: string }>;
  /** Full blocks on new nodes, with how many new nodes reference each. */
  contents: Array<{ block: PreparedSnapshot["blocks"][number]; firstSeenAtMs: number; references: number }>;
  /** Referenced blocks (no content in the request) on new nodes: [block_id, content_hash, references]. */
  references: Array<[string, string, number]>;
  rowsRead: number;
}

/**
 * The read half: replays and conflicts, the nodes the conversations have, prefixes and references
 * resolved. Throws StoreError (409 conflict, 422 unknown reference) before anything is written.
 */
async function plan(
  db: D1Handle,
  snapshots: readonly PreparedSnapshot[],
  fingerprints: readonly string[],
  outcomes: SaveOutcome[],
): Promise<WritePlan> {
  const wanted = new Map<string, [string, string]>();
  for (const s of snapshots) {
    if (s.prefix) wanted.set(nodeKey(s.convId, s.prefix.chain), [s.convId, s.prefix.chain]);
    for (const n of s.nodes) wanted.set(nodeKey(s.convId, n.chain), [s.convId, n.chain]);
  }
  const identities = snapshots.map((s) => [s.convId, s.sessionId, s.turnId, s.phase, s.createdAtMs]);
  const statements = [
    ...jsonParameterChunks([...wanted.values()]).map((chunk) => db.prepare(FIND_NODES).bind(chunk)),
    ...jsonParameterChunks(identities).map((chunk) => db.prepare(SELECT_EXISTING).bind(chunk)),
    ...jsonParameterChunks([...new Set(snapshots.map((s) => s.convId))]).map((chunk) => db.prepare(FIND_DELETIONS).bind(chunk)),
  ];
  const results = await db.batch<Record<string, unknown>>(statements);
  let read = rowsRead(results);
  const existingDepth = new Map<string, number>();
  const stored = new Map<string, string>();
  for (const result of results) {
    for (const row of result.results) {
      if ("deleting" in row) {
        const s = snapshots.find((x) => x.convId === row.deleting)!;
        throw new StoreError(
          "CONVERSATION_DELETING",
          `${where(s)}conversation ${JSON.stringify(s.convId)} is being deleted; write to it again once its deletion has finished`,
        );
      }
      if ("chain" in row) existingDepth.set(nodeKey(row.conv_id as string, row.chain as string), row.depth as number);
      else {
        const r = row as unknown as StoredSnapshotRow;
        stored.set(
          identityKey({ convId: r.conv_id, sessionId: r.session_id, turnId: r.turn_id, phase: r.phase, createdAtMs: r.created_at_ms }),
          await storedFingerprint(r),
        );
      }
    }
  }

  // Replays and conflicts.
  const fresh: PreparedSnapshot[] = [];
  snapshots.forEach((s, i) => {
    const existing = stored.get(identityKey(s));
    if (existing === undefined) return fresh.push(s);
    if (existing !== fingerprints[i])
      throw new StoreError("SNAPSHOT_CONFLICT", `${where(s)}a different snapshot is already stored under ${describe(s)}`);
    outcomes[i] = "unchanged";
  });

  // New nodes, in request order; prefixes must name a path of the conversation (stored or written here).
  const planned = new Map<string, PathNode & { convId: string }>();
  const contents = new Map<string, WritePlan["contents"][number]>();
  const referenced = new Map<string, { convId: string; blockId: string; contentHash: string; references: number; at: string }>();
  const postedInFull = new Set<string>();
  for (const s of fresh) {
    if (s.prefix) {
      const depth = existingDepth.get(nodeKey(s.convId, s.prefix.chain)) ?? planned.get(nodeKey(s.convId, s.prefix.chain))?.depth;
      if (depth !== s.prefix.blocks) {
        throw new StoreError(
          "UNKNOWN_BLOCK_REF",
          `${where(s)}prefix names no path of ${s.prefix.blocks} blocks in conversation ${JSON.stringify(s.convId)}; post the blocks in full`,
        );
      }
    }
    s.nodes.forEach((node, i) => {
      const key = nodeKey(s.convId, node.chain);
      const block = s.blocks[i]!;
      if (!block.ref) postedInFull.add(`${s.convId}\u0000${blockKey(block.id, block.contentHash)}`);
      if (existingDepth.has(key) || planned.has(key)) return;
      planned.set(key, { ...node, convId: s.convId });
      if (block.ref) {
        const refKey = `${s.convId}\u0000${blockKey(block.id, block.contentHash)}`;
        const known = referenced.get(refKey);
        if (known) known.references += 1;
        else
          referenced.set(refKey, {
            convId: s.convId,
            blockId: block.id,
            contentHash: block.contentHash,
            references: 1,
            at: `${where(s)}turn.blocks[${i}]`,
          });
      } else {
        const known = contents.get(blockKey(block.id, block.contentHash));
        if (known) known.references += 1;
        else contents.set(blockKey(block.id, block.contentHash), { block, firstSeenAtMs: s.createdAtMs, references: 1 });
      }
    });
  }

  // References on new nodes must name blocks the conversation has: posted in full in this request,
  // or on one of its stored paths (a second read, only when such references exist).
  const references: WritePlan["references"] = [];
  const toCheck = [...referenced.entries()].filter(([key]) => !postedInFull.has(key));
  if (toCheck.length > 0) {
    const found = new Set<string>();
    const results = await db.batch<{ conv_id: string; block_id: string; content_hash: string }>(
      jsonParameterChunks(toCheck.map(([, r]) => [r.convId, r.blockId, r.contentHash])).map((chunk) =>
        db.prepare(FIND_CONVERSATION_BLOCKS).bind(chunk),
      ),
    );
    read += rowsRead(results);
    for (const result of results)
      for (const row of result.results) found.add(`${row.conv_id}\u0000${blockKey(row.block_id, row.content_hash)}`);
    const unknown = toCheck.find(([key]) => !found.has(key));
    if (unknown) {
      throw new StoreError(
        "UNKNOWN_BLOCK_REF",
        `${unknown[1].at} refers to block ${JSON.stringify(unknown[1].blockId)} (content_hash ${unknown[1].contentHash.slice(0, 12)}…), which conversation ${JSON.stringify(unknown[1].convId)} does not have; post it in full`,
      );
    }
  }
  if (contents.size > MAX_NEW_BLOCK_ROWS_PER_REQUEST) {
    throw new StoreError(
      "TOO_MANY_BLOCKS",
      `the request would store ${contents.size} new blocks; at most ${MAX_NEW_BLOCK_ROWS_PER_REQUEST} new block rows are written per request — split it into smaller requests`,
    );
  }
  for (const r of referenced.values()) {
    const content = contents.get(blockKey(r.blockId, r.contentHash));
    // Posted in full elsewhere in this request: counted with that content.
    if (content) content.references += r.references;
    else references.push([r.blockId, r.contentHash, r.references]);
  }
  return { snapshots: fresh, nodes: [...planned.values()], contents: [...contents.values()], references, rowsRead: read };
}

/**
 * A snapshot's row. `offset`: the earlier snapshots of `all` with its (conv_id, created_at_ms) — see
 * INSERT_SNAPSHOTS; `prefix_chain` / `prefix_depth`: the node its blocks continue (prefixOf), which
 * the insert's guard checks.
 */
function snapshotRowsOf(all: readonly PreparedSnapshot[], prefixOf: (s: PreparedSnapshot, index: number) => BlockPrefix | null) {
  const seen = new Map<string, number>();
  return all.map((s, i) => {
    const key = JSON.stringify([s.convId, s.createdAtMs]);
    const offset = seen.get(key) ?? 0;
    seen.set(key, offset + 1);
    const prefix = prefixOf(s, i);
    return { ...snapshotRowOf(s), offset, prefix_chain: prefix?.chain ?? null, prefix_depth: prefix?.blocks ?? null };
  });
}

const snapshotRowOf = (s: PreparedSnapshot) => ({
  ...projectSnapshot(s),
  metadata_json: s.metadataJson,
  data_json: s.dataJson,
  extra_json: s.extraJson,
  tip_chain: s.tipChain,
  block_count: s.blockCount,
});

const blockRowOf = (b: PreparedSnapshot["blocks"][number], firstSeenAtMs: number) => ({
  block_id: b.id,
  content_hash: b.contentHash,
  hash_algorithm: b.hashAlgorithm,
  kind: b.kind,
  role: b.role,
  payload_json: b.payloadJson,
  metadata_json: b.metadataJson,
  first_seen_at_ms: firstSeenAtMs,
});

const nodeRowOf = (n: PathNode & { convId: string }) => [n.convId, n.chain, n.parentChain, n.depth, n.blockId, n.contentHash, n.extraJson];

/** Pointer events (UPSERT_CONVERSATION_EVENTS), the first snapshot of each turn in the request marked. */
function eventRowsOf(snapshots: readonly PreparedSnapshot[]) {
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
    };
  });
}

const statementsFor = (db: D1Handle, sql: string, rows: readonly unknown[]) =>
  jsonParameterChunks(rows).map((chunk) => db.prepare(sql).bind(chunk));

function writeStatements(db: D1Handle, p: WritePlan): D1PreparedStatement[] {
  return [
    ...statementsFor(db, UPSERT_CONVERSATION_EVENTS, eventRowsOf(p.snapshots)),
    ...statementsFor(
      db,
      UPSERT_BLOCKS,
      p.contents.map(({ block, firstSeenAtMs, references }) => ({ ...blockRowOf(block, firstSeenAtMs), references })),
    ),
    ...statementsFor(db, COUNT_REFERENCES, p.references),
    ...statementsFor(db, INSERT_NODES, p.nodes.map(nodeRowOf)),
    ...statementsFor(
      db,
      INSERT_SNAPSHOTS,
      snapshotRowsOf(p.snapshots, (s) => s.prefix),
    ),
  ];
}

/**
 * The write in one round trip, for requests whose blocks are all in the request (no references):
 * one batch that decides inside D1 which of the request's nodes the conversations have, counts the
 * new ones' blocks, and fails as a whole — through a unique key or the snapshot insert's guard — when the request
 * repeats a stored identity (a replay or a conflict), names a prefix the conversation does not have,
 * or writes to a conversation being deleted. Returns null when it does not apply or failed that way:
 * then the read-then-write path answers, precisely.
 *
 * A snapshot posted in full whose history reaches a tip this isolate stored (known-paths.ts) is sent
 * as a delta from that tip: only its later nodes and their blocks, the tip checked as a prefix.
 */
async function writeAtOnce(
  db: D1Handle,
  snapshots: readonly PreparedSnapshot[],
  alongside: readonly D1PreparedStatement[],
): Promise<{ rowsWritten: number; rowsRead: number; nodesAdded: number; alongside: D1Result[] } | null> {
  if (snapshots.some((s) => s.blocks.some((b) => b.ref))) return null;
  const nodes = new Map<string, PathNode & { convId: string }>();
  const contents = new Map<string, ReturnType<typeof blockRowOf> & { nodes: Array<[string, string]> }>();
  // Per snapshot: the node its batch continues — its own prefix, or the remembered tip it reaches.
  const prefixes: Array<BlockPrefix | null> = [];
  const hinted: Array<[string, string]> = [];
  snapshots.forEach((s) => {
    let from = 0;
    let prefix = s.prefix;
    if (!prefix) {
      const known = deepestKnownTip(s.convId, s.nodes);
      if (known >= 0) {
        const tip = s.nodes[known]!;
        prefix = { chain: tip.chain, blocks: tip.depth };
        hinted.push([s.convId, tip.chain]);
        from = known + 1;
      }
    }
    prefixes.push(prefix);
    for (let i = from; i < s.nodes.length; i++) {
      const node = s.nodes[i]!;
      const key = nodeKey(s.convId, node.chain);
      if (nodes.has(key)) continue;
      nodes.set(key, { ...node, convId: s.convId });
      const block = s.blocks[i]!;
      const contentKey = blockKey(block.id, block.contentHash);
      let content = contents.get(contentKey);
      // The first snapshot with a block is the first to place it on a new node when its row is new.
      if (!content) contents.set(contentKey, (content = { ...blockRowOf(block, s.createdAtMs), nodes: [] }));
      content.nodes.push([s.convId, node.chain]);
    }
  });
  if (contents.size > MAX_NEW_BLOCK_ROWS_PER_REQUEST) return null;
  const statements = [
    ...statementsFor(db, UPSERT_CONVERSATION_EVENTS, eventRowsOf(snapshots)),
    ...statementsFor(db, UPSERT_BLOCKS_ON_NEW_NODES, [...contents.values()]),
  ];
  const firstNodeStatement = statements.length;
  statements.push(...statementsFor(db, INSERT_NEW_NODES, [...nodes.values()].map(nodeRowOf)));
  const nodeStatements = statements.length - firstNodeStatement;
  statements.push(
    ...statementsFor(
      db,
      INSERT_SNAPSHOTS,
      snapshotRowsOf(snapshots, (_, i) => prefixes[i]!),
    ),
    ...alongside,
  );
  try {
    const results = await db.batch(statements);
    const nodesAdded = results
      .slice(firstNodeStatement, firstNodeStatement + nodeStatements)
      .reduce((sum, r) => sum + (r.meta?.changes ?? 0), 0);
    rememberTips(snapshots);
    return {
      rowsWritten: rowsWritten(results),
      rowsRead: rowsRead(results),
      nodesAdded,
      alongside: results.slice(results.length - alongside.length),
    };
  } catch (error) {
    if (!isRefusedAtOnce(error)) throw error;
    // A remembered tip may be why: not used again (the fallback stores what is missing, and remembers it).
    for (const [convId, chain] of hinted) forgetTip(convId, chain);
    return null;
  }
}

function rememberTips(snapshots: readonly PreparedSnapshot[]): void {
  for (const s of snapshots) rememberTip(s.convId, s.tipChain);
}

/** The snapshot insert's guard refused a row (INSERT_SNAPSHOTS): a conversation being deleted, or an unknown prefix. */
function isGuardRefusal(error: unknown): boolean {
  return /NOT NULL constraint failed: turn_snapshots\.id/.test(d1ErrorText(error));
}

/** The one-round-trip batch failed on purpose: a stored identity, or the guard. */
function isRefusedAtOnce(error: unknown): boolean {
  return /UNIQUE constraint failed: turn_snapshots\./.test(d1ErrorText(error)) || isGuardRefusal(error);
}

function isConcurrentWrite(error: unknown): boolean {
  return /UNIQUE constraint failed: (turn_snapshots|block_nodes)\./.test(d1ErrorText(error));
}

/**
 * Saves snapshots all-or-nothing. A snapshot identical to the stored one under its identity is
 * "unchanged" and writes nothing; a different one throws StoreError SNAPSHOT_CONFLICT, and an
 * unknown block reference UNKNOWN_BLOCK_REF, before anything of the request is written.
 *
 * `alongside`: the caller's own statements that belong in the write's batch (OTLP ingestion's trace
 * memory, src/otlp/recording.ts: one round trip instead of two) — run last in it, so they commit or
 * fail with the snapshots; when nothing is written (every snapshot unchanged), in a batch of their own.
 */
export async function saveSnapshots(
  db: D1Handle,
  snapshots: readonly PreparedSnapshot[],
  alongside: readonly D1PreparedStatement[] = [],
): Promise<SaveResult> {
  const outcomes: SaveOutcome[] = snapshots.map(() => "created");
  // Fingerprints only where they are compared: a repeated identity, or the read-then-write path.
  const fingerprints: string[] = [];
  const fingerprint = (i: number) => (fingerprints[i] ??= fingerprintOf(snapshots[i]!));
  const firstIndex = new Map<string, number>();
  const pending: number[] = [];
  snapshots.forEach((s, i) => {
    const key = identityKey(s);
    const first = firstIndex.get(key);
    if (first === undefined) {
      firstIndex.set(key, i);
      pending.push(i);
    } else if (fingerprint(first) !== fingerprint(i)) {
      throw new StoreError(
        "SNAPSHOT_CONFLICT",
        `items[${i}] repeats the identity of items[${first}] with different content: ${describe(s)}`,
      );
    } else {
      outcomes[i] = "unchanged";
    }
  });

  // Most requests: new snapshots whose blocks are all in the request, written in one round trip.
  const atOnce = await writeAtOnce(
    db,
    pending.map((i) => snapshots[i]!),
    alongside,
  );
  if (atOnce) return { outcomes, ...atOnce };

  let read = 0;
  // Planned again only when a concurrent writer stored one of our nodes or identities in between, or
  // a deletion of one of its conversations began.
  for (let attempt = 0; attempt < 3; attempt++) {
    const pendingOutcomes: SaveOutcome[] = pending.map(() => "created");
    const p = await plan(
      db,
      pending.map((i) => snapshots[i]!),
      pending.map(fingerprint),
      pendingOutcomes,
    );
    read += p.rowsRead;
    pending.forEach((i, k) => (outcomes[i] = pendingOutcomes[k]!));
    if (p.snapshots.length === 0) {
      const own = alongside.length > 0 ? await db.batch([...alongside]) : [];
      return { outcomes, rowsWritten: rowsWritten(own), rowsRead: read + rowsRead(own), nodesAdded: 0, alongside: own };
    }
    try {
      const results = await db.batch([...writeStatements(db, p), ...alongside]);
      rememberTips(p.snapshots);
      return {
        outcomes,
        rowsWritten: rowsWritten(results),
        rowsRead: read + rowsRead(results),
        nodesAdded: p.nodes.length,
        alongside: results.slice(results.length - alongside.length),
      };
    } catch (error) {
      // Planned again, which answers precisely: the guard refuses only what the plan's read did not
      // see yet (a deletion that began in between).
      if (!isConcurrentWrite(error) && !isGuardRefusal(error)) throw error;
    }
  }
  throw new StoreError("UNAVAILABLE", "the snapshot write kept colliding with concurrent writers; retry the request");
}
