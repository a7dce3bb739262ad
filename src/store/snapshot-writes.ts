/**
 * Saving snapshots: one D1 batch (one transaction, one round trip) per request, with a constant
 * number of statements however many items and blocks it carries — each statement reads its rows
 * from one JSON parameter through json_each.
 */
import {
  blockRefs,
  identityKey,
  snapshotFingerprint,
  type PreparedSnapshot,
  type SnapshotIdentity,
} from "../turn/snapshot";
import { storedObject } from "../turn/turn";
import { jsonParameterChunks, rowsWritten, type D1Handle } from "./d1";
import type { SnapshotRow } from "./snapshot-reads";

/** Statement order matters: the snapshot insert fails first on a duplicate identity (aborting the
 * whole batch), and conversations are counted before turns so a new turn is still "not there". */
const INSERT_SNAPSHOTS = `
INSERT INTO turn_snapshots (conv_id, session_id, turn_id, phase, created_at_ms, runtime_key, inference_id,
  turn_metadata_json, turn_data_json, turn_extra_json, block_refs_json)
SELECT value ->> 'conv_id', value ->> 'session_id', value ->> 'turn_id', value ->> 'phase', value ->> 'created_at_ms',
  value ->> 'runtime_key', value ->> 'inference_id', value ->> 'metadata_json', value ->> 'data_json', value ->> 'extra_json',
  value -> 'block_refs'
FROM json_each(?1)`;

const INSERT_BLOCKS = `
INSERT INTO blocks (block_id, content_hash, hash_algorithm, kind, role, payload_json, block_metadata_json, first_seen_at_ms)
SELECT value ->> 'block_id', value ->> 'content_hash', value ->> 'hash_algorithm', value ->> 'kind', value ->> 'role',
  value ->> 'payload_json', value ->> 'metadata_json', value ->> 'first_seen_at_ms'
FROM json_each(?1) WHERE true
ON CONFLICT (block_id, content_hash) DO NOTHING`;

/**
 * The pointer rule: the runtime of the newest event (by event time; ties go to the later arrival)
 * wins, and an older event never moves it back. Also used by runtime switches.
 */
export const UPSERT_CONVERSATION_EVENTS = `
INSERT INTO conversations (conv_id, session_id, current_runtime_key, current_runtime_at_ms, created_at_ms,
  last_activity_ms, turn_count, snapshot_count)
SELECT e.value ->> 'conv_id', e.value ->> 'session_id', e.value ->> 'runtime_key',
  CASE WHEN e.value ->> 'runtime_key' <> '' THEN e.value ->> 'at_ms' ELSE 0 END,
  e.value ->> 'at_ms', e.value ->> 'at_ms',
  CASE WHEN e.value ->> 'first_of_turn' AND NOT EXISTS (
    SELECT 1 FROM turns AS t
    WHERE t.conv_id = e.value ->> 'conv_id' AND t.session_id = e.value ->> 'session_id' AND t.turn_id = e.value ->> 'turn_id'
  ) THEN 1 ELSE 0 END,
  e.value ->> 'snapshots'
FROM json_each(?1) AS e WHERE true
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
 * The turn roll-up (CONTRACT §3): runtime_key / inference_id are those of the turn's newest snapshot
 * (by created_at_ms, not arrival) that has one; metadata and data those of its newest snapshot.
 * A snapshot of one turn never touches another turn's row.
 */
const UPSERT_TURNS = `
INSERT INTO turns (conv_id, session_id, turn_id, turn_created_at_ms, turn_metadata_json, turn_data_json, updated_at_ms,
  runtime_key, inference_id, runtime_key_at_ms, inference_id_at_ms)
SELECT value ->> 'conv_id', value ->> 'session_id', value ->> 'turn_id', value ->> 'created_at_ms',
  value ->> 'metadata_json', value ->> 'data_json', value ->> 'created_at_ms',
  value ->> 'runtime_key', value ->> 'inference_id',
  CASE WHEN value ->> 'runtime_key' <> '' THEN value ->> 'created_at_ms' ELSE 0 END,
  CASE WHEN value ->> 'inference_id' <> '' THEN value ->> 'created_at_ms' ELSE 0 END
FROM json_each(?1) WHERE true
ON CONFLICT (conv_id, session_id, turn_id) DO UPDATE SET
  turn_created_at_ms = min(turn_created_at_ms, excluded.turn_created_at_ms),
  turn_metadata_json = CASE WHEN excluded.updated_at_ms >= updated_at_ms THEN excluded.turn_metadata_json ELSE turn_metadata_json END,
  turn_data_json = CASE WHEN excluded.updated_at_ms >= updated_at_ms THEN excluded.turn_data_json ELSE turn_data_json END,
  updated_at_ms = max(updated_at_ms, excluded.updated_at_ms),
  runtime_key = CASE
    WHEN excluded.runtime_key <> '' AND excluded.runtime_key_at_ms >= runtime_key_at_ms
    THEN excluded.runtime_key ELSE runtime_key END,
  runtime_key_at_ms = CASE
    WHEN excluded.runtime_key <> '' AND excluded.runtime_key_at_ms >= runtime_key_at_ms
    THEN excluded.runtime_key_at_ms ELSE runtime_key_at_ms END,
  inference_id = CASE
    WHEN excluded.inference_id <> '' AND excluded.inference_id_at_ms >= inference_id_at_ms
    THEN excluded.inference_id ELSE inference_id END,
  inference_id_at_ms = CASE
    WHEN excluded.inference_id <> '' AND excluded.inference_id_at_ms >= inference_id_at_ms
    THEN excluded.inference_id_at_ms ELSE inference_id_at_ms END`;

const SELECT_EXISTING = `
SELECT conv_id, session_id, turn_id, phase, created_at_ms, runtime_key, inference_id,
  turn_metadata_json, turn_data_json, turn_extra_json, block_refs_json
FROM turn_snapshots
WHERE (conv_id, session_id, turn_id, phase, created_at_ms) IN (
  SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4 FROM json_each(?1))`;

/** Same identity, different content: the stored snapshot is kept and the request refused. */
export class SnapshotConflictError extends Error {
  override name = "SnapshotConflictError";
  constructor(
    readonly index: number,
    message: string,
  ) {
    super(message);
  }
}

export type SaveOutcome = "created" | "unchanged";

export interface SaveResult {
  /** One per input snapshot, in order. */
  outcomes: SaveOutcome[];
  rowsWritten: number;
}

function fingerprintOf(s: PreparedSnapshot): string {
  return snapshotFingerprint({
    runtimeKey: s.runtimeKey,
    inferenceId: s.inferenceId,
    metadata: s.turn.metadata,
    data: s.turn.data,
    extra: s.turn.extra,
    blockRefs: blockRefs(s),
  });
}

function describe(s: SnapshotIdentity): string {
  return `(conv_id, session_id, turn_id, phase, created_at_ms) = ${identityKey(s)}`;
}

function writeStatements(db: D1Handle, snapshots: readonly PreparedSnapshot[]): D1PreparedStatement[] {
  const snapshotRows = snapshots.map((s) => ({
    conv_id: s.convId,
    session_id: s.sessionId,
    turn_id: s.turnId,
    phase: s.phase,
    created_at_ms: s.createdAtMs,
    runtime_key: s.runtimeKey,
    inference_id: s.inferenceId,
    metadata_json: s.metadataJson,
    data_json: s.dataJson,
    extra_json: s.extraJson,
    block_refs: blockRefs(s),
  }));
  const seenBlocks = new Set<string>();
  const blockRows = snapshots.flatMap((s) =>
    s.blocks.flatMap((b) => {
      const key = JSON.stringify([b.id, b.contentHash]);
      if (seenBlocks.has(key)) return [];
      seenBlocks.add(key);
      return [
        {
          block_id: b.id,
          content_hash: b.contentHash,
          hash_algorithm: b.hashAlgorithm,
          kind: b.kind,
          role: b.role,
          payload_json: b.payloadJson,
          metadata_json: b.metadataJson,
          first_seen_at_ms: s.createdAtMs,
        },
      ];
    }),
  );
  const seenTurns = new Set<string>();
  const eventRows = snapshots.map((s) => {
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
  const statements = (sql: string, rows: readonly unknown[]) =>
    jsonParameterChunks(rows).map((chunk) => db.prepare(sql).bind(chunk));
  return [
    ...statements(INSERT_SNAPSHOTS, snapshotRows),
    ...statements(INSERT_BLOCKS, blockRows),
    ...statements(UPSERT_CONVERSATION_EVENTS, eventRows),
    ...statements(UPSERT_TURNS, snapshotRows),
  ];
}

function isDuplicateSnapshotError(error: unknown): boolean {
  const text = String((error as { message?: unknown })?.message ?? error) + String((error as { cause?: unknown })?.cause ?? "");
  return /UNIQUE constraint failed: turn_snapshots\./.test(text);
}

type StoredFingerprintRow = Omit<SnapshotRow, "id">;

async function storedFingerprints(db: D1Handle, snapshots: readonly PreparedSnapshot[]): Promise<Map<string, string>> {
  const identities = snapshots.map((s) => [s.convId, s.sessionId, s.turnId, s.phase, s.createdAtMs]);
  const found = new Map<string, string>();
  for (const chunk of jsonParameterChunks(identities)) {
    const { results } = await db.prepare(SELECT_EXISTING).bind(chunk).all<StoredFingerprintRow>();
    for (const row of results) {
      found.set(
        identityKey({ convId: row.conv_id, sessionId: row.session_id, turnId: row.turn_id, phase: row.phase, createdAtMs: row.created_at_ms }),
        snapshotFingerprint({
          runtimeKey: row.runtime_key,
          inferenceId: row.inference_id,
          metadata: storedObject(row.turn_metadata_json),
          data: storedObject(row.turn_data_json),
          extra: row.turn_extra_json === "" ? {} : JSON.parse(row.turn_extra_json),
          blockRefs: JSON.parse(row.block_refs_json),
        }),
      );
    }
  }
  return found;
}

/**
 * Saves snapshots all-or-nothing. A snapshot identical to the stored one under its identity is
 * "unchanged" and writes nothing; a different one throws SnapshotConflictError and nothing of the
 * request is written. The common case (all new) costs exactly one batch.
 */
export async function saveSnapshots(db: D1Handle, snapshots: readonly PreparedSnapshot[]): Promise<SaveResult> {
  const outcomes: SaveOutcome[] = snapshots.map(() => "created");
  const firstIndex = new Map<string, number>();
  const fingerprints = snapshots.map(fingerprintOf);
  let pending: number[] = [];
  snapshots.forEach((s, i) => {
    const key = identityKey(s);
    const first = firstIndex.get(key);
    if (first === undefined) {
      firstIndex.set(key, i);
      pending.push(i);
    } else if (fingerprints[first] !== fingerprints[i]) {
      throw new SnapshotConflictError(i, `items[${i}] repeats the identity of items[${first}] with different content: ${describe(s)}`);
    } else {
      outcomes[i] = "unchanged";
    }
  });

  // Retried only when a concurrent writer stored one of our identities between our attempts.
  for (let attempt = 0; attempt < 3; attempt++) {
    if (pending.length === 0) return { outcomes, rowsWritten: 0 };
    try {
      const results = await db.batch(writeStatements(db, pending.map((i) => snapshots[i]!)));
      return { outcomes, rowsWritten: rowsWritten(results) };
    } catch (error) {
      if (!isDuplicateSnapshotError(error)) throw error;
    }
    const stored = await storedFingerprints(db, pending.map((i) => snapshots[i]!));
    pending = pending.filter((i) => {
      const existing = stored.get(identityKey(snapshots[i]!));
      if (existing === undefined) return true;
      if (existing !== fingerprints[i]) {
        throw new SnapshotConflictError(i, `a different snapshot is already stored under ${describe(snapshots[i]!)}`);
      }
      outcomes[i] = "unchanged";
      return false;
    });
  }
  throw new Error("snapshot write kept colliding with concurrent writers; retry the request");
}
