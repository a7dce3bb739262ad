/**
 * Runtime history: a conversation's turns, in creation order, grouped into consecutive runtime
 * segments — so inventory → planner → inventory is three segments. Built from each turn's own
 * runtime_key (the historical truth), never from the conversation pointer.
 */
export interface TurnRuntime {
  turnId: string;
  runtimeKey: string;
  createdAtMs: number;
  updatedAtMs: number;
}

export interface RuntimeSegment {
  runtime_key: string;
  first_turn_id: string;
  last_turn_id: string;
  from_ms: number;
  to_ms: number;
  turn_count: number;
}

/** `turns` must be in creation order (turn_created_at_ms, then turn_id). */
export function segmentRuntimeHistory(turns: readonly TurnRuntime[]): RuntimeSegment[] {
  const segments: RuntimeSegment[] = [];
  for (const turn of turns) {
    const current = segments[segments.length - 1];
    if (current && current.runtime_key === turn.runtimeKey) {
      current.last_turn_id = turn.turnId;
      current.to_ms = Math.max(current.to_ms, turn.updatedAtMs);
      current.turn_count += 1;
    } else {
      segments.push({
        runtime_key: turn.runtimeKey,
        first_turn_id: turn.turnId,
        last_turn_id: turn.turnId,
        from_ms: turn.createdAtMs,
        to_ms: turn.updatedAtMs,
        turn_count: 1,
      });
    }
  }
  return segments;
}
