/**
 * BENCH-ONLY — never imported by the production Worker (src/index.ts); see bench/worker.ts.
 *
 * The benchmark baseline's write: the cheapest write the Worker can make, one single-row insert into
 * an existing table, so `npm run bench` needs no migration. Also used by the bench's stage profile
 * (bench/write-cost.ts) from Node.
 */
import type { D1Handle } from "../src/store/d1";

const INSERT_ONE_ROW = `INSERT INTO conversations (conv_id, session_id, created_at_ms, last_activity_ms) VALUES (?1, 'bench-baseline', ?2, ?2)`;

export async function insertBaselineRow(db: D1Handle, convId: string, atMs: number): Promise<number> {
  const result = await db.prepare(INSERT_ONE_ROW).bind(convId, atMs).run();
  return result.meta.rows_written;
}
