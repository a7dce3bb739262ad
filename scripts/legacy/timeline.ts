/**
 * timeline.db (the Go web-chat's conversation index): `timeline_conversations.runtime_key` is the
 * conversation pointer. Accepted columns — conv_id and runtime_key are required:
 *
 *   conv_id            the conversation
 *   runtime_key        the pointer ('' = none)
 *   session_id         optional; the session to create the conversation with when D1 has no turns for it
 *   created_at_ms      optional; lowers the conversation's created_at_ms
 *   last_activity_ms   optional (updated_at_ms is accepted instead); the time the pointer is evidence
 *                      for, compared with the turns' times — newest evidence wins
 *
 * Other timeline tables (timeline_entities, timeline_versions) hold UI projections, not turns.
 */
import { identifierProblem } from "../../src/turn/identifier";
import { InputError } from "../../tools/cli";
import type { Row, SqliteFile } from "../../tools/sqlite-file";
import {
  checkedAttribution,
  checkedIdentifier,
  type ImportClock,
  importClock,
  optionalEventTime,
  rawKey,
  RowProblem,
  textOr,
  type Finding,
  type TimelineConversation,
} from "./legacy-source";
import { selectColumns } from "./normalized-store";

export const TIMELINE_TABLE = "timeline_conversations";

export function timelineQuery(columns: readonly string[], path: string): string {
  const absent = ["conv_id", "runtime_key"].filter((c) => !columns.includes(c));
  if (absent.length > 0) {
    throw new InputError(`${path}: ${TIMELINE_TABLE} has no ${absent.join(" or ")} column (it has ${columns.join(", ")})`);
  }
  return selectColumns(TIMELINE_TABLE, columns, [
    "conv_id",
    "session_id",
    "runtime_key",
    "created_at_ms",
    "last_activity_ms",
    "updated_at_ms",
  ]);
}

export interface TimelineRead {
  conversations: TimelineConversation[];
  read: number;
  notImported: Finding[];
}

/**
 * The timeline's rows, checked by the Worker's rules (CONTRACT §6.3): ids, the pointer's runtime key
 * (trimmed, by the one rule), and times (0 or NULL: not known; otherwise positive and not beyond
 * `clock`'s skew — a pointer dated 2^53 − 1 would never move again). A row that breaks one is named.
 */
export function readTimelineRows(rows: readonly Row[], clock: ImportClock = importClock()): TimelineRead {
  const byConv = new Map<string, TimelineConversation>();
  const notImported: Finding[] = [];
  for (const row of rows) {
    try {
      const conv_id = checkedIdentifier(row, "conv_id");
      const session_id = textOr(row, "session_id", "").trim();
      const sessionProblem = session_id === "" ? null : identifierProblem("session_id", session_id);
      if (sessionProblem) throw new RowProblem(sessionProblem);
      const runtime_key = checkedAttribution(row, "runtime_key");
      // last_activity_ms, or updated_at_ms where it is NULL or absent.
      const activityColumn = row.last_activity_ms === null || row.last_activity_ms === undefined ? "updated_at_ms" : "last_activity_ms";
      const lastActivity = optionalEventTime(row, activityColumn, clock);
      const created = optionalEventTime(row, "created_at_ms", clock);
      const conversation: TimelineConversation = {
        conv_id,
        session_id,
        runtime_key,
        created_at_ms: created > 0 ? created : lastActivity,
        last_activity_ms: lastActivity > 0 ? lastActivity : created,
      };
      const seen = byConv.get(conversation.conv_id);
      // conv_id is the table's primary key in the Go store; a copy without it keeps the newest row.
      if (!seen || conversation.last_activity_ms > seen.last_activity_ms) byConv.set(conversation.conv_id, conversation);
    } catch (error) {
      if (!(error instanceof RowProblem)) throw error;
      notImported.push({ table: TIMELINE_TABLE, key: rawKey(row, ["conv_id"]), reason: error.message });
    }
  }
  return { conversations: [...byConv.values()], read: rows.length, notImported };
}

export function readTimelineFile(
  file: SqliteFile,
  clock: ImportClock = importClock(),
): TimelineRead & { otherTables: Array<{ table: string; rows: number }> } {
  const columns = file.tables.get(TIMELINE_TABLE);
  if (!columns) {
    throw new InputError(`${file.path} has no ${TIMELINE_TABLE} table (it has ${[...file.tables.keys()].join(", ") || "no tables"})`);
  }
  const read = readTimelineRows(file.rows(timelineQuery(columns, file.path)), clock);
  const otherTables = [...file.tables.keys()].filter((t) => t !== TIMELINE_TABLE).map((table) => ({ table, rows: file.count(table) }));
  return { ...read, otherTables };
}
