/**
 * Old databases loaded as they are (the import tool's layouts A and B: the pre-cutover turns, blocks
 * and turn_block_membership): the rows go into the same legacy tables an old D1 database has, and
 * then through the same steps the migrations run on such a database — the backfill
 * (src/db/backfill-sql.ts; the import tool runs it with runBackfill of tools/migrations.ts) and
 * the conversion to block paths (src/store/conversion.ts) — so an imported file
 * ends exactly as an upgraded database would. Loading never overwrites: rows D1 already has stay.
 *
 * Conversation evidence (a timeline's pointer, the runtimes recorded on imported turns) goes through
 * the one pointer rule, UPSERT_CONVERSATION_EVENTS.
 */
import { conversations, type blocks, type turnBlockMembership, type turns } from "../../src/db/schema";
import { compareUtf8 } from "../../src/turn/canonical-json";
import { convertLegacySnapshots } from "../../src/store/conversion";
import { jsonParameterChunks, type D1Handle } from "../../src/store/d1";
import { UPSERT_CONVERSATION_EVENTS } from "../../src/store/writes";

import { fromColumns, type Columns, type Nullable } from "../../src/store/rows";

/** Rows in D1 column names, typed from the schema. */
export type LegacyTurnRow = Columns<typeof turns.$inferSelect>;
export type LegacyBlockRow = Omit<Columns<typeof blocks.$inferSelect>, "ref_count" | "weight">;
export type LegacyMembershipRow = Columns<typeof turnBlockMembership.$inferSelect>;

const INSERT_TURNS = `
INSERT INTO turns (conv_id, session_id, turn_id, turn_created_at_ms, turn_metadata_json, turn_data_json, updated_at_ms,
  runtime_key, inference_id, runtime_key_at_ms, inference_id_at_ms)
SELECT value ->> 'conv_id', value ->> 'session_id', value ->> 'turn_id', value ->> 'turn_created_at_ms',
  value ->> 'turn_metadata_json', value ->> 'turn_data_json', value ->> 'updated_at_ms',
  value ->> 'runtime_key', value ->> 'inference_id', value ->> 'runtime_key_at_ms', value ->> 'inference_id_at_ms'
FROM json_each(?1) WHERE true
ON CONFLICT DO NOTHING`;

const INSERT_BLOCKS = `
INSERT INTO blocks (block_id, content_hash, hash_algorithm, kind, role, payload_json, block_metadata_json, first_seen_at_ms)
SELECT value ->> 'block_id', value ->> 'content_hash', value ->> 'hash_algorithm', value ->> 'kind', value ->> 'role',
  value ->> 'payload_json', value ->> 'block_metadata_json', value ->> 'first_seen_at_ms'
FROM json_each(?1) WHERE true
ON CONFLICT DO NOTHING`;

const INSERT_MEMBERSHIP = `
INSERT INTO turn_block_membership (conv_id, session_id, turn_id, phase, snapshot_created_at_ms, ordinal, block_id, content_hash)
SELECT value ->> 'conv_id', value ->> 'session_id', value ->> 'turn_id', value ->> 'phase', value ->> 'snapshot_created_at_ms',
  value ->> 'ordinal', value ->> 'block_id', value ->> 'content_hash'
FROM json_each(?1) WHERE true
ON CONFLICT DO NOTHING`;

/** Rows each statement kind actually inserted (meta.changes), per legacy table. */
export interface LoadResult {
  turns: number;
  blocks: number;
  turn_block_membership: number;
}

/**
 * Loads legacy rows, ON CONFLICT DO NOTHING, in batches of bounded size (each statement reads one
 * JSON parameter below D1's 2 MB string limit).
 */
export async function loadLegacyRows(
  db: D1Handle,
  rows: { turns: readonly LegacyTurnRow[]; blocks: readonly LegacyBlockRow[]; membership: readonly LegacyMembershipRow[] },
): Promise<LoadResult> {
  const result: LoadResult = { turns: 0, blocks: 0, turn_block_membership: 0 };
  const parts: Array<[keyof LoadResult, string, readonly unknown[]]> = [
    ["blocks", INSERT_BLOCKS, rows.blocks],
    ["turns", INSERT_TURNS, rows.turns],
    ["turn_block_membership", INSERT_MEMBERSHIP, rows.membership],
  ];
  for (const [table, sql, list] of parts) {
    const statements = jsonParameterChunks(list).map((chunk) => db.prepare(sql).bind(chunk));
    // A few statements per batch: D1 runs a batch as one transaction, so keep each one modest.
    for (let i = 0; i < statements.length; i += 8) {
      for (const r of await db.batch(statements.slice(i, i + 8))) result[table] += r.meta?.changes ?? 0;
    }
  }
  return result;
}

/**
 * Converts every legacy snapshot to block paths, chunk by chunk; returns how many were converted.
 * `onChunk` hears the running total after each chunk (progress for the operator scripts).
 */
export async function convertAllLegacySnapshots(db: D1Handle, onChunk?: (convertedSoFar: number) => void): Promise<number> {
  let converted = 0;
  for (;;) {
    const result = await convertLegacySnapshots(db);
    converted += result.converted;
    onChunk?.(converted);
    if (!result.remaining) return converted;
  }
}

/** A pointer event: a runtime (or '' for activity only) recorded at `atMs` in `sessionId`. */
export interface ConversationEvidence {
  convId: string;
  sessionId: string;
  runtimeKey: string;
  atMs: number;
}

/**
 * Applies evidence through the pointer rule (the same statement writes and switches use): the newest
 * event by time wins, ties go to the later one in `evidence`. Counts are not touched. Evidence with
 * an empty session only updates a conversation D1 already has (it cannot create one).
 */
export async function applyConversationEvidence(db: D1Handle, evidence: readonly ConversationEvidence[]): Promise<void> {
  const events = evidence.map((e) => ({
    conv_id: e.convId,
    ...(e.sessionId !== "" ? { session_id: e.sessionId } : {}),
    turn_id: "",
    at_ms: e.atMs,
    runtime_key: e.runtimeKey,
    first_of_turn: 0,
    snapshots: 0,
  }));
  for (const chunk of jsonParameterChunks(events)) await db.prepare(UPSERT_CONVERSATION_EVENTS).bind(chunk).run();
}

const RECOUNT = `
UPDATE conversations SET
  turn_count = (SELECT count(*) FROM turns AS t WHERE t.conv_id = conversations.conv_id),
  snapshot_count = (SELECT count(*) FROM turn_snapshots AS s WHERE s.conv_id = conversations.conv_id)
WHERE conv_id IN (SELECT value FROM json_each(?1))`;

/** Sets the turn and snapshot counts of these conversations from what D1 holds for them. */
export async function recountConversations(db: D1Handle, convIds: readonly string[]): Promise<void> {
  for (const chunk of jsonParameterChunks(convIds)) await db.prepare(RECOUNT).bind(chunk).run();
}

/**
 * The evidence of imported turns: each turn's creation (activity only: the conversation is at least
 * that old, as the backfill derives created_at_ms from turn_created_at_ms), then its runtime at the
 * time it was recorded, or its activity when it has none.
 */
export function turnEvidence(turnRows: readonly LegacyTurnRow[]): ConversationEvidence[] {
  return turnRows.flatMap((t) => {
    const latest: ConversationEvidence =
      t.runtime_key !== ""
        ? { convId: t.conv_id, sessionId: t.session_id, runtimeKey: t.runtime_key, atMs: t.runtime_key_at_ms || t.updated_at_ms }
        : { convId: t.conv_id, sessionId: t.session_id, runtimeKey: "", atMs: t.updated_at_ms };
    return t.turn_created_at_ms < latest.atMs
      ? [{ convId: t.conv_id, sessionId: t.session_id, runtimeKey: "", atMs: t.turn_created_at_ms }, latest]
      : [latest];
  });
}

const SELECT_TURNS = `
SELECT conv_id, session_id, turn_id, turn_created_at_ms, turn_metadata_json, turn_data_json, updated_at_ms,
  runtime_key, inference_id, runtime_key_at_ms, inference_id_at_ms
FROM turns
WHERE (conv_id, session_id, turn_id) IN (SELECT value ->> 0, value ->> 1, value ->> 2 FROM json_each(?1))
ORDER BY conv_id, updated_at_ms, turn_created_at_ms, turn_id`;

/**
 * The turns rows D1 holds for these keys (after loading and the backfill: what the turns say now),
 * per conversation oldest first by the backfill's order (updated_at_ms, turn_created_at_ms, turn_id),
 * so turnEvidence of them gives ties to the turn the backfill calls newest.
 */
export async function readTurnRows(
  db: D1Handle,
  keys: ReadonlyArray<{ conv_id: string; session_id: string; turn_id: string }>,
): Promise<LegacyTurnRow[]> {
  const out: LegacyTurnRow[] = [];
  const chunks = jsonParameterChunks(keys.map((k) => [k.conv_id, k.session_id, k.turn_id]));
  for (let i = 0; i < chunks.length; i += 8) {
    const results = await db.batch<LegacyTurnRow>(chunks.slice(i, i + 8).map((chunk) => db.prepare(SELECT_TURNS).bind(chunk)));
    for (const r of results) out.push(...r.results);
  }
  // Chunks are ordered inside, not across: one order for the whole list.
  return out.sort(
    (a, b) =>
      compareUtf8(a.conv_id, b.conv_id) ||
      a.updated_at_ms - b.updated_at_ms ||
      a.turn_created_at_ms - b.turn_created_at_ms ||
      compareUtf8(a.turn_id, b.turn_id),
  );
}

/** A conversation as D1 holds it, with what D1 holds for it (for an import's summary and verification). */
export interface ConversationTotals {
  convId: string;
  /** null: D1 has no conversations row for it. */
  row: typeof conversations.$inferSelect | null;
  turnsStored: number;
  snapshotsStored: number;
  turnsWithRuntimeKey: number;
  turnsWithInferenceId: number;
}

const SELECT_CONVERSATION_TOTALS = `
SELECT k.value AS conv_id, c.conv_id IS NOT NULL AS present, c.session_id, c.current_runtime_key, c.current_runtime_at_ms,
  c.created_at_ms, c.last_activity_ms, c.turn_count, c.snapshot_count,
  (SELECT count(*) FROM turns AS t WHERE t.conv_id = k.value) AS turns_stored,
  (SELECT count(*) FROM turn_snapshots AS s WHERE s.conv_id = k.value) AS snapshots_stored,
  (SELECT count(*) FROM turns AS t WHERE t.conv_id = k.value AND t.runtime_key <> '') AS turns_with_runtime_key,
  (SELECT count(*) FROM turns AS t WHERE t.conv_id = k.value AND t.inference_id <> '') AS turns_with_inference_id
FROM json_each(?1) AS k LEFT JOIN conversations AS c ON c.conv_id = k.value`;

type ConversationTotalsRow = Nullable<Columns<typeof conversations.$inferSelect>> & {
  /** k.value: the id asked for, whether or not D1 has the conversation. */
  conv_id: string;
  present: number;
  turns_stored: number;
  snapshots_stored: number;
  turns_with_runtime_key: number;
  turns_with_inference_id: number;
};

/** Reads each conversation's row and what D1 holds for it; reads only these conversations' rows. */
export async function conversationTotals(db: D1Handle, convIds: readonly string[]): Promise<Map<string, ConversationTotals>> {
  const out = new Map<string, ConversationTotals>();
  // Few ids per statement: each id costs the rows of its conversation.
  const chunks = jsonParameterChunks(convIds, 64_000);
  for (let i = 0; i < chunks.length; i += 8) {
    const results = await db.batch<ConversationTotalsRow>(
      chunks.slice(i, i + 8).map((chunk) => db.prepare(SELECT_CONVERSATION_TOTALS).bind(chunk)),
    );
    for (const r of results.flatMap((result) => result.results)) {
      out.set(r.conv_id, {
        convId: r.conv_id,
        row: Number(r.present) ? fromColumns(conversations, r as Columns<typeof conversations.$inferSelect>) : null,
        turnsStored: r.turns_stored,
        snapshotsStored: r.snapshots_stored,
        turnsWithRuntimeKey: r.turns_with_runtime_key,
        turnsWithInferenceId: r.turns_with_inference_id,
      });
    }
  }
  return out;
}
