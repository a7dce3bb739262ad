import journal from "../../drizzle/meta/_journal.json";

/** The newest migration in drizzle/ when this Worker was built: the schema its code needs. */
export const EXPECTED_MIGRATION = `${journal.entries.at(-1)!.tag}.sql`;

/** A migration's number (0006 of 0006_trim_snapshot_indexes.sql). */
export const migrationNumber = (name: string): number => Number.parseInt(name, 10);

/** Name of the newest migration recorded in d1_migrations (wrangler's and the test harness's table). */
export async function lastAppliedMigration(db: D1Database): Promise<string | null> {
  const row = await db.prepare("SELECT name FROM d1_migrations ORDER BY id DESC LIMIT 1").first<{ name: string }>();
  return row?.name ?? null;
}

/** Maintenance that failed and waits to be retried (src/scheduled.ts), for /healthz and db:check. */
export interface WaitingMaintenance {
  /** Deletions whose last scheduled continuation failed. */
  deletions: number;
  /** Conversations whose legacy snapshots failed to convert. */
  conversions: number;
  /** Moves not finished (counted in the directory database only). */
  moves: number;
}

export async function waitingMaintenance(db: D1Database, directory: boolean): Promise<WaitingMaintenance> {
  const [deletions, conversions, moves] = await db.batch<{ n: number }>([
    db.prepare("SELECT count(*) AS n FROM conversation_deletions WHERE failures > 0"),
    db.prepare("SELECT count(*) AS n FROM conversion_failures"),
    db.prepare(
      directory
        ? "SELECT count(*) AS n FROM conversation_directory INDEXED BY conversation_directory_moves WHERE moving_to IS NOT NULL OR moved_from IS NOT NULL"
        : "SELECT 0 AS n",
    ),
  ]);
  const n = (r: D1Result<{ n: number }> | undefined) => r?.results[0]?.n ?? 0;
  return { deletions: n(deletions), conversions: n(conversions), moves: n(moves) };
}
