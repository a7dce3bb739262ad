/** Local D1 databases: a migrated template copied per scenario; bulk data written into its file with sqlite3 (no wrangler running). */
import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { applyMigrationsLocal, wranglerSync } from "../tools/wrangler-dev";

const D1_DIR = ["v3", "d1", "miniflare-D1DatabaseObject"];
/** The SQLite file behind the DB binding under a --persist-to folder. */
export function d1File(persistTo: string): string {
  const dir = join(persistTo, ...D1_DIR);
  const file = readdirSync(dir).find((name) => name.endsWith(".sqlite") && name !== "metadata.sqlite");
  if (!file) throw new Error(`no D1 database file under ${dir}`);
  return join(dir, file);
}

export function requireSqlite3(): string {
  const probe = spawnSync("sqlite3", ["--version"], { encoding: "utf8" });
  if (probe.status !== 0) throw new Error("sqlite3 is needed to generate the large databases: apt-get install -y sqlite3");
  return probe.stdout.trim().split(" ")[0]!;
}

/** Runs SQL in the sqlite3 shell against a database file (never while wrangler has it open). */
export function sqlite3(file: string, sql: string): string {
  const result = spawnSync("sqlite3", ["-bail", file], { input: sql, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) throw new Error(`sqlite3 ${file} failed (${result.status}): ${result.stderr}`);
  return result.stdout;
}

/** Bulk loads: no journal and a big cache; the file goes back to WAL, as miniflare keeps it. */
export function bulkLoad(file: string, body: string): void {
  const begin = "PRAGMA journal_mode=DELETE;\nPRAGMA synchronous=OFF;\nPRAGMA cache_size=-1000000;\nPRAGMA temp_store=MEMORY;\nBEGIN;";
  sqlite3(file, `${begin}\n${body}\nCOMMIT;\nPRAGMA journal_mode=WAL;\n`);
}

/** A folder with the D1 database migrated to the current schema, to copy from. */
export function migratedTemplate(root: string, dir = join(root, "template-migrated")): string {
  mkdirSync(dir, { recursive: true });
  applyMigrationsLocal(dir);
  return dir;
}

/** A folder whose D1 database exists but is empty: no tables, no d1_migrations. */
export function emptyTemplate(root: string, dir = join(root, "template-empty")): string {
  mkdirSync(dir, { recursive: true });
  wranglerSync(["d1", "execute", "DB", "--local", "--persist-to", dir, "--command", "SELECT 1"]);
  return dir;
}

export function copyDatabase(template: string, dest: string): string {
  cpSync(template, dest, { recursive: true });
  return dest;
}

export function tableCounts(file: string, tables: readonly string[]): Record<string, number> {
  const out = sqlite3(file, tables.map((t) => `SELECT count(*) FROM ${t};`).join("\n"));
  const counts = out.trim().split("\n").map(Number);
  return Object.fromEntries(tables.map((t, i) => [t, counts[i]!]));
}

export { sqlString } from "../src/db/backfill-sql";
/** 0..n-1 in a temp table, for joins that fan rows out. */
export function sequenceTable(name: string, n: number): string {
  return `CREATE TEMP TABLE ${name}(n INTEGER PRIMARY KEY);
WITH RECURSIVE r(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM r WHERE n < ${n - 1}) INSERT INTO ${name} SELECT n FROM r;`;
}

/** Stand-in content hash: 64 lowercase hex like the real ones (sqlite3's built-in sha3, not SHA-256). */
export const hashOf = (idExpr: string) => `lower(hex(sha3(${idExpr}, 256)))`;
export const LOREM =
  "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat.";
