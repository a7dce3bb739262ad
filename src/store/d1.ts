import { StoreError } from "./errors";

/** What the store needs from D1: a database or a Sessions-API session (same prepare/batch surface). */
export type D1Handle = Pick<D1Database, "prepare" | "batch">;

/**
 * The databases an OTLP recording touches (CONTRACT §6.4; src/otlp/recording.ts): the trace memory
 * and held spans live in the directory database; each conversation's snapshots where the
 * conversation lives (src/http/database.ts routes them).
 */
export interface RecordingDatabases {
  memory: D1Handle;
  /** Runs a write on the database of a conversation (placed if new, routed again if it moved). */
  write<T>(convId: string, write: (db: D1Handle) => Promise<T>): Promise<T>;
}

/** D1 refuses strings over 2,000,000 bytes, bound parameters included: JSON parameters stay below. */
export const MAX_JSON_PARAMETER_BYTES = 1_950_000;

const utf8 = new TextEncoder();

/**
 * Splits rows into JSON-array parameters (for json_each) of at most MAX_JSON_PARAMETER_BYTES each.
 * One bound parameter per statement keeps every statement far below D1's 100-parameter limit,
 * however many blocks or items a request carries. A row that alone would pass the budget is refused
 * (ROW_TOO_LARGE) rather than sent: D1 would fail the batch with SQLITE_TOOBIG. The request's own
 * checks (turn/snapshot.ts) refuse such rows earlier, with their place in the request.
 */
export function jsonParameterChunks(rows: readonly unknown[], budget = MAX_JSON_PARAMETER_BYTES): string[] {
  const chunks: string[] = [];
  let current: string[] = [];
  let bytes = 2;
  for (const row of rows) {
    const text = JSON.stringify(row);
    const size = utf8.encode(text).length + 1;
    if (size + 2 > budget) {
      throw new StoreError("ROW_TOO_LARGE", `a row would be sent to D1 as ${size} bytes of JSON; at most ${budget - 3} fit one statement`);
    }
    if (current.length > 0 && bytes + size > budget) {
      chunks.push(`[${current.join(",")}]`);
      current = [];
      bytes = 2;
    }
    current.push(text);
    bytes += size;
  }
  if (current.length > 0) chunks.push(`[${current.join(",")}]`);
  return chunks;
}

export function rowsWritten(results: ReadonlyArray<D1Result>): number {
  return results.reduce((sum, r) => sum + (r.meta?.rows_written ?? 0), 0);
}

export function rowsRead(results: ReadonlyArray<D1Result>): number {
  return results.reduce((sum, r) => sum + (r.meta?.rows_read ?? 0), 0);
}

/**
 * D1 failures that say nothing about the request and pass on their own (D1's list of retryable
 * errors, plus SQLite's busy/locked): the API answers 503 UNAVAILABLE with Retry-After. Every write
 * is one batch, all or nothing, so retrying it is safe.
 */
const TRANSIENT = [
  "Network connection lost",
  "storage caused object to be reset",
  "reset because its code was updated",
  "overloaded",
  "SQLITE_BUSY",
  "database is locked",
  "Too many requests queued",
];

/** A D1 failure's text: its message and its cause's (D1 puts SQLite's message in either). */
export function d1ErrorText(error: unknown): string {
  return `${String((error as { message?: unknown })?.message ?? error)} ${String((error as { cause?: unknown })?.cause ?? "")}`;
}

export function isTransientD1Error(error: unknown): boolean {
  const text = d1ErrorText(error);
  return TRANSIENT.some((marker) => text.includes(marker));
}

/** Seconds a client should wait before retrying after a transient D1 failure. */
export const TRANSIENT_RETRY_AFTER_SECONDS = 2;
