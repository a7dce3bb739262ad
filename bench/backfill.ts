/**
 * Backfill at scale (issue 7 §4): a legacy database (pre-cutover layout, no d1_migrations table)
 * brought to the current schema by `wrangler d1 migrations apply --local` alone — its wall time —
 * and, on a copy, the same statements run through `wrangler d1 execute --local --file --json`, whose
 * meta.duration is each statement's own time inside workerd's SQLite (the engine D1 runs, with
 * aggregate ORDER BY, which Debian's older sqlite3 lacks). Those per-statement times are what D1's
 * 30 s statement limit applies to; a chunked run of the heaviest UPDATE shows the rate that sizes
 * a chunked backfill.
 */
import { statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { wranglerSync } from "../tools/wrangler-dev";
import { migrationFiles, migrationStatements, sqlScript } from "../tools/migrations";
import { copyDatabase, d1File, sqlite3, tableCounts } from "./databases";
import { generateLegacyDatabase } from "./legacy-database";

export const D1_STATEMENT_LIMIT_SECONDS = 30;
/** Budget a chunk should stay under locally: a third of the limit leaves room for slower hardware. */
export const CHUNK_BUDGET_SECONDS = 10;

export interface StatementTiming {
  migration: string;
  label: string;
  seconds: number;
}

export interface BackfillResult {
  turns: number;
  legacyRows: Record<string, number>;
  legacyFileBytes: number;
  generateSeconds: number;
  /** Wall time of `wrangler d1 migrations apply DB --local` over the whole chain. */
  chainWallSeconds: number;
  /** The chain's migration files, in order. */
  migrations: string[];
  /** Wall time of `wrangler d1 execute --local --command "SELECT 1"`: wrangler's own start-up, included above. */
  wranglerOverheadSeconds: number;
  after: Record<string, number>;
  /** Snapshots left in the first release's layout (tip_chain NULL) for the scheduled conversion. */
  unconverted: number;
  missingRuntimeOrInference: number;
  statements: StatementTiming[] | null;
  heaviest: StatementTiming | null;
  chunk: { label: string; rows: number; seconds: number; rowsPerSecond: number; rowsPerChunk: number; chunks: number } | null;
}

/** What a statement does, in its own SQL words: "UPDATE turns SET runtime_key", "CREATE INDEX `x`". */
function label(statement: string): string {
  const sql = statement.replace(/^--.*$/gm, " ").replace(/\s+/g, " ");
  const verb = sql.match(
    /(UPDATE \w+ SET \w+|INSERT INTO \w+|CREATE (?:UNIQUE )?INDEX `?\w+`?|CREATE TABLE `?\w+`?|ALTER TABLE `?\w+`? ADD `?\w+`?|DROP INDEX (?:IF EXISTS )?`?\w+`?)/,
  );
  return verb ? verb[1]! : sql.trim().slice(0, 60);
}

function executeFile(persistTo: string, sql: string, scratch: string): Array<{ duration: number }> {
  writeFileSync(scratch, sql);
  const out = wranglerSync(["d1", "execute", "DB", "--local", "--persist-to", persistTo, "--file", scratch, "--json"]);
  return (JSON.parse(out) as Array<{ meta: { duration: number } }>).map((r) => r.meta);
}

function timed<T>(fn: () => T): [T, number] {
  const started = performance.now();
  const value = fn();
  return [value, (performance.now() - started) / 1000];
}

export function measureBackfill(root: string, emptyTemplate: string, turns: number, options: { perStatement: boolean }): BackfillResult {
  const chainDir = copyDatabase(emptyTemplate, join(root, `legacy-${turns}-chain`));
  const [, generateSeconds] = timed(() => generateLegacyDatabase(chainDir, turns));
  const legacyFile = d1File(chainDir);
  const legacyRows = tableCounts(legacyFile, ["turns", "turn_block_membership", "blocks"]);
  const legacyFileBytes = statSync(legacyFile).size;
  const statementDir = options.perStatement ? copyDatabase(chainDir, join(root, `legacy-${turns}-statements`)) : null;

  const [, wranglerOverheadSeconds] = timed(() =>
    wranglerSync(["d1", "execute", "DB", "--local", "--persist-to", chainDir, "--command", "SELECT 1"]),
  );
  const [, chainWallSeconds] = timed(() => wranglerSync(["d1", "migrations", "apply", "DB", "--local", "--persist-to", chainDir]));
  const after = tableCounts(d1File(chainDir), ["turns", "turn_snapshots", "conversations", "blocks", "block_nodes"]);
  const unconverted = Number(sqlite3(d1File(chainDir), "SELECT count(*) FROM turn_snapshots WHERE tip_chain IS NULL;").trim());
  const missingRuntimeOrInference = Number(
    sqlite3(d1File(chainDir), "SELECT COUNT(*) FROM turns WHERE COALESCE(runtime_key, '') = '' OR COALESCE(inference_id, '') = '';").trim(),
  );

  let statements: StatementTiming[] | null = null;
  let chunk: BackfillResult["chunk"] = null;
  if (statementDir) {
    statements = [];
    const scratch = join(root, "statement.sql");
    for (const migration of migrationFiles().filter((name) => !name.startsWith("0000_"))) {
      const list = migrationStatements(migration);
      if (migration === "0002_backfill.sql") {
        // The chunk probe starts from the same point the backfill does (after the cutover DDL).
        const probeDir = copyDatabase(statementDir, join(root, `legacy-${turns}-chunk`));
        chunk = chunkProbe(probeDir, list, Math.min(100_000, turns), turns, scratch);
      }
      const metas = executeFile(statementDir, sqlScript(list), scratch);
      if (metas.length !== list.length) throw new Error(`${migration}: ${list.length} statements but ${metas.length} results`);
      list.forEach((s, i) => statements!.push({ migration, label: label(s), seconds: metas[i]!.duration / 1000 }));
    }
  }
  const heaviest = statements ? statements.reduce((a, b) => (b.seconds > a.seconds ? b : a)) : null;
  return {
    turns,
    legacyRows,
    legacyFileBytes,
    generateSeconds,
    chainWallSeconds,
    migrations: migrationFiles(),
    wranglerOverheadSeconds,
    after,
    unconverted,
    missingRuntimeOrInference,
    statements,
    heaviest,
    chunk,
  };
}

/**
 * Runs the first backfill UPDATE (runtime_key: the most JSON work per row) on the first `rows` turns
 * only, by rowid range — the shape a chunked backfill would take — and derives the chunk size that
 * keeps one statement under CHUNK_BUDGET_SECONDS.
 */
function chunkProbe(persistTo: string, backfill: string[], rows: number, turns: number, scratch: string): BackfillResult["chunk"] {
  const update = backfill.find((s) => /UPDATE turns\s+SET runtime_key = /.test(s));
  if (!update) return null;
  const chunked = `${update.replace(/;\s*$/, "")} AND turns.rowid <= ${rows};`;
  const [meta] = executeFile(persistTo, chunked, scratch);
  const seconds = meta!.duration / 1000;
  const rowsPerSecond = rows / seconds;
  const rowsPerChunk = Math.max(1000, Math.floor((rowsPerSecond * CHUNK_BUDGET_SECONDS) / 10_000) * 10_000);
  return {
    label: "runtime_key UPDATE on a rowid range",
    rows,
    seconds,
    rowsPerSecond,
    rowsPerChunk,
    chunks: Math.ceil(turns / rowsPerChunk),
  };
}
