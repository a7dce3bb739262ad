/** Name of the newest migration recorded in d1_migrations (wrangler's and the test harness's table). */
export async function lastAppliedMigration(db: D1Database): Promise<string | null> {
  const row = await db.prepare("SELECT name FROM d1_migrations ORDER BY id DESC LIMIT 1").first<{ name: string }>();
  return row?.name ?? null;
}
