/**
 * The body of GET /api/debug/turns from a page of store records: used by its handler, and by the
 * bench (bench/read-cost.ts), which times the page's serialization in Node — so this module
 * needs nothing of the Worker's Env.
 */
import type { SnapshotRecord } from "../../store/snapshot-reads";

/** The filter as the query gave it (echoed in the body; absent filters as "" and 0). */
export interface TurnListQuery {
  conv_id?: string;
  session_id?: string;
  phase?: string;
  runtime_key?: string;
  inference_id?: string;
  since_ms?: number;
}

/** `content` adds each item's payload (or its block count for `payload=none`). */
export function turnListBody<C extends object>(
  query: TurnListQuery,
  records: readonly SnapshotRecord[],
  content: (r: SnapshotRecord, i: number) => C,
  nextCursor: string | null,
) {
  return {
    conv_id: query.conv_id ?? "",
    session_id: query.session_id ?? "",
    phase: query.phase ?? "",
    runtime_key: query.runtime_key ?? "",
    inference_id: query.inference_id ?? "",
    since_ms: query.since_ms ?? 0,
    items: records.map((r, i) => ({
      conv_id: r.convId,
      session_id: r.sessionId,
      turn_id: r.turnId,
      phase: r.phase,
      runtime_key: r.runtimeKey,
      inference_id: r.inferenceId,
      created_at_ms: r.createdAtMs,
      model_mismatch: r.modelMismatch,
      ...content(r, i),
    })),
    next_cursor: nextCursor,
  };
}
