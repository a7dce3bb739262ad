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
import { InputError } from "../lib/cli";
import type { Row, SqliteFile } from "./sqlite-file";
import { integer, keyText, rawKey, RowProblem, textOr, type Finding, type TimelineConversation } from "./legacy-source";
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

export function readTimelineRows(rows: readonly Row[]): TimelineRead {
  const byConv = new Map<string, TimelineConversation>();
  const notImported: Finding[] = [];
  for (const row of rows) {
    try {
      const lastActivity = integer(row, "last_activity_ms", integer(row, "updated_at_ms", 0));
      const created = integer(row, "created_at_ms", 0);
      const conversation: TimelineConversation = {
        conv_id: keyText(row, "conv_id"),
        session_id: textOr(row, "session_id", "").trim(),
        runtime_key: textOr(row, "runtime_key", "").trim(),
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

export function readTimelineFile(file: SqliteFile): TimelineRead & { otherTables: Array<{ table: string; rows: number }> } {
  const columns = file.tables.get(TIMELINE_TABLE);
  if (!columns) {
    throw new InputError(`${file.path} has no ${TIMELINE_TABLE} table (it has ${[...file.tables.keys()].join(", ") || "no tables"})`);
  }
  const read = readTimelineRows(file.rows(timelineQuery(columns, file.path)));
  const otherTables = [...file.tables.keys()].filter((t) => t !== TIMELINE_TABLE).map((table) => ({ table, rows: file.count(table) }));
  return { ...read, otherTables };
}
