/**
 * What the readers hand the import: rows in D1 column names (the store's own row types), the rows
 * that cannot be imported (named with table, key and reason) and warnings. Nothing here does I/O.
 */
import type { LegacyBlockRow, LegacyMembershipRow, LegacyTurnRow } from "./legacy-rows";
import { attributionProblem, normalizeAttribution } from "../../src/turn/attribution-value";
import { identifierProblem } from "../../src/turn/identifier";
import { DEFAULT_MAX_CLOCK_SKEW_MS, eventTimeProblem } from "../../src/turn/event-time";
import type { Layout } from "./layout";
import type { Row } from "../../tools/sqlite-file";

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

export interface Finding {
  /** Source table (or D1 table for findings made after writing). */
  table: string;
  key: Record<string, string | number>;
  reason: string;
}

/** Layouts A and B, read whole: the rows loadLegacyRows takes, and the bookkeeping of the summary. */
export interface NormalizedSource {
  layout: Layout;
  turns: LegacyTurnRow[];
  blocks: LegacyBlockRow[];
  membership: LegacyMembershipRow[];
  /** Rows the source offers per table (before rejections and duplicates); turn_snapshots = snapshot identities. */
  offered: Record<NormalizedTable, number>;
  /** Of those, how many cannot be imported (each named in notImported). */
  rejected: Record<NormalizedTable, number>;
  /** Snapshot identities and turns per conversation, as imported. */
  snapshotsByConv: Map<string, number>;
  turnsByConv: Map<string, number>;
  notImported: Finding[];
  warnings: Finding[];
}

export const NORMALIZED_TABLES = ["turns", "blocks", "turn_block_membership", "turn_snapshots"] as const;
export type NormalizedTable = (typeof NORMALIZED_TABLES)[number];

export const emptyCounts = (): Record<NormalizedTable, number> => ({ turns: 0, blocks: 0, turn_block_membership: 0, turn_snapshots: 0 });

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

/**
 * The clock imported rows are checked against (CONTRACT §6.3): this machine's, with the Worker's
 * default MAX_CLOCK_SKEW_MS. History is any time in the past; a time beyond the skew is refused, as
 * the Worker refuses it (it would stay a conversation's newest event forever).
 */
export interface ImportClock {
  nowMs: number;
  maxClockSkewMs: number;
}

export const importClock = (nowMs = Date.now()): ImportClock => ({ nowMs, maxClockSkewMs: DEFAULT_MAX_CLOCK_SKEW_MS });

const clockName = "the clock of this machine";

/** An event time column: a positive safe integer, not beyond the clock's skew (eventTimeProblem). */
export function eventTime(row: Row, column: string, clock: ImportClock): number {
  const value = integer(row, column);
  const problem = eventTimeProblem(column, value, clock.nowMs, clock.maxClockSkewMs, clockName);
  if (problem) throw new RowProblem(problem);
  return value;
}

/** An optional event time column: NULL or 0 is "not known" (0); anything else as eventTime. */
export function optionalEventTime(row: Row, column: string, clock: ImportClock): number {
  const value = integer(row, column, 0);
  return value === 0 ? 0 : eventTime(row, column, clock);
}

/** A key column that is an id: a non-empty string by the Worker's id rules (src/turn/identifier.ts). */
export function checkedIdentifier(row: Row, column: string, max?: number): string {
  const value = keyText(row, column);
  const problem = identifierProblem(column, value, max);
  if (problem) throw new RowProblem(problem);
  return value;
}

/** A runtime key or inference id column ('' when absent): trimmed and checked by the Worker's one rule. */
export function checkedAttribution(row: Row, column: string): string {
  const value = normalizeAttribution(textOr(row, column, ""));
  const problem = attributionProblem(column, value);
  if (problem) throw new RowProblem(problem);
  return value;
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
