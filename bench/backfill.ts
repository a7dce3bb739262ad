/** Backfill at scale (issue 7 §4): `migrations apply` on a legacy database, and each statement's own time (`d1 execute --json`). */
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { probedPaths } from "../src/db/backfill-sql";
import { INFERENCE_PROBE, RUNTIME_PROBE } from "../src/turn/attribution";
import { migrationFiles, migrationStatements, sqlScript } from "../tools/migrations";
import { ROOT, wranglerSync } from "../tools/wrangler-dev";
import { bulkLoad, copyDatabase, d1File, hashOf, sequenceTable, sqlite3, sqlString, tableCounts } from "./databases";
import { sum } from "./stats";
import { TARGETS } from "./targets";
import type { WorkerLimits } from "./worker-limits";

const TURNS_PER_CONVERSATION = 100;
const BLOCKS_PER_LEGACY_SNAPSHOT = 3;
const BASE_MS = 1_650_000_000_000;
/**
 * A legacy database (drizzle/0000_baseline.sql, no d1_migrations): conversations of 100 turns of one
 * 3-block snapshot; half the metadata canonical, half test/fixtures/attribution-cases.json's cases.
 */
function legacyDatabaseSql(turns: number): string {
  const fixture = JSON.parse(readFileSync(join(ROOT, "test/fixtures/attribution-cases.json"), "utf8")) as {
    cases: Array<{ metadata_json: string }>;
  };
  const cases = fixture.cases.map((c) => c.metadata_json);
  const conversations = Math.ceil(turns / TURNS_PER_CONVERSATION);
  const conv = (n: string) => `'lc-' || printf('%07d', ${n} / ${TURNS_PER_CONVERSATION})`;
  const session = (n: string) => `'ls-' || printf('%07d', ${n} / ${TURNS_PER_CONVERSATION})`;
  const turn = (n: string) => `'lt-' || printf('%03d', ${n} % ${TURNS_PER_CONVERSATION})`;
  const refId = `${conv("s.n")} || '-b' || printf('%03d', s.n % ${TURNS_PER_CONVERSATION} + o.n)`;
  const blockId = `'lc-' || printf('%07d', c.n) || '-b' || printf('%03d', j.n)`;
  const canonical = `json_object(
      'geppetto.runtime@v1', json_object('runtime_key', CASE (s.n / 2) % 4 WHEN 0 THEN 'planner' WHEN 1 THEN 'research' WHEN 2 THEN 'support' ELSE 'inventory' END, 'version', 2),
      'geppetto.inference_id@v1', 'inf-' || s.n,
      'geppetto.session_id@v1', ${session("s.n")},
      'geppetto.usage@v1', json_object('input_tokens', s.n % 4000, 'output_tokens', s.n % 900))`;
  return `
${sqlScript(migrationStatements("0000_baseline.sql"))}
${sequenceTable("seq", turns)}
CREATE TEMP TABLE cases(i INTEGER PRIMARY KEY, metadata_json TEXT);
INSERT INTO cases VALUES ${cases.map((m, i) => `(${i}, ${sqlString(m)})`).join(", ")};
CREATE TEMP TABLE ordinals(n INTEGER PRIMARY KEY);
INSERT INTO ordinals VALUES ${Array.from({ length: BLOCKS_PER_LEGACY_SNAPSHOT }, (_, i) => `(${i})`).join(", ")};
INSERT INTO turns (conv_id, session_id, turn_id, turn_created_at_ms, turn_metadata_json, turn_data_json, updated_at_ms)
SELECT ${conv("s.n")}, ${session("s.n")}, ${turn("s.n")}, ${BASE_MS} + s.n * 1000,
  CASE WHEN s.n % 2 = 0 THEN ${canonical}
    ELSE (SELECT metadata_json FROM cases WHERE i = (s.n / 2) % ${cases.length}) END,
  '{}', ${BASE_MS} + s.n * 1000 + 500
FROM seq AS s ORDER BY s.n;
INSERT INTO blocks (block_id, content_hash, hash_algorithm, kind, role, payload_json, block_metadata_json, first_seen_at_ms)
SELECT ${blockId}, ${hashOf(blockId)}, 'sha256-canonical-json-v1',
  CASE j.n % 2 WHEN 0 THEN 'user' ELSE 'llm_text' END, CASE j.n % 2 WHEN 0 THEN 'user' ELSE 'assistant' END,
  json_object('text', 'legacy block ' || j.n), '{}', ${BASE_MS}
FROM seq AS c JOIN seq AS j ON j.n < ${TURNS_PER_CONVERSATION + BLOCKS_PER_LEGACY_SNAPSHOT - 1}
WHERE c.n < ${conversations}
ORDER BY c.n, j.n;
INSERT INTO turn_block_membership (conv_id, session_id, turn_id, phase, snapshot_created_at_ms, ordinal, block_id, content_hash)
SELECT ${conv("s.n")}, ${session("s.n")}, ${turn("s.n")}, 'final', ${BASE_MS} + s.n * 1000 + 500, o.n, ${refId}, ${hashOf(refId)}
FROM seq AS s JOIN ordinals AS o
ORDER BY s.n, o.n;
`;
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

function timed(fn: () => unknown): number {
  const started = performance.now();
  fn();
  return (performance.now() - started) / 1000;
}

/** The runtime_key UPDATE on the first `rows` turns by rowid, as a chunked backfill would run: the chunk that keeps under chunkSeconds. */
function chunkProbe(persistTo: string, backfill: string[], rows: number, turns: number, scratch: string) {
  const update = backfill.find((s) => /UPDATE turns\s+SET runtime_key = /.test(s));
  if (!update) return null;
  const [meta] = executeFile(persistTo, `${update.replace(/;\s*$/, "")} AND turns.rowid <= ${rows};`, scratch);
  const seconds = meta!.duration / 1000;
  const rowsPerChunk = Math.max(1000, Math.floor(((rows / seconds) * TARGETS.chunkSeconds) / 10_000) * 10_000);
  const chunks = Math.ceil(turns / rowsPerChunk);
  return { rows, seconds, rowsPerSecond: rows / seconds, rowsPerChunk, chunks, oneChunk: chunks === 1 };
}

export function measureBackfill(root: string, empty: string, turns: number, options: { perStatement: boolean; limits: WorkerLimits }) {
  const chainDir = copyDatabase(empty, join(root, `legacy-${turns}-chain`));
  const generateSeconds = timed(() => bulkLoad(d1File(chainDir), legacyDatabaseSql(turns)));
  const legacyFile = d1File(chainDir);
  const legacyRows = tableCounts(legacyFile, ["turns", "turn_block_membership", "blocks"]);
  const legacyFileBytes = statSync(legacyFile).size;
  const statementDir = options.perStatement ? copyDatabase(chainDir, join(root, `legacy-${turns}-statements`)) : null;

  const local = ["DB", "--local", "--persist-to", chainDir];
  const wranglerOverheadSeconds = timed(() => wranglerSync(["d1", "execute", ...local, "--command", "SELECT 1"]));
  const chainWallSeconds = timed(() => wranglerSync(["d1", "migrations", "apply", ...local]));
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
  // The scheduled conversion of the legacy snapshots, at its budget per run.
  const { conversionChunksPerRun: chunksPerRun, conversionChunkSnapshots: chunkSnapshots, cronMinutes } = options.limits;
  const perRun = chunksPerRun * chunkSnapshots;
  const runs = Math.ceil(unconverted / perRun);
  const migrations = migrationFiles();
  const days = cronMinutes ? (runs * cronMinutes) / 60 / 24 : null;
  return {
    ...{ turns, turnsPerConversation: TURNS_PER_CONVERSATION, blocksPerSnapshot: BLOCKS_PER_LEGACY_SNAPSHOT, legacyRows, legacyFileBytes },
    ...{ generateSeconds, chain: { from: migrations[0]!.slice(0, 4), to: migrations.at(-1)!.slice(0, 4) }, chainWallSeconds },
    wranglerOverheadSeconds,
    after: tableCounts(d1File(chainDir), ["turns", "turn_snapshots", "conversations", "blocks", "block_nodes"]),
    missingRuntimeOrInference: count("SELECT COUNT(*) FROM turns WHERE COALESCE(runtime_key, '') = '' OR COALESCE(inference_id, '') = '';"),
    unconverted,
    conversion: unconverted === 0 ? null : { perRun, chunksPerRun, chunkSnapshots, runs, days, cronMinutes },
    statements,
    statementSeconds: statements ? sum(statements.map((st) => st.seconds)) : null,
    backfillFileSeconds: statements ? sum(statements.filter((st) => st.migration === "0002_backfill.sql").map((st) => st.seconds)) : null,
    heaviest: heaviest && { label: heaviest.label, seconds: heaviest.seconds, over, tight, ample: !over && !tight },
    ...{ runtimePaths: probedPaths(RUNTIME_PROBE).length, inferencePaths: probedPaths(INFERENCE_PROBE).length },
    chunk: chunk && { ...chunk, needed: over || tight },
  };
}

export type BackfillFigures = ReturnType<typeof measureBackfill>;
