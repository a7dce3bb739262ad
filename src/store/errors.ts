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
