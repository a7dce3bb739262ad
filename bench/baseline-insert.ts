/**
 * BENCH-ONLY (bench/worker.ts, and the stage profile of bench/write-cost.ts from Node): the baseline's
 * write, one single-row insert into an existing table, so the bench needs no migration.
 */
import type { D1Handle } from "../src/store/d1";

const INSERT_ONE_ROW = `INSERT INTO conversations (conv_id, session_id, created_at_ms, last_activity_ms) VALUES (?1, 'bench-baseline', ?2, ?2)`;
export async function insertBaselineRow(db: D1Handle, convId: string, atMs: number): Promise<number> {
  return (await db.prepare(INSERT_ONE_ROW).bind(convId, atMs).run()).meta.rows_written;
}
