/**
 * Layouts C and G: single-table stores with one YAML turn per row. Each row becomes the request a
 * client would post — `payload` is the row's YAML, geppetto's runtime_key / inference_id are the
 * request's explicit ones ('' = not given, so the metadata rule applies) — and is prepared by the
 * Worker's own code (prepareSnapshot: YAML reading, normalization, attribution, block hashing) and
 * held to the Worker's rules (CONTRACT §6.3): ids, runtime keys and inference ids as the Worker checks
 * them, times positive and not beyond the clock skew (importClock), and a turn_id column that
 * disagrees with the payload's own id reported, never imported under either name. Pure given the clock.
 */
import { identifierProblem, MAX_PHASE_LENGTH } from "../../src/turn/identifier";
import { prepareSnapshot, type PreparedSnapshot, type SnapshotRequest } from "../../src/turn/snapshot";
import type { Layout } from "./layout";
import { checkedIdentifier, eventTime, type ImportClock, importClock, keyText, RowProblem, textOr } from "./legacy-source";
import { quoteIdentifier, type Row } from "../../tools/sqlite-file";

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
  /** The turn_id column as stored ('' when blank): the turn's id, which the payload's own id must agree with. */
  columnTurnId: string;
  /** The clock the row's time was checked against (and its snapshot is prepared with). */
  clock: ImportClock;
}

/** A source row as the request a client would post. Throws RowProblem for a key that cannot be stored. */
export function snapshotRequestOf(row: Row, layout: Layout, clock: ImportClock = importClock()): SnapshotRow {
  const request: SnapshotRequest = {
    conv_id: checkedIdentifier(row, "conv_id"),
    session_id: checkedIdentifier(row, "session_id"),
    phase: checkedIdentifier(row, "phase", MAX_PHASE_LENGTH),
    created_at_ms: eventTime(row, "created_at_ms", clock),
    payload: keyText(row, "payload"),
  };
  if (layout.rowAttribution) {
    // Checked with the turn (prepareSnapshot): explicit values, by the one rule for runtime keys and inference ids.
    request.runtime_key = textOr(row, "runtime_key", "");
    request.inference_id = textOr(row, "inference_id", "");
  }
  const column = textOr(row, "turn_id", "");
  return { request, columnTurnId: column.trim() === "" ? "" : column, clock };
}

/**
 * Prepares a row's snapshot. The turn_id column is the request's turn_id: the payload's own id must
 * agree with it (a row that disagrees is refused, TURN_ID_MISMATCH, and named — never imported under
 * either id); a payload without an id takes it (geppetto omits an empty id and stores "turn").
 */
export async function prepareSnapshotRow({ request, columnTurnId, clock }: SnapshotRow): Promise<PreparedSnapshot> {
  const options = { nowMs: clock.nowMs, maxClockSkewMs: clock.maxClockSkewMs };
  if (columnTurnId === "") return prepareSnapshot(request, options);
  const problem = identifierProblem("turn_id", columnTurnId);
  if (problem) throw new RowProblem(problem);
  return prepareSnapshot({ ...request, turn_id: columnTurnId }, options);
}
