/**
 * The SQL of one import, as three lists: queries to run before writing (counts), the writes, and
 * queries to run after (counts and verification). Pure: the runner decides how they reach D1.
 *
 * Writes, in order:
 *  1. legacy rows into their tables — blocks, turns, turn_block_membership (layouts A/B) or
 *     turn_snapshots (layout C) — each `ON CONFLICT DO NOTHING`, so rows already in D1 stay as they are;
 *  2. the backfill step, the same statements as drizzle/0002_backfill.sql (idempotent): runtime and
 *     inference from metadata where still '', membership rows into turn_snapshots, conversations for
 *     conversations D1 does not have yet;
 *  3. a merge per imported conversation: counts recomputed from D1, activity widened, and the
 *     pointer moved to the newest evidence — the runtime recorded last on any of its turns (at the
 *     time it was recorded: runtime_key_at_ms, which the backfill sets to updated_at_ms for legacy
 *     rows), or the timeline row. Dating by runtime_key_at_ms keeps a runtime switch made through
 *     the Worker after that time in place.
 */
import type { LegacySource, TimelineConversation } from "./legacy-source";
import { byteLength, CREATE_PARTS_TABLE, DROP_PARTS_TABLE, InsertWriter, PACK_BUDGET_BYTES, sqlLiteral } from "./sql-text";

export interface ImportPlan {
  before: string[];
  writes: string[];
  after: string[];
  /** Every conversation the import touches, in the order the conversation queries list them. */
  convIds: string[];
}

const NO_CONFLICT = "ON CONFLICT DO NOTHING";

/** Splits a drizzle migration file into its statements (drizzle separates them with breakpoints). */
export function migrationStatements(fileText: string): string[] {
  return fileText
    .split("--> statement-breakpoint")
    .map((s) => s.trim().replace(/;\s*$/, ""))
    .filter((s) => s.split("\n").some((line) => line.trim() !== "" && !line.trim().startsWith("--")));
}

export const TOTALS_QUERY = `SELECT
  (SELECT count(*) FROM turns) AS turns,
  (SELECT count(*) FROM blocks) AS blocks,
  (SELECT count(*) FROM turn_block_membership) AS turn_block_membership,
  (SELECT count(*) FROM turn_snapshots) AS turn_snapshots,
  (SELECT count(*) FROM conversations) AS conversations`;

/** One row per conversation: its D1 row (NULLs when absent) and what D1 holds for it. */
function conversationQuery(values: string): string {
  return `WITH k(conv_id) AS (VALUES ${values})
SELECT k.conv_id AS conv_id, c.conv_id IS NOT NULL AS present, c.session_id AS session_id,
  c.current_runtime_key AS current_runtime_key, c.current_runtime_at_ms AS current_runtime_at_ms,
  c.created_at_ms AS created_at_ms, c.last_activity_ms AS last_activity_ms,
  c.turn_count AS turn_count, c.snapshot_count AS snapshot_count,
  (SELECT count(*) FROM turns AS t WHERE t.conv_id = k.conv_id) AS turns_in_d1,
  (SELECT count(*) FROM turn_snapshots AS s WHERE s.conv_id = k.conv_id) AS snapshots_in_d1,
  (SELECT count(*) FROM turns AS t WHERE t.conv_id = k.conv_id AND t.runtime_key <> '') AS turns_with_runtime,
  (SELECT count(*) FROM turns AS t WHERE t.conv_id = k.conv_id AND t.inference_id <> '') AS turns_with_inference
FROM k LEFT JOIN conversations AS c ON c.conv_id = k.conv_id
ORDER BY k.conv_id`;
}

/**
 * Merges the evidence of the imported conversations into `conversations`. `imported` rows are
 * (conv_id, timeline session, timeline pointer, timeline created, timeline activity), NULLs without
 * a timeline row. The timeline wins ties with the turns (it is the pointer record); the import wins
 * ties with D1 (it arrives later). Rows whose values would not change are not written, so a second
 * import writes nothing.
 */
function conversationMerge(values: string): string {
  const timelinePointerWins = `COALESCE(tl_runtime_key, '') <> '' AND (turns_runtime_key IS NULL OR tl_activity_ms >= turns_runtime_at_ms)`;
  const importMovesPointer = `excluded.current_runtime_key <> '' AND excluded.current_runtime_at_ms >= conversations.current_runtime_at_ms`;
  const importMovesSession = `excluded.session_id <> '' AND excluded.last_activity_ms >= conversations.last_activity_ms`;
  return `WITH imported(conv_id, tl_session_id, tl_runtime_key, tl_created_at_ms, tl_activity_ms) AS (VALUES ${values}),
roll AS (
  SELECT i.conv_id AS conv_id, min(t.turn_created_at_ms) AS created_at_ms, max(t.updated_at_ms) AS activity_ms,
    count(t.turn_id) AS turn_count
  FROM imported AS i LEFT JOIN turns AS t ON t.conv_id = i.conv_id
  GROUP BY i.conv_id
),
evidence AS (
  SELECT i.conv_id AS conv_id, i.tl_session_id AS tl_session_id, i.tl_runtime_key AS tl_runtime_key,
    i.tl_created_at_ms AS tl_created_at_ms, i.tl_activity_ms AS tl_activity_ms,
    r.created_at_ms AS turns_created_at_ms, r.activity_ms AS turns_activity_ms, r.turn_count AS turn_count,
    (SELECT t.session_id FROM turns AS t WHERE t.conv_id = i.conv_id
      ORDER BY t.updated_at_ms DESC, t.turn_created_at_ms DESC, t.turn_id DESC LIMIT 1) AS turns_session_id,
    p.runtime_key AS turns_runtime_key, p.runtime_key_at_ms AS turns_runtime_at_ms,
    (SELECT count(*) FROM turn_snapshots AS s WHERE s.conv_id = i.conv_id) AS snapshot_count
  FROM imported AS i
  JOIN roll AS r ON r.conv_id = i.conv_id
  LEFT JOIN turns AS p ON p.rowid = (
    SELECT t.rowid FROM turns AS t WHERE t.conv_id = i.conv_id AND t.runtime_key <> ''
    ORDER BY t.runtime_key_at_ms DESC, t.updated_at_ms DESC, t.turn_created_at_ms DESC, t.turn_id DESC LIMIT 1)
),
merged AS (
  SELECT conv_id,
    CASE WHEN COALESCE(tl_session_id, '') <> '' AND (turns_session_id IS NULL OR tl_activity_ms >= turns_activity_ms)
      THEN tl_session_id ELSE COALESCE(turns_session_id, '') END AS session_id,
    CASE WHEN ${timelinePointerWins} THEN tl_runtime_key ELSE COALESCE(turns_runtime_key, '') END AS runtime_key,
    CASE WHEN ${timelinePointerWins} THEN tl_activity_ms ELSE COALESCE(turns_runtime_at_ms, 0) END AS runtime_at_ms,
    COALESCE(min(turns_created_at_ms, tl_created_at_ms), turns_created_at_ms, tl_created_at_ms, 0) AS created_at_ms,
    COALESCE(max(turns_activity_ms, tl_activity_ms), turns_activity_ms, tl_activity_ms, 0) AS last_activity_ms,
    turn_count, snapshot_count,
    turns_session_id IS NOT NULL OR COALESCE(tl_session_id, '') <> '' AS can_create
  FROM evidence
)
INSERT INTO conversations (conv_id, session_id, current_runtime_key, current_runtime_at_ms, created_at_ms,
  last_activity_ms, turn_count, snapshot_count)
SELECT conv_id, session_id, runtime_key, runtime_at_ms, created_at_ms, last_activity_ms, turn_count, snapshot_count
FROM merged
WHERE can_create OR conv_id IN (SELECT conv_id FROM conversations)
ON CONFLICT (conv_id) DO UPDATE SET
  session_id = CASE WHEN ${importMovesSession} THEN excluded.session_id ELSE conversations.session_id END ,
  current_runtime_key = CASE WHEN ${importMovesPointer} THEN excluded.current_runtime_key ELSE conversations.current_runtime_key END ,
  current_runtime_at_ms = CASE WHEN ${importMovesPointer} THEN excluded.current_runtime_at_ms ELSE conversations.current_runtime_at_ms END ,
  created_at_ms = min(conversations.created_at_ms, excluded.created_at_ms),
  last_activity_ms = max(conversations.last_activity_ms, excluded.last_activity_ms),
  turn_count = excluded.turn_count,
  snapshot_count = excluded.snapshot_count
WHERE (${importMovesSession} AND excluded.session_id <> conversations.session_id)
  OR (${importMovesPointer} AND (excluded.current_runtime_key <> conversations.current_runtime_key
    OR excluded.current_runtime_at_ms <> conversations.current_runtime_at_ms))
  OR excluded.created_at_ms < conversations.created_at_ms
  OR excluded.last_activity_ms > conversations.last_activity_ms
  OR excluded.turn_count <> conversations.turn_count
  OR excluded.snapshot_count <> conversations.snapshot_count`;
}

/** Packs VALUES tuples into statements of about PACK_BUDGET_BYTES beyond the text around them. */
function chunkedValues(tuples: readonly string[], wrap: (values: string) => string): string[] {
  const overhead = byteLength(wrap(""));
  const out: string[] = [];
  let current: string[] = [];
  let bytes = overhead;
  for (const tuple of tuples) {
    const size = byteLength(tuple) + 2;
    if (current.length > 0 && bytes + size > overhead + PACK_BUDGET_BYTES) {
      out.push(wrap(current.join(", ")));
      current = [];
      bytes = overhead;
    }
    current.push(tuple);
    bytes += size;
  }
  if (current.length > 0) out.push(wrap(current.join(", ")));
  return out;
}

export function buildImportPlan(source: LegacySource, timeline: readonly TimelineConversation[], backfill: readonly string[]): ImportPlan {
  const writer = new InsertWriter();
  writer.insert(
    {
      table: "blocks",
      columns: ["block_id", "content_hash", "hash_algorithm", "kind", "role", "payload_json", "block_metadata_json", "first_seen_at_ms"],
      conflict: NO_CONFLICT,
    },
    source.blocks.map((b) => [b.block_id, b.content_hash, b.hash_algorithm, b.kind, b.role, b.payload_json, b.block_metadata_json, b.first_seen_at_ms]),
  );
  writer.insert(
    {
      table: "turns",
      columns: [
        "conv_id", "session_id", "turn_id", "turn_created_at_ms", "turn_metadata_json", "turn_data_json", "updated_at_ms",
        "runtime_key", "inference_id", "runtime_key_at_ms", "inference_id_at_ms",
      ],
      conflict: NO_CONFLICT,
    },
    source.turns.map((t) => [
      t.conv_id, t.session_id, t.turn_id, t.turn_created_at_ms, t.turn_metadata_json, t.turn_data_json, t.updated_at_ms,
      t.runtime_key, t.inference_id, t.runtime_key_at_ms, t.inference_id_at_ms,
    ]),
  );
  writer.insert(
    {
      table: "turn_block_membership",
      columns: ["conv_id", "session_id", "turn_id", "phase", "snapshot_created_at_ms", "ordinal", "block_id", "content_hash"],
      conflict: NO_CONFLICT,
    },
    source.membership.map((m) => [m.conv_id, m.session_id, m.turn_id, m.phase, m.snapshot_created_at_ms, m.ordinal, m.block_id, m.content_hash]),
  );
  writer.insert(
    {
      table: "turn_snapshots",
      columns: [
        "conv_id", "session_id", "turn_id", "phase", "created_at_ms", "runtime_key", "inference_id",
        "turn_metadata_json", "turn_data_json", "turn_extra_json", "block_refs_json",
      ],
      conflict: NO_CONFLICT,
    },
    source.snapshots.map((s) => [
      s.conv_id, s.session_id, s.turn_id, s.phase, s.created_at_ms, s.runtime_key, s.inference_id,
      s.turn_metadata_json, s.turn_data_json, s.turn_extra_json, s.block_refs_json,
    ]),
  );

  const timelineByConv = new Map(timeline.map((t) => [t.conv_id, t]));
  const convIds = [...new Set([...source.turnsByConv.keys(), ...timelineByConv.keys()])].sort();
  const evidence = convIds.map((id) => {
    const t = timelineByConv.get(id);
    const values = t ? [id, t.session_id, t.runtime_key, t.created_at_ms, t.last_activity_ms] : [id, null, null, null, null];
    return `(${values.map(sqlLiteral).join(", ")})`;
  });
  const keys = convIds.map((id) => `(${sqlLiteral(id)})`);

  const writes = [
    ...(writer.needsPartsTable ? CREATE_PARTS_TABLE : []),
    ...writer.statements,
    ...(writer.needsPartsTable ? [DROP_PARTS_TABLE] : []),
    ...backfill,
    ...chunkedValues(evidence, conversationMerge),
  ];
  const conversationQueries = chunkedValues(keys, conversationQuery);
  return {
    before: [TOTALS_QUERY, ...conversationQueries],
    writes,
    after: [TOTALS_QUERY, ...conversationQueries],
    convIds,
  };
}
