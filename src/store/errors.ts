/**
 * What the store refuses, with the error code the API answers (src/http/app.ts maps them once).
 * The store knows nothing of HTTP; the codes are the contract's names.
 */
export type StoreErrorCode =
  | "SNAPSHOT_CONFLICT"
  | "UNKNOWN_BLOCK_REF"
  | "UNKNOWN_CONVERSATION"
  | "CONVERSATION_DELETING"
  | "TOO_MANY_BLOCKS"
  | "FORBIDDEN"
  | "CONVERSATION_MOVING"
  | "CONVERSATION_MOVED"
  | "ROW_TOO_LARGE"
  | "UNAVAILABLE";

export class StoreError extends Error {
  override name = "StoreError";
  constructor(
    readonly code: StoreErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** A conversation_moves row's state (src/store/moves.ts). */
export type MoveState = "leaving" | "arriving" | "moved";

export const isMoveState = (value: unknown): value is MoveState => value === "leaving" || value === "arriving" || value === "moved";

/**
 * A write that reached a database its conversation is moving out of or into (409, retried after the
 * move), or has left — the caller routes it again (src/http/database.ts).
 */
export function movingError(convId: string, state: MoveState, other: string): StoreError {
  return state === "moved"
    ? new StoreError("CONVERSATION_MOVED", `conversation ${JSON.stringify(convId)} now lives in ${other}`)
    : new StoreError("CONVERSATION_MOVING", `conversation ${JSON.stringify(convId)} is moving to another database; retry in a moment`);
}
