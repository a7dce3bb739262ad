/**
 * Layouts C and G: single-table stores with one YAML turn per row. Each row becomes the request a
 * client would post — `payload` is the row's YAML, geppetto's runtime_key / inference_id are the
 * request's explicit ones ('' = not given, so the metadata rule applies) — and is prepared by the
 * Worker's own code (prepareSnapshot: YAML reading, normalization, attribution, block hashing), with
 * the row's time as the clock, since history is not bound by the live clock-skew limit. Pure.
 */
import { identifierProblem, MAX_PHASE_LENGTH } from "../../src/turn/identifier";
import { prepareSnapshot, type PreparedSnapshot, type SnapshotRequest } from "../../src/turn/snapshot";
import { TurnFormatError } from "../../src/turn/turn";
import type { Layout } from "./layout";
import { integer, keyText, RowProblem, textOr } from "./legacy-source";
import { quoteIdentifier, type Row } from "./sqlite-file";

/** The key columns that name a row in findings. */
export const SNAPSHOT_KEY = ["conv_id", "session_id", "turn_id", "phase", "created_at_ms"];

export function snapshotStoreQuery(layout: Layout): string {
  const session = layout.sessionColumn === "session_id" ? "session_id" : `${quoteIdentifier("run_id")} AS session_id`;
  const attribution = layout.rowAttribution ? "runtime_key, inference_id, " : "";
  // Table order is arrival order: a later row wins ties on created_at_ms, as a later post would.
  return `SELECT conv_id, ${session}, turn_id, phase, ${attribution}created_at_ms, payload FROM ${quoteIdentifier(layout.snapshotTable)}`;
}

/** The distinct conversations of the rows (read before writing, to tell created from updated). */
export function snapshotStoreConversationsQuery(layout: Layout): string {
  return `SELECT DISTINCT conv_id FROM ${quoteIdentifier(layout.snapshotTable)}`;
}

export interface SnapshotRow {
  request: SnapshotRequest;
  /** The turn_id column (trimmed): the turn's id when the payload has none. */
  columnTurnId: string;
}

function checkedIdentifier(row: Row, column: string, max?: number): string {
  const value = keyText(row, column);
  const problem = identifierProblem(column, value, max);
  if (problem) throw new RowProblem(problem);
  return value;
}

/** A source row as the request a client would post. Throws RowProblem for a key that cannot be stored. */
export function snapshotRequestOf(row: Row, layout: Layout): SnapshotRow {
  const request: SnapshotRequest = {
    conv_id: checkedIdentifier(row, "conv_id"),
    session_id: checkedIdentifier(row, "session_id"),
    phase: checkedIdentifier(row, "phase", MAX_PHASE_LENGTH),
    created_at_ms: integer(row, "created_at_ms"),
    payload: keyText(row, "payload"),
  };
  if (layout.rowAttribution) {
    request.runtime_key = textOr(row, "runtime_key", "");
    request.inference_id = textOr(row, "inference_id", "");
  }
  return { request, columnTurnId: textOr(row, "turn_id", "").trim() };
}

/**
 * Prepares a row's snapshot. As the Go backfill did, the payload's own turn id wins; the turn_id
 * column is used only when the payload has none (geppetto omits an empty id).
 */
export async function prepareSnapshotRow({ request, columnTurnId }: SnapshotRow): Promise<PreparedSnapshot> {
  const options = { nowMs: request.created_at_ms!, maxClockSkewMs: Number.POSITIVE_INFINITY };
  try {
    return await prepareSnapshot(request, options);
  } catch (error) {
    if (!(error instanceof TurnFormatError) || error.code !== "TURN_ID_REQUIRED" || columnTurnId === "") throw error;
    const problem = identifierProblem("turn_id", columnTurnId);
    if (problem) throw new RowProblem(`the payload has no id, and ${problem}`);
    return prepareSnapshot({ ...request, turn_id: columnTurnId }, options);
  }
}
