/**
 * Layout C: the original single-table snapshot store, one YAML payload per snapshot. Each payload
 * goes through the Worker's own parsing, normalization, attribution and block hashing
 * (prepareSnapshot), so an imported snapshot is stored exactly as if it had been posted — with its
 * own runtime and inference — and the turn roll-up follows the Worker's rule.
 */
import { canonicalJson } from "../../src/turn/canonical-json";
import { prepareSnapshot, type PreparedSnapshot } from "../../src/turn/snapshot";
import { parseTurnYaml, TurnFormatError } from "../../src/turn/turn";
import type { Layout } from "./layout";
import {
  blockKey,
  countBy,
  emptyCounts,
  integer,
  keyText,
  rawKey,
  RowProblem,
  textOr,
  turnKey,
  type BlockRow,
  type Finding,
  type LegacySource,
  type SnapshotRow,
  type TurnRow,
} from "./legacy-source";
import { quoteIdentifier, type Row } from "./sqlite-file";

export function snapshotStoreQuery(layout: Layout): string {
  const session = layout.sessionColumn === "session_id" ? "session_id" : `${quoteIdentifier("run_id")} AS session_id`;
  // Table order is arrival order: a later row wins ties on created_at_ms, as a later post would.
  return `SELECT conv_id, ${session}, turn_id, phase, created_at_ms, payload FROM turns`;
}

const SNAPSHOT_KEY = ["conv_id", "session_id", "turn_id", "phase", "created_at_ms"];

/**
 * The turn row the Worker keeps for these snapshots (arrival order): created = oldest snapshot,
 * updated = newest, metadata/data of the newest, runtime/inference of the newest snapshot that has
 * one, dated by that snapshot. Ties on created_at_ms go to the later arrival.
 */
export function rollUpTurn(snapshots: readonly SnapshotRow[]): TurnRow {
  const first = snapshots[0]!;
  const turn: TurnRow = {
    conv_id: first.conv_id,
    session_id: first.session_id,
    turn_id: first.turn_id,
    turn_created_at_ms: first.created_at_ms,
    turn_metadata_json: first.turn_metadata_json,
    turn_data_json: first.turn_data_json,
    updated_at_ms: first.created_at_ms,
    runtime_key: first.runtime_key,
    inference_id: first.inference_id,
    runtime_key_at_ms: first.runtime_key !== "" ? first.created_at_ms : 0,
    inference_id_at_ms: first.inference_id !== "" ? first.created_at_ms : 0,
  };
  for (const s of snapshots.slice(1)) {
    turn.turn_created_at_ms = Math.min(turn.turn_created_at_ms, s.created_at_ms);
    if (s.created_at_ms >= turn.updated_at_ms) {
      turn.turn_metadata_json = s.turn_metadata_json;
      turn.turn_data_json = s.turn_data_json;
      turn.updated_at_ms = s.created_at_ms;
    }
    if (s.runtime_key !== "" && s.created_at_ms >= turn.runtime_key_at_ms) {
      turn.runtime_key = s.runtime_key;
      turn.runtime_key_at_ms = s.created_at_ms;
    }
    if (s.inference_id !== "" && s.created_at_ms >= turn.inference_id_at_ms) {
      turn.inference_id = s.inference_id;
      turn.inference_id_at_ms = s.created_at_ms;
    }
  }
  return turn;
}

interface SnapshotFields {
  conv_id: string;
  session_id: string;
  turn_id: string;
  phase: string;
  created_at_ms: number;
  payload: string;
}

function readFields(row: Row): SnapshotFields {
  return {
    conv_id: keyText(row, "conv_id"),
    session_id: keyText(row, "session_id"),
    turn_id: textOr(row, "turn_id", "").trim(),
    phase: keyText(row, "phase"),
    created_at_ms: integer(row, "created_at_ms"),
    payload: keyText(row, "payload"),
  };
}

/** Parses and normalizes one payload. As the Go backfill did, the payload's own turn id wins over the column. */
async function prepare(fields: SnapshotFields): Promise<PreparedSnapshot> {
  const raw = parseTurnYaml(fields.payload, "payload") as Record<string, unknown>;
  const ownId = typeof raw.id === "string" ? raw.id.trim() : "";
  const turnId = ownId || fields.turn_id;
  if (turnId === "") throw new RowProblem("neither the turn_id column nor the payload gives a turn id");
  return prepareSnapshot(
    {
      conv_id: fields.conv_id,
      session_id: fields.session_id,
      turn_id: turnId,
      phase: fields.phase,
      created_at_ms: fields.created_at_ms,
      turn: { ...raw, id: turnId },
    },
    // History: the event-time bound of live writes does not apply.
    { nowMs: fields.created_at_ms, maxClockSkewMs: Number.POSITIVE_INFINITY },
  );
}

export async function readSnapshotStore(layout: Layout, rows: readonly Row[]): Promise<LegacySource> {
  const notImported: Finding[] = [];
  const rejected = emptyCounts();
  const snapshots = new Map<string, { row: SnapshotRow; fingerprint: string }>();
  const blocks = new Map<string, BlockRow>();
  let duplicates = 0;

  for (const row of rows) {
    let prepared: PreparedSnapshot;
    try {
      prepared = await prepare(readFields(row));
    } catch (error) {
      if (!(error instanceof RowProblem) && !(error instanceof TurnFormatError)) throw error;
      rejected.turn_snapshots += 1;
      notImported.push({ table: "turns", key: rawKey(row, SNAPSHOT_KEY), reason: error.message });
      continue;
    }
    const snapshot: SnapshotRow = {
      conv_id: prepared.convId,
      session_id: prepared.sessionId,
      turn_id: prepared.turnId,
      phase: prepared.phase,
      created_at_ms: prepared.createdAtMs,
      runtime_key: prepared.runtimeKey,
      inference_id: prepared.inferenceId,
      turn_metadata_json: prepared.metadataJson,
      turn_data_json: prepared.dataJson,
      turn_extra_json: prepared.extraJson,
      block_refs_json: JSON.stringify(prepared.blocks.map((b) => [b.id, b.contentHash])),
    };
    const identity = JSON.stringify([snapshot.conv_id, snapshot.session_id, snapshot.turn_id, snapshot.phase, snapshot.created_at_ms]);
    const fingerprint = canonicalJson([snapshot, prepared.blocks]);
    const seen = snapshots.get(identity);
    if (seen) {
      if (seen.fingerprint === fingerprint) {
        duplicates += 1;
      } else {
        rejected.turn_snapshots += 1;
        notImported.push({
          table: "turns",
          key: { conv_id: snapshot.conv_id, session_id: snapshot.session_id, turn_id: snapshot.turn_id, phase: snapshot.phase, created_at_ms: snapshot.created_at_ms },
          reason: "another row is the same snapshot (conv_id, session_id, turn_id, phase, created_at_ms) with different content (the first is kept)",
        });
      }
      continue;
    }
    snapshots.set(identity, { row: snapshot, fingerprint });
    for (const b of prepared.blocks) {
      const key = blockKey({ block_id: b.id, content_hash: b.contentHash });
      const known = blocks.get(key);
      if (known) {
        known.first_seen_at_ms = Math.min(known.first_seen_at_ms, prepared.createdAtMs);
        continue;
      }
      blocks.set(key, {
        block_id: b.id,
        content_hash: b.contentHash,
        hash_algorithm: b.hashAlgorithm,
        kind: b.kind,
        role: b.role,
        payload_json: b.payloadJson,
        block_metadata_json: b.metadataJson,
        first_seen_at_ms: prepared.createdAtMs,
      });
    }
  }

  const kept = [...snapshots.values()].map((s) => s.row);
  const byTurn = new Map<string, SnapshotRow[]>();
  for (const s of kept) {
    const group = byTurn.get(turnKey(s));
    if (group) group.push(s);
    else byTurn.set(turnKey(s), [s]);
  }
  const turns = [...byTurn.values()].map(rollUpTurn);
  return {
    layout,
    turns,
    blocks: [...blocks.values()],
    membership: [],
    snapshots: kept,
    offered: { turns: turns.length, blocks: blocks.size, turn_block_membership: 0, turn_snapshots: rows.length },
    rejected,
    turnsByConv: countBy(turns, (t) => t.conv_id),
    snapshotsByConv: countBy(kept, (s) => s.conv_id),
    notImported,
    warnings: duplicates > 0 ? [{ table: "turns", key: {}, reason: `${duplicates} row(s) repeat an earlier snapshot exactly and were imported once` }] : [],
    otherTables: [],
  };
}
