/**
 * The migrations of drizzle/ as the scripts need them, read the way wrangler reads them: the folder's
 * .sql files in name order (what `wrangler d1 migrations apply` applies), split into statements by
 * wrangler's own splitter (unstable_splitSqlQuery — what `wrangler d1 execute --file` and D1's
 * migrations run), so a script's statement list is the one D1 executes.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { generateBackfillSql } from "../src/db/backfill-sql";
import type { D1Handle } from "../src/store/d1";
import { loadWrangler } from "./d1-bindings.mjs";
import { ROOT } from "./wrangler-dev";

export const MIGRATIONS_DIR = join(ROOT, "drizzle");

/** The migration files, in the order wrangler applies them. */
export function migrationFiles(): string[] {
  return readdirSync(MIGRATIONS_DIR)
    .filter((name) => name.endsWith(".sql"))
    .sort();
}

/** The newest migration file: the one a current database has applied last. */
export function latestMigration(): string {
  return migrationFiles().at(-1)!;
}

/** SQL text as D1 runs it, one statement each (comments and trailing semicolons are the splitter's business). */
export function sqlStatements(sql: string): string[] {
  return loadWrangler().unstable_splitSqlQuery(sql);
}

/** The statements of a migration file. */
export function migrationStatements(name: string): string[] {
  return sqlStatements(readFileSync(join(MIGRATIONS_DIR, name), "utf8"));
}

/** Statements as one SQL script (for the sqlite3 shell or `wrangler d1 execute --file`): each ends in exactly one `;`. */
export function sqlScript(statements: readonly string[]): string {
  return statements.map((s) => `${s.trim().replace(/;+$/, "")};`).join("\n");
}

let backfill: readonly string[] | undefined;

/**
 * The backfill migration's statements (the same text as drizzle/0002_backfill.sql, from its
 * generator), split once per process: wrangler's splitter takes ~0.25 s over its 70 kB, and the
 * import tool runs the backfill after every import.
 */
export function backfillStatements(): readonly string[] {
  backfill ??= sqlStatements(generateBackfillSql());
  return backfill;
}

/** Runs the backfill through the DB binding (idempotent: it fills only what is still empty or missing). */
export async function runBackfill(db: D1Handle): Promise<void> {
  for (const sql of backfillStatements()) await db.prepare(sql).run();
}
