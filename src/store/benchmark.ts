/**
 * The benchmark baseline's write (src/routes/bench-baseline.ts): the cheapest write the Worker can
 * make, one single-row insert into an existing table, so `npm run bench` needs no migration.
 */
import type { D1Handle } from "./d1";

const INSERT_ONE_ROW = `INSERT INTO conversations (conv_id, session_id, created_at_ms, last_activity_ms) VALUES (?1, 'bench-baseline', ?2, ?2)`;

export async function insertBaselineRow(db: D1Handle, convId: string, atMs: number): Promise<number> {
  const result = await db.prepare(INSERT_ONE_ROW).bind(convId, atMs).run();
  return result.meta.rows_written;
}
