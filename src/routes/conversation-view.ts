import type { ConversationRow } from "../store/conversations";

/** A conversation as the API shows it: the pointer is `resolved_runtime_key`, never `runtime_key`. */
export function conversationView(row: ConversationRow) {
  return {
    conv_id: row.convId,
    session_id: row.sessionId,
    resolved_runtime_key: row.currentRuntimeKey,
    created_at_ms: row.createdAtMs,
    last_activity_ms: row.lastActivityMs,
    turn_count: row.turnCount,
    snapshot_count: row.snapshotCount,
  };
}
