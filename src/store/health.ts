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
}

export async function waitingMaintenance(db: D1Database): Promise<WaitingMaintenance> {
  const [deletions, conversions] = await db.batch<{ n: number }>([
    db.prepare("SELECT count(*) AS n FROM conversation_deletions WHERE failures > 0"),
    db.prepare("SELECT count(*) AS n FROM conversion_failures"),
  ]);
  return { deletions: deletions!.results[0]?.n ?? 0, conversions: conversions!.results[0]?.n ?? 0 };
}
