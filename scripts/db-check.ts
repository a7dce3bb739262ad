/**
 * npm run db:check -- [--local [--persist-to DIR] | --remote] [--config FILE] [--json] [--conv-id ID] [--verify-hashes]
 *
 * Runs the migration playbook's operator SQL on D1 — turns columns, the two runtime indexes, the
 * runtime history of one conversation (--conv-id, else the most recently active one), the count of
 * turns missing runtime or inference and a sample of their metadata — and checks that every
 * migration in drizzle/ is applied. --verify-hashes also recomputes every block's content hash from
 * its stored content and lists the blocks whose hash was computed the first release's way (reported,
 * not changed). The SQL runs as written through the Worker's D1 bindings (tools/d1.ts): with several
 * databases, on each of them (reported per binding), and the directory in DB is checked against what
 * each database holds (tools/directory-check.ts).
 * Exit codes: 0 schema current; 1 not current or columns/indexes missing (or D1 unreachable);
 * 2 bad flags.
 */
import { helpText, parseFlags, type CliOutput, operatorMain, runIfEntry, TARGET_HELP, TARGET_OPTIONS, targetFrom } from "../tools/cli";
import {
  APPLIED_MIGRATIONS,
  BLOCKS_PAGE,
  CONVERSATIONS_INFO,
  evaluateCheck,
  formatCheckReport,
  HAS_MIGRATIONS_TABLE,
  SNAPSHOT_TRIGGERS,
  NEWEST_CONVERSATION,
  OPERATOR_SQL,
  runtimeHistoryFor,
  type CheckInput,
  type ColumnInfo,
  type Query,
  FOREIGN_KEY_CHECK,
  FOREIGN_KEY_SAMPLE,
} from "./legacy/operator-sql";
import { D1Error, d1Step, describeTarget, type D1Target, type OpenDatabases, withDatabases } from "../tools/d1";
import { checkDirectory, formatDirectoryReport, skippedDirectory } from "../tools/directory-check";
import { ConversationPlacements } from "../tools/placements";
import { migrationFiles } from "../tools/migrations";
import { storedBlockProblem, type StoredBlockRow } from "../src/turn/block-hash";

type ResultRow = Record<string, unknown>;

const HELP = helpText({
  usage: "npm run db:check -- [--local [--persist-to DIR] | --remote] [--config FILE] [--json] [--conv-id ID] [--verify-hashes]",
  about:
    "Runs the migration playbook's operator SQL (docs/MIGRATION.md, Validation) on every D1 database the configuration\n" +
    "binds and checks that every migration in drizzle/ is applied to each; with several databases, also that the\n" +
    "directory in DB agrees with what each database holds. Reads only; changes nothing.",
  options: [
    ...TARGET_HELP.slice(0, 4),
    ["--conv-id ID", "show the runtime history of this conversation (default: the most recently active one)"],
    [
      "--verify-hashes",
      "also recompute every block's content hash from its stored content and list the blocks whose hash is not canonical (reported, not changed)",
    ],
    ...TARGET_HELP.slice(4),
  ],
  exitCodes: [
    [0, "every database is at the current migration, with the columns and indexes of the contract (and the directory agrees)"],
    [1, "one is not (or columns or indexes are missing, or a conversation is not where the directory says), or D1 could not be reached"],
    [2, "bad flags"],
  ],
});

const asColumns = (rows: ResultRow[] | undefined) => (rows ?? []) as unknown as ColumnInfo[];
const asIndexes = (rows: ResultRow[] | undefined) => (rows ?? []) as unknown as Array<{ name: string; sql: string }>;

/** Runs queries in one batch (one round trip), the SQL as written; one result list per query. */
async function query(db: D1Database, queries: ReadonlyArray<string | Query>): Promise<ResultRow[][]> {
  const statements = queries.map((q) => (typeof q === "string" ? db.prepare(q) : db.prepare(q.sql).bind(...q.params)));
  return (await db.batch<ResultRow>(statements)).map((r) => r.results);
}

async function foreignKeyCheck(db: D1Database): Promise<ResultRow[]> {
  return (await db.prepare(FOREIGN_KEY_CHECK).all<ResultRow>()).results.slice(0, FOREIGN_KEY_SAMPLE);
}

/** The playbook SQL in one batch; when it fails (old schema), the schema-only statements that cannot. */
async function gather(db: D1Database, target: D1Target, convId: string | null | undefined): Promise<CheckInput> {
  const base = {
    // What `wrangler d1 migrations apply` applies: the .sql files of drizzle/, in name order.
    expectedMigrations: migrationFiles(),
    sample: [] as ResultRow[],
    runtimeHistory: null as CheckInput["runtimeHistory"],
  };
  let playbook: ResultRow[][];
  try {
    playbook = await query(db, [
      OPERATOR_SQL.tableInfo,
      OPERATOR_SQL.runtimeIndexes,
      OPERATOR_SQL.missingCount,
      OPERATOR_SQL.missingSample,
      CONVERSATIONS_INFO,
      APPLIED_MIGRATIONS,
      SNAPSHOT_TRIGGERS,
      typeof convId === "string" ? runtimeHistoryFor(convId) : NEWEST_CONVERSATION,
    ]);
  } catch (error) {
    // PRAGMA and sqlite_master never fail on a reachable database; a failure here is real.
    const [turnsColumns, indexes, conversationsColumns, hasMigrations, triggers] = await d1Step(target, "reading the schema", () =>
      query(db, [OPERATOR_SQL.tableInfo, OPERATOR_SQL.runtimeIndexes, CONVERSATIONS_INFO, HAS_MIGRATIONS_TABLE, SNAPSHOT_TRIGGERS]),
    );
    const foreignKeyViolations = await d1Step(target, "PRAGMA foreign_key_check", () => foreignKeyCheck(db));
    const applied = hasMigrations?.length
      ? ((await d1Step(target, "reading d1_migrations", () => query(db, [APPLIED_MIGRATIONS])))[0] ?? []).map((r) => String(r.name))
      : null;
    return {
      ...base,
      appliedMigrations: applied,
      turnsColumns: asColumns(turnsColumns),
      indexes: asIndexes(indexes),
      conversationsColumns: asColumns(conversationsColumns),
      snapshotTriggers: (triggers ?? []).map((r) => String(r.name)),
      foreignKeyViolations,
      missingRuntimeOrInference: null,
      queryError: `the playbook SQL failed: ${String((error as Error)?.message ?? error).split("\n")[0]}`,
    };
  }
  const [turnsColumns, indexes, missing, sample, conversationsColumns, migrations, triggers, pick] = playbook;
  let runtimeHistory: CheckInput["runtimeHistory"] = null;
  if (typeof convId === "string") {
    runtimeHistory = { convId, rows: pick ?? [] };
  } else if (convId === undefined && pick?.[0]) {
    const newest = String(pick[0].conv_id);
    runtimeHistory = {
      convId: newest,
      rows: (await d1Step(target, "the runtime history query", () => query(db, [runtimeHistoryFor(newest)])))[0] ?? [],
    };
  }
  return {
    ...base,
    appliedMigrations: (migrations ?? []).map((r) => String(r.name)),
    turnsColumns: asColumns(turnsColumns),
    indexes: asIndexes(indexes),
    conversationsColumns: asColumns(conversationsColumns),
    snapshotTriggers: (triggers ?? []).map((r) => String(r.name)),
    foreignKeyViolations: await d1Step(target, "PRAGMA foreign_key_check", () => foreignKeyCheck(db)),
    missingRuntimeOrInference: Number(missing?.[0]?.missing_runtime_or_inference ?? 0),
    sample: sample ?? [],
    runtimeHistory,
    queryError: null,
  };
}

/** Blocks per query when verifying hashes (rows of up to ~2 MB each). */
const HASH_PAGE = 200;
const HASH_SAMPLES = 20;

interface HashAudit {
  checked: number;
  mismatched: number;
  samples: Array<{ block_id: string; content_hash: string; problem: string }>;
}

/** Every block, page by page in primary-key order, checked against the hash rule (src/turn/block-hash.ts). */
async function verifyHashes(db: D1Database, target: D1Target): Promise<HashAudit> {
  const audit: HashAudit = { checked: 0, mismatched: 0, samples: [] };
  let after: [string, string] = ["", ""];
  for (;;) {
    const [rows = []] = await d1Step(target, "reading blocks", () => query(db, [{ sql: BLOCKS_PAGE, params: [...after, HASH_PAGE] }]));
    for (const row of rows) {
      audit.checked += 1;
      const problem = await storedBlockProblem(row as unknown as StoredBlockRow);
      if (problem === null) continue;
      audit.mismatched += 1;
      if (audit.samples.length < HASH_SAMPLES)
        audit.samples.push({ block_id: String(row.block_id), content_hash: String(row.content_hash), problem });
    }
    if (rows.length < HASH_PAGE) return audit;
    const last = rows[rows.length - 1]!;
    after = [String(last.block_id), String(last.content_hash)];
  }
}

function formatHashAudit(audit: HashAudit): string {
  const lines = [
    "",
    `block hashes: ${audit.checked} checked, ${audit.mismatched} not the canonical hash of their stored content${audit.mismatched ? ' (WARN: see docs/MIGRATION.md, "Block hashes from the first release")' : ""}`,
  ];
  for (const s of audit.samples) lines.push(`  ${s.block_id} ${s.content_hash.slice(0, 12)}… — ${s.problem}`);
  return lines.join("\n");
}

interface DatabaseCheck {
  binding: string;
  report: ReturnType<typeof evaluateCheck>;
  hashes?: HashAudit;
}

/** Each database's check; with --conv-id, its runtime history from the database it lives in. */
async function checkAll(open: OpenDatabases, target: D1Target, flags: { "conv-id"?: string; "verify-hashes"?: boolean }) {
  const convId = flags["conv-id"];
  const located = convId === undefined ? null : await new ConversationPlacements(open).locate([convId]).catch(() => null);
  const home = (convId !== undefined && located?.get(convId)) || null;
  const checks: DatabaseCheck[] = [];
  for (const binding of open.bindings) {
    const db = open.db(binding);
    try {
      const report = evaluateCheck(await gather(db, target, home === null || home === binding ? convId : null));
      checks.push({ binding, report, hashes: flags["verify-hashes"] && report.ok ? await verifyHashes(db, target) : undefined });
    } catch (error) {
      throw open.bindings.length > 1 && error instanceof D1Error ? new D1Error(`${binding}: ${error.message}`) : error;
    }
  }
  if (open.bindings.length === 1) return { checks, directory: null };
  // The directory needs every database at 0014 or later; a database that is not is reported above.
  const current = checks.every((c) => c.report.migrations.current);
  return { checks, directory: current ? await d1Step(target, "checking the directory", () => checkDirectory(open)) : skippedDirectory() };
}

async function check(argv: string[], out: CliOutput): Promise<number> {
  const flags = parseFlags(argv, { ...TARGET_OPTIONS, "conv-id": { type: "string" }, "verify-hashes": { type: "boolean" } });
  if (flags.help) {
    out.stdout(HELP);
    return 0;
  }
  const target = targetFrom(flags);
  const { checks, directory } = await withDatabases(target, (open) => checkAll(open, target, flags));
  const where = describeTarget(target);
  const hashes = (c: DatabaseCheck) => (c.hashes ? { block_hashes: c.hashes } : {});
  if (!directory) {
    const [{ report, hashes: audit }] = checks as [DatabaseCheck];
    out.stdout(
      flags.json
        ? `${JSON.stringify({ target: where, ...report, ...hashes(checks[0]!) }, null, 2)}\n`
        : `${formatCheckReport(report, where)}${audit ? formatHashAudit(audit) : ""}\n`,
    );
    return report.ok ? 0 : 1;
  }
  const ok = directory.ok && checks.every((c) => c.report.ok);
  out.stdout(
    flags.json
      ? `${JSON.stringify({ target: where, ok, databases: checks.map((c) => ({ binding: c.binding, ...c.report, ...hashes(c) })), directory }, null, 2)}\n`
      : `${[
          ...checks.map((c) => `${formatCheckReport(c.report, `${where}, ${c.binding}`)}${c.hashes ? formatHashAudit(c.hashes) : ""}\n`),
          formatDirectoryReport(directory),
          "",
          ok ? "result: OK — every database is current and the directory agrees" : "result: FAILED — see the FAIL lines above",
        ].join("\n")}\n`,
  );
  return ok ? 0 : 1;
}

export const main = operatorMain(check);

await runIfEntry(import.meta.url, main);
