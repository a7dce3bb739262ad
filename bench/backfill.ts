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
import { probedPaths } from "../src/db/backfill-sql";
import { INFERENCE_PROBE, RUNTIME_PROBE } from "../src/turn/attribution";
import { migrationFiles, migrationStatements, sqlScript } from "../tools/migrations";
import { wranglerSync } from "../tools/wrangler-dev";
import { copyDatabase, d1File, sqlite3, tableCounts } from "./databases";
import { BLOCKS_PER_LEGACY_SNAPSHOT, generateLegacyDatabase, TURNS_PER_CONVERSATION } from "./legacy-database";
import { sum } from "./stats";
import { TARGETS } from "./targets";
import type { WorkerLimits } from "./worker-limits";

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

function timed(fn: () => unknown): number {
  const started = performance.now();
  fn();
  return (performance.now() - started) / 1000;
}

/**
 * Runs the first backfill UPDATE (runtime_key: the most JSON work per row) on the first `rows` turns
 * only, by rowid range — the shape a chunked backfill would take — and derives the chunk size that
 * keeps one statement under TARGETS.chunkSeconds.
 */
function chunkProbe(persistTo: string, backfill: string[], rows: number, turns: number, scratch: string) {
  const update = backfill.find((s) => /UPDATE turns\s+SET runtime_key = /.test(s));
  if (!update) return null;
  const [meta] = executeFile(persistTo, `${update.replace(/;\s*$/, "")} AND turns.rowid <= ${rows};`, scratch);
  const seconds = meta!.duration / 1000;
  const rowsPerChunk = Math.max(1000, Math.floor(((rows / seconds) * TARGETS.chunkSeconds) / 10_000) * 10_000);
  const chunks = Math.ceil(turns / rowsPerChunk);
  return { rows, seconds, rowsPerSecond: rows / seconds, rowsPerChunk, chunks, oneChunk: chunks === 1 };
}

export function measureBackfill(
  root: string,
  emptyTemplate: string,
  turns: number,
  options: { perStatement: boolean; limits: WorkerLimits },
) {
  const chainDir = copyDatabase(emptyTemplate, join(root, `legacy-${turns}-chain`));
  const generateSeconds = timed(() => generateLegacyDatabase(chainDir, turns));
  const legacyFile = d1File(chainDir);
  const legacyRows = tableCounts(legacyFile, ["turns", "turn_block_membership", "blocks"]);
  const legacyFileBytes = statSync(legacyFile).size;
  const statementDir = options.perStatement ? copyDatabase(chainDir, join(root, `legacy-${turns}-statements`)) : null;

  const wranglerOverheadSeconds = timed(() =>
    wranglerSync(["d1", "execute", "DB", "--local", "--persist-to", chainDir, "--command", "SELECT 1"]),
  );
  const chainWallSeconds = timed(() => wranglerSync(["d1", "migrations", "apply", "DB", "--local", "--persist-to", chainDir]));
  const count = (sql: string) => Number(sqlite3(d1File(chainDir), sql).trim());
  const unconverted = count("SELECT count(*) FROM turn_snapshots WHERE tip_chain IS NULL;");

  let statements: Array<{ migration: string; label: string; seconds: number; status: string }> | null = null;
  let chunk: ReturnType<typeof chunkProbe> = null;
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
      list.forEach((s, i) => {
        const seconds = metas[i]!.duration / 1000;
        const status = seconds >= TARGETS.statementSeconds ? "**over**" : seconds >= TARGETS.chunkSeconds ? "under, < 3× margin" : "ok";
        statements!.push({ migration, label: label(s).replace(/\|/g, "\\|"), seconds, status });
      });
    }
  }
  const heaviest = statements?.reduce((a, b) => (b.seconds > a.seconds ? b : a)) ?? null;
  const over = heaviest !== null && heaviest.seconds >= TARGETS.statementSeconds;
  const tight = heaviest !== null && !over && heaviest.seconds >= TARGETS.chunkSeconds;
  const l = options.limits;
  // The scheduled conversion of the legacy snapshots, at its budget per run.
  const perRun = l.conversionChunksPerRun * l.conversionChunkSnapshots;
  const runs = Math.ceil(unconverted / perRun);
  const migrations = migrationFiles();
  return {
    turns,
    turnsPerConversation: TURNS_PER_CONVERSATION,
    blocksPerSnapshot: BLOCKS_PER_LEGACY_SNAPSHOT,
    legacyRows,
    legacyFileBytes,
    generateSeconds,
    chain: { from: migrations[0]!.slice(0, 4), to: migrations.at(-1)!.slice(0, 4) },
    chainWallSeconds,
    wranglerOverheadSeconds,
    after: tableCounts(d1File(chainDir), ["turns", "turn_snapshots", "conversations", "blocks", "block_nodes"]),
    missingRuntimeOrInference: count("SELECT COUNT(*) FROM turns WHERE COALESCE(runtime_key, '') = '' OR COALESCE(inference_id, '') = '';"),
    unconverted,
    conversion:
      unconverted === 0
        ? null
        : {
            perRun,
            chunksPerRun: l.conversionChunksPerRun,
            chunkSnapshots: l.conversionChunkSnapshots,
            runs,
            days: l.cronMinutes ? (runs * l.cronMinutes) / 60 / 24 : null,
            cronMinutes: l.cronMinutes,
          },
    statements,
    statementSeconds: statements ? sum(statements.map((st) => st.seconds)) : null,
    backfillFileSeconds: statements ? sum(statements.filter((st) => st.migration === "0002_backfill.sql").map((st) => st.seconds)) : null,
    heaviest: heaviest && { label: heaviest.label, seconds: heaviest.seconds, over, tight, ample: !over && !tight },
    runtimePaths: probedPaths(RUNTIME_PROBE).length,
    inferencePaths: probedPaths(INFERENCE_PROBE).length,
    chunk: chunk && { ...chunk, needed: over || tight },
  };
}

export type BackfillFigures = ReturnType<typeof measureBackfill>;
