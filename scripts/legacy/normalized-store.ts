/**
 * Layouts A and B: the pre-cutover normalized store (turns, blocks, turn_block_membership) is read
 * as it is — blocks keep their stored hashes — so that loadLegacyRows, the backfill and the
 * conversion (scripts/legacy/legacy-rows.ts) treat it exactly as an old D1 database. Pure given the rows.
 */
import type { LegacyBlockRow as BlockRow, LegacyMembershipRow as MembershipRow, LegacyTurnRow as TurnRow } from "./legacy-rows";
import { INFERENCE_PROBE, RUNTIME_PROBE } from "../../src/turn/attribution";
import { resolveAttributionValue } from "../../src/turn/attribution-value";
import { HASH_ALGORITHM } from "../../src/turn/block-hash";
import { MAX_PHASE_LENGTH } from "../../src/turn/identifier";
import { MAX_STORED_ROW_BYTES } from "../../src/turn/snapshot";
import type { Layout } from "./layout";
import {
  blockKey,
  checkedIdentifier,
  countBy,
  emptyCounts,
  eventTime,
  importClock,
  integer,
  isJsonObjectText,
  keyText,
  optionalEventTime,
  rawKey,
  RowProblem,
  textOr,
  turnKey,
  type Finding,
  type ImportClock,
  type NormalizedSource,
} from "./legacy-source";
import { quoteIdentifier, type Row } from "../../tools/sqlite-file";

export interface NormalizedStoreRows {
  turns: Row[];
  blocks: Row[];
  membership: Row[];
}

const TURN_KEY = ["conv_id", "session_id", "turn_id"];

const utf8 = new TextEncoder();

/** D1 refuses rows over 2 MB: such a row is named and left out instead of failing the whole load. */
function assertStorable(...texts: string[]): void {
  const bytes = texts.reduce((sum, text) => sum + utf8.encode(text).length, 0);
  if (bytes > MAX_STORED_ROW_BYTES)
    throw new RowProblem(`the row would be ${bytes} bytes; D1 stores at most ${MAX_STORED_ROW_BYTES} per row`);
}
const BLOCK_KEY = ["block_id", "content_hash"];
const SNAPSHOT_KEY = ["conv_id", "session_id", "turn_id", "phase", "snapshot_created_at_ms"];

export function selectColumns(table: string, available: readonly string[], wanted: readonly string[]): string {
  const columns = wanted.filter((c) => available.includes(c));
  return `SELECT ${columns.map(quoteIdentifier).join(", ")} FROM ${quoteIdentifier(table)}`;
}

export function normalizedStoreQueries(layout: Layout, tables: Map<string, string[]>): Record<keyof NormalizedStoreRows, string> {
  return {
    turns: selectColumns("turns", tables.get("turns")!, [
      ...TURN_KEY,
      "turn_created_at_ms",
      "turn_metadata_json",
      "turn_data_json",
      "updated_at_ms",
      "runtime_key",
      "inference_id",
    ]),
    blocks: selectColumns("blocks", tables.get("blocks")!, [...BLOCK_KEY, "kind", ...layout.blockColumns]),
    membership: selectColumns("turn_block_membership", tables.get("turn_block_membership")!, [
      ...SNAPSHOT_KEY,
      "ordinal",
      "block_id",
      "content_hash",
    ]),
  };
}

/** Keeps the first row per key; an identical repeat is a duplicate, a different one is named. */
class FirstByKey<T> {
  readonly rows = new Map<string, T>();
  duplicates = 0;
  add(key: string, row: T, onConflict: () => void): boolean {
    const seen = this.rows.get(key);
    if (seen === undefined) {
      this.rows.set(key, row);
      return true;
    }
    if (JSON.stringify(seen) === JSON.stringify(row)) this.duplicates += 1;
    else onConflict();
    return false;
  }
}

/**
 * A turn's runtime key or inference id: the stored column (layouts already migrated) trimmed, or ''
 * for the backfill to fill from the metadata — the value either gives is held to the Worker's one
 * rule (src/turn/attribution-value.ts), so a lookalike or oversized value in an old row is named
 * instead of becoming a turn's runtime and the conversation's pointer.
 */
function storedAttribution(column: string, metadataJson: string, probe: typeof RUNTIME_PROBE): string {
  const resolved = resolveAttributionValue(column, metadataJson, probe, {
    explicit: probe === RUNTIME_PROBE ? "runtime_key" : "inference_id",
    metadata: "turn_metadata_json",
  });
  if (resolved.problem) throw new RowProblem(resolved.problem);
  return resolved.source === "explicit" ? resolved.value : "";
}

/**
 * The rows of layouts A and B, checked by the Worker's rules (CONTRACT §6.3): ids by the id rules,
 * times positive and not beyond `clock`'s skew, runtime keys and inference ids (stored or in the
 * metadata) by their one rule. A row that breaks one is named in notImported and left out.
 */
export function readNormalizedStore(layout: Layout, source: NormalizedStoreRows, clock: ImportClock = importClock()): NormalizedSource {
  const notImported: Finding[] = [];
  const warnings: Finding[] = [];
  const rejected = emptyCounts();

  const turns = new FirstByKey<TurnRow>();
  for (const row of source.turns) {
    let turn: TurnRow;
    try {
      const ids = {
        conv_id: checkedIdentifier(row, "conv_id"),
        session_id: checkedIdentifier(row, "session_id"),
        turn_id: checkedIdentifier(row, "turn_id"),
      };
      const created = eventTime(row, "turn_created_at_ms", clock);
      const updated = layout.hasUpdatedAt ? optionalEventTime(row, "updated_at_ms", clock) : 0;
      const metadataJson = textOr(row, "turn_metadata_json", "{}");
      turn = {
        ...ids,
        turn_created_at_ms: created,
        // As the Go migration did: a missing or zero updated_at_ms is the turn's creation time.
        updated_at_ms: updated > 0 ? updated : created,
        turn_metadata_json: metadataJson,
        turn_data_json: textOr(row, "turn_data_json", "{}"),
        runtime_key: storedAttribution(layout.hasRuntimeKey ? textOr(row, "runtime_key", "") : "", metadataJson, RUNTIME_PROBE),
        inference_id: storedAttribution(layout.hasInferenceId ? textOr(row, "inference_id", "") : "", metadataJson, INFERENCE_PROBE),
        runtime_key_at_ms: 0,
        inference_id_at_ms: 0,
      };
      assertStorable(turn.turn_metadata_json, turn.turn_data_json, turn.conv_id, turn.session_id, turn.turn_id);
    } catch (error) {
      if (!(error instanceof RowProblem)) throw error;
      rejected.turns += 1;
      notImported.push({ table: "turns", key: rawKey(row, TURN_KEY), reason: error.message });
      continue;
    }
    const key = { conv_id: turn.conv_id, session_id: turn.session_id, turn_id: turn.turn_id };
    const added = turns.add(turnKey(turn), turn, () => {
      rejected.turns += 1;
      notImported.push({ table: "turns", key, reason: "another turns row has the same key and different content (the first is kept)" });
    });
    if (!added) continue;
    if (!isJsonObjectText(turn.turn_metadata_json)) {
      warnings.push({
        table: "turns",
        key,
        reason: "turn_metadata_json is not a JSON object: kept as stored; the extraction rule finds nothing in it",
      });
    }
    if (!isJsonObjectText(turn.turn_data_json)) {
      warnings.push({ table: "turns", key, reason: "turn_data_json is not a JSON object: kept as stored" });
    }
  }

  // Membership first: a block without first_seen_at_ms takes the oldest snapshot that uses it.
  const membership = new FirstByKey<MembershipRow>();
  const snapshotIdentities = new Set<string>();
  for (const row of source.membership) {
    let member: MembershipRow;
    try {
      member = {
        conv_id: checkedIdentifier(row, "conv_id"),
        session_id: checkedIdentifier(row, "session_id"),
        turn_id: checkedIdentifier(row, "turn_id"),
        phase: checkedIdentifier(row, "phase", MAX_PHASE_LENGTH),
        snapshot_created_at_ms: eventTime(row, "snapshot_created_at_ms", clock),
        ordinal: integer(row, "ordinal"),
        block_id: keyText(row, "block_id"),
        content_hash: keyText(row, "content_hash"),
      };
    } catch (error) {
      if (!(error instanceof RowProblem)) throw error;
      rejected.turn_block_membership += 1;
      notImported.push({ table: "turn_block_membership", key: rawKey(row, [...SNAPSHOT_KEY, "ordinal"]), reason: error.message });
      continue;
    }
    snapshotIdentities.add(snapshotKey(member));
    membership.add(JSON.stringify([snapshotKey(member), member.ordinal]), member, () => {
      rejected.turn_block_membership += 1;
      notImported.push({
        table: "turn_block_membership",
        key: { ...snapshotKeyObject(member), ordinal: member.ordinal },
        reason: "another membership row has the same key and a different block (the first is kept)",
      });
    });
  }

  const oldestUse = new Map<string, number>();
  for (const m of membership.rows.values()) {
    const key = blockKey(m);
    oldestUse.set(key, Math.min(oldestUse.get(key) ?? Infinity, m.snapshot_created_at_ms));
  }

  const blocks = new FirstByKey<BlockRow>();
  for (const row of source.blocks) {
    let block: BlockRow;
    try {
      const block_id = keyText(row, "block_id");
      const content_hash = keyText(row, "content_hash");
      const firstUse = oldestUse.get(blockKey({ block_id, content_hash }));
      block = {
        block_id,
        content_hash,
        hash_algorithm: textOr(row, "hash_algorithm", HASH_ALGORITHM) || HASH_ALGORITHM,
        kind: keyText(row, "kind"),
        role: textOr(row, "role", ""),
        payload_json: textOr(row, "payload_json", "{}"),
        block_metadata_json: textOr(row, "block_metadata_json", "{}"),
        first_seen_at_ms: integer(row, "first_seen_at_ms", firstUse ?? 0),
      };
      assertStorable(block.payload_json, block.block_metadata_json, block.block_id, block.role, block.kind);
    } catch (error) {
      if (!(error instanceof RowProblem)) throw error;
      rejected.blocks += 1;
      notImported.push({ table: "blocks", key: rawKey(row, BLOCK_KEY), reason: error.message });
      continue;
    }
    const key = { block_id: block.block_id, content_hash: block.content_hash };
    const added = blocks.add(blockKey(block), block, () => {
      rejected.blocks += 1;
      notImported.push({ table: "blocks", key, reason: "another blocks row has the same key and different content (the first is kept)" });
    });
    if (added && (!isJsonObjectText(block.payload_json) || !isJsonObjectText(block.block_metadata_json))) {
      warnings.push({ table: "blocks", key, reason: "payload_json or block_metadata_json is not a JSON object: kept as stored" });
    }
  }

  // A snapshot whose turn is missing cannot be carried over (the backfill takes metadata from the
  // turn); a snapshot referencing a missing block can, and the debug API shows a placeholder.
  const bySnapshot = new Map<string, MembershipRow[]>();
  for (const m of membership.rows.values()) {
    const key = snapshotKey(m);
    const members = bySnapshot.get(key);
    if (members) members.push(m);
    else bySnapshot.set(key, [m]);
  }
  const keptMembership: MembershipRow[] = [];
  const keptSnapshots: MembershipRow[] = [];
  for (const members of bySnapshot.values()) {
    const first = members[0]!;
    if (!turns.rows.has(turnKey(first))) {
      rejected.turn_block_membership += members.length;
      rejected.turn_snapshots += 1;
      notImported.push({
        table: "turn_block_membership",
        key: snapshotKeyObject(first),
        reason: `its turn is not in turns, so the snapshot (${members.length} block row(s)) has no turn to belong to`,
      });
      continue;
    }
    for (const m of members) {
      if (!blocks.rows.has(blockKey(m))) {
        warnings.push({
          table: "turn_block_membership",
          key: { ...snapshotKeyObject(m), ordinal: m.ordinal },
          reason: `block ${JSON.stringify(m.block_id)} (${m.content_hash}) is not in blocks: imported; the debug API shows a missing-block placeholder`,
        });
      }
    }
    keptMembership.push(...members);
    keptSnapshots.push(first);
  }

  const keptTurns = [...turns.rows.values()];
  return {
    layout,
    turns: keptTurns,
    blocks: [...blocks.rows.values()],
    membership: keptMembership,
    offered: {
      turns: source.turns.length,
      blocks: source.blocks.length,
      turn_block_membership: source.membership.length,
      turn_snapshots: snapshotIdentities.size,
    },
    rejected,
    turnsByConv: countBy(keptTurns, (t) => t.conv_id),
    snapshotsByConv: countBy(keptSnapshots, (m) => m.conv_id),
    notImported,
    warnings,
  };
}

function snapshotKey(m: MembershipRow): string {
  return JSON.stringify([m.conv_id, m.session_id, m.turn_id, m.phase, m.snapshot_created_at_ms]);
}

function snapshotKeyObject(m: MembershipRow): Record<string, string | number> {
  return {
    conv_id: m.conv_id,
    session_id: m.session_id,
    turn_id: m.turn_id,
    phase: m.phase,
    snapshot_created_at_ms: m.snapshot_created_at_ms,
  };
}
