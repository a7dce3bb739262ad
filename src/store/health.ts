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
