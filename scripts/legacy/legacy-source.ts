/**
 * What an import writes, in D1 column names, and the bookkeeping the summary needs: rows per
 * table, rows that cannot be imported (named with table, key and reason), warnings. Readers for
 * each layout produce a LegacySource; nothing here does I/O.
 */
import type { Layout } from "./layout";
import type { Row } from "./sqlite-file";

export interface TurnRow {
  conv_id: string;
  session_id: string;
  turn_id: string;
  turn_created_at_ms: number;
  turn_metadata_json: string;
  turn_data_json: string;
  updated_at_ms: number;
  /** '' leaves it to the backfill (extraction rule on turn_metadata_json). */
  runtime_key: string;
  inference_id: string;
  /** 0 lets the backfill date a value found in metadata with updated_at_ms. */
  runtime_key_at_ms: number;
  inference_id_at_ms: number;
}

export interface BlockRow {
  block_id: string;
  content_hash: string;
  hash_algorithm: string;
  kind: string;
  role: string;
  payload_json: string;
  block_metadata_json: string;
  first_seen_at_ms: number;
}

export interface MembershipRow {
  conv_id: string;
  session_id: string;
  turn_id: string;
  phase: string;
  snapshot_created_at_ms: number;
  ordinal: number;
  block_id: string;
  content_hash: string;
}

/** A turn_snapshots row, as the Worker's store defines it (without the insertion-order id). */
export interface SnapshotRow {
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
  block_refs_json: string;
}

export interface TimelineConversation {
  conv_id: string;
  /** '' when the timeline row has none. */
  session_id: string;
  /** The conversation pointer the Go service kept ('' when unset). */
  runtime_key: string;
  created_at_ms: number;
  /** When the timeline last saw the conversation: the time its pointer is evidence for. */
  last_activity_ms: number;
}

/** The D1 tables an import writes, in summary order. */
export const IMPORT_TABLES = ["turns", "blocks", "turn_block_membership", "turn_snapshots", "conversations"] as const;
export type ImportTable = (typeof IMPORT_TABLES)[number];

export type SourceTable = Exclude<ImportTable, "conversations">;

export const emptyCounts = (): Record<SourceTable, number> => ({ turns: 0, blocks: 0, turn_block_membership: 0, turn_snapshots: 0 });

export interface Finding {
  /** Source table (or D1 table for findings made after writing). */
  table: string;
  key: Record<string, string | number>;
  reason: string;
}

export interface LegacySource {
  layout: Layout;
  turns: TurnRow[];
  blocks: BlockRow[];
  membership: MembershipRow[];
  /** Layout C only: snapshots re-normalized from their payloads. */
  snapshots: SnapshotRow[];
  /** Rows the source offers for each D1 table (before rejections and duplicates). */
  offered: Record<SourceTable, number>;
  /** Of those, how many cannot be imported (each named in notImported). */
  rejected: Record<SourceTable, number>;
  /** Snapshot identities per conversation, and turns per conversation, as imported. */
  snapshotsByConv: Map<string, number>;
  turnsByConv: Map<string, number>;
  notImported: Finding[];
  warnings: Finding[];
  /** Source tables this layout does not read, with their row counts. */
  otherTables: Array<{ table: string; rows: number }>;
}

/** A source value that cannot become the D1 value it must be; the row is named and left out. */
export class RowProblem extends Error {
  override name = "RowProblem";
}

const decoder = new TextDecoder();

function asText(value: Row[string] | undefined): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === "string") return value;
  if (typeof value === "number") return String(value);
  return decoder.decode(value);
}

/** A key column: must be a non-empty string (the Go store refused blank ids). */
export function keyText(row: Row, column: string): string {
  const text = asText(row[column]);
  if (text === null || text.trim() === "") throw new RowProblem(`${column} is ${text === null ? "NULL" : "empty"}`);
  return text;
}

/** A text column with a default for NULL (the legacy schema's NOT NULL DEFAULTs). */
export function textOr(row: Row, column: string, fallback: string): string {
  if (!(column in row)) return fallback;
  return asText(row[column]) ?? fallback;
}

/** An integer column; NULL gives `fallback` when there is one. */
export function integer(row: Row, column: string, fallback?: number): number {
  const value = column in row ? row[column] : null;
  if (value === null || value === undefined) {
    if (fallback !== undefined) return fallback;
    throw new RowProblem(`${column} is NULL`);
  }
  if (typeof value === "number" && Number.isSafeInteger(value)) return value;
  if (typeof value === "string" && /^-?\d{1,15}$/.test(value.trim())) return Number(value.trim());
  throw new RowProblem(`${column} is not an integer (${JSON.stringify(asText(value))})`);
}

/** Whether the text is a JSON object: what the extraction rule and the debug API read. */
export function isJsonObjectText(text: string): boolean {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === "object" && value !== null && !Array.isArray(value);
  } catch {
    return false;
  }
}

export function countBy<T>(items: readonly T[], keyOf: (item: T) => string): Map<string, number> {
  const out = new Map<string, number>();
  for (const item of items) out.set(keyOf(item), (out.get(keyOf(item)) ?? 0) + 1);
  return out;
}

export const turnKey = (r: { conv_id: string; session_id: string; turn_id: string }) =>
  JSON.stringify([r.conv_id, r.session_id, r.turn_id]);

export const blockKey = (r: { block_id: string; content_hash: string }) => JSON.stringify([r.block_id, r.content_hash]);

/** The key columns of a source row as they are, for naming a row that could not be read. */
export function rawKey(row: Row, columns: readonly string[]): Record<string, string | number> {
  const key: Record<string, string | number> = {};
  for (const column of columns) {
    const value = row[column];
    key[column] = typeof value === "number" ? value : (asText(value) ?? "NULL");
  }
  return key;
}
