/**
 * Databases for the read benchmarks, in the current layout (block paths), generated in bulk SQL: the
 * same target conversation (2000 snapshots: 500 turns × 4 phases) inside databases of different
 * total size, so the same request can be timed against 10k and 1M snapshots.
 *
 * Each snapshot holds BLOCKS_PER_SNAPSHOT blocks, ~100–220 bytes of text each: the first
 * SHARED_PREFIX_BLOCKS blocks of its conversation — one path shared by all its snapshots — and one
 * block of its own, a child of that path's last node (a fan-out, as regenerated answers make). A
 * conversation of n snapshots therefore has n + 7 path nodes and n + 7 blocks (each block on one
 * node, ref_count 1), and a page of 200 snapshots needs 207 distinct nodes — as many distinct
 * blocks as the first release's sliding windows of 8 (neighbours sharing 7) did, so figures stay
 * comparable with earlier reports. Hashes and chains are stand-ins (hashOf; chains are 32 hex
 * digits of the conversation and block numbers): reads never recompute them, they only follow
 * parent_chain, which is consistent.
 */
import { bulkLoad, d1File, hashOf, LOREM, sequenceTable, sqlString } from "./databases";

export const TARGET = {
  convId: "bench-target",
  sessionId: "bench-target-s",
  snapshots: 2000,
  /** A turn in the middle of the target conversation, for the turn-detail request. */
  turnId: "bench-target-t000250",
};
export const OTHER_CONVERSATION_SNAPSHOTS = 200;
export const BLOCKS_PER_SNAPSHOT = 8;
export const SHARED_PREFIX_BLOCKS = BLOCKS_PER_SNAPSHOT - 1;
const PHASES = ["pre_inference", "post_inference", "post_tools", "final"];
const RUNTIMES = ["planner", "research", "support"];
const BASE_MS = 1_700_000_000_000;

const caseOf = (expr: string, values: readonly string[]) =>
  `CASE ${expr} ${values.map((v, i) => `WHEN ${i} THEN ${sqlString(v)}`).join(" ")} END`;

/** Stand-in chain of block number `n` of conversation number `ci`: 32 lowercase hex digits. */
const chainOf = (ci: string, n: string) => `printf('%016x%016x', ${ci}, ${n})`;

export function readDatabaseSql(totalSnapshots: number): string {
  const others = Math.max(0, Math.round((totalSnapshots - TARGET.snapshots) / OTHER_CONVERSATION_SNAPSHOTS));
  const blockId = `c.conv_id || '-b' || printf('%06d', s.n)`;
  const turnId = `c.conv_id || '-t' || printf('%06d', s.n / ${PHASES.length})`;
  const runtime = caseOf(`(s.n / 40) % ${RUNTIMES.length}`, RUNTIMES);
  const inference = `'inf-' || c.ci || '-' || (s.n / ${PHASES.length})`;
  const at = `${BASE_MS} + c.ci * 7 + s.n * 1000`;
  return `
${sequenceTable("seq", TARGET.snapshots + BLOCKS_PER_SNAPSHOT)}
CREATE TEMP TABLE conv(ci INTEGER PRIMARY KEY, conv_id TEXT, session_id TEXT, snaps INTEGER);
INSERT INTO conv VALUES (0, ${sqlString(TARGET.convId)}, ${sqlString(TARGET.sessionId)}, ${TARGET.snapshots});
INSERT INTO conv SELECT n + 1, 'conv-' || printf('%06d', n + 1), 'sess-' || printf('%06d', n + 1), ${OTHER_CONVERSATION_SNAPSHOTS}
FROM (${sequenceTableValues(others)});

INSERT INTO blocks (block_id, content_hash, hash_algorithm, kind, role, payload_json, block_metadata_json, first_seen_at_ms, ref_count)
SELECT ${blockId}, ${hashOf(blockId)}, 'sha256-canonical-json-v1',
  ${caseOf("s.n % 4", ["user", "llm_text", "tool_call", "tool_use"])},
  CASE s.n % 4 WHEN 0 THEN 'user' ELSE 'assistant' END,
  json_object('text', 'block ' || s.n || ' of ' || c.conv_id || ': ' || substr(${sqlString(LOREM)}, 1, 100 + s.n % 120)),
  '{}', ${at}, 1
FROM conv AS c JOIN seq AS s ON s.n < c.snaps + ${SHARED_PREFIX_BLOCKS}
ORDER BY c.ci, s.n;

-- Block n sits on node n: nodes 0..${SHARED_PREFIX_BLOCKS - 1} are the shared path, every later node a child of its last.
INSERT INTO block_nodes (conv_id, chain, parent_chain, depth, block_id, content_hash, extra_json)
SELECT c.conv_id, ${chainOf("c.ci", "s.n")},
  CASE WHEN s.n = 0 THEN '' WHEN s.n < ${SHARED_PREFIX_BLOCKS} THEN ${chainOf("c.ci", "s.n - 1")} ELSE ${chainOf("c.ci", String(SHARED_PREFIX_BLOCKS - 1))} END,
  min(s.n + 1, ${BLOCKS_PER_SNAPSHOT}), ${blockId}, ${hashOf(blockId)}, ''
FROM conv AS c JOIN seq AS s ON s.n < c.snaps + ${SHARED_PREFIX_BLOCKS}
ORDER BY c.ci, s.n;

-- Their turns are rolled up by the snapshot insert's triggers (drizzle/0009, 0010), as for every write.
INSERT INTO turn_snapshots (id, conv_id, session_id, turn_id, phase, created_at_ms, runtime_key, inference_id,
  turn_metadata_json, turn_data_json, tip_chain, block_count)
SELECT 1, c.conv_id, c.session_id, ${turnId}, ${caseOf(`s.n % ${PHASES.length}`, PHASES)}, ${at}, ${runtime}, ${inference},
  json_object('geppetto.runtime@v1', json_object('runtime_key', ${runtime}), 'geppetto.inference_id@v1', ${inference},
    'geppetto.session_id@v1', c.session_id),
  '{}', ${chainOf("c.ci", `s.n + ${SHARED_PREFIX_BLOCKS}`)}, ${BLOCKS_PER_SNAPSHOT}
FROM conv AS c JOIN seq AS s ON s.n < c.snaps
ORDER BY c.ci, s.n;

INSERT INTO conversations (conv_id, session_id, current_runtime_key, current_runtime_at_ms, created_at_ms, last_activity_ms,
  turn_count, snapshot_count)
SELECT c.conv_id, c.session_id, 'planner', ${BASE_MS} + c.ci * 7 + (c.snaps - 1) * 1000, ${BASE_MS} + c.ci * 7,
  ${BASE_MS} + c.ci * 7 + (c.snaps - 1) * 1000, c.snaps / ${PHASES.length}, c.snaps
FROM conv AS c;
`;
}

/** A row source 0..n-1 large enough for the number of conversations (up to a few thousand). */
function sequenceTableValues(n: number): string {
  return `WITH RECURSIVE r(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM r WHERE n < ${n - 1}) SELECT n FROM r WHERE n < ${n}`;
}

/** Fills the (migrated, empty) database under persistTo with about totalSnapshots snapshots. */
export function generateReadDatabase(persistTo: string, totalSnapshots: number): { file: string } {
  const file = d1File(persistTo);
  bulkLoad(file, readDatabaseSql(totalSnapshots));
  return { file };
}
