/**
 * The operator SQL of the migration playbook (CONTRACT §3, docs/MIGRATION.md), verbatim, the few
 * read-only queries db:check adds, and the judgement db:check makes from their results. Pure:
 * scripts/db-check.ts runs the SQL through the DB binding (db.prepare(sql).all()).
 */
import { TRIGGERS } from "../../src/db/triggers";

export const OPERATOR_SQL = {
  tableInfo: `PRAGMA table_info(turns);`,
  runtimeIndexes: `SELECT name, sql FROM sqlite_master
WHERE type = 'index' AND tbl_name = 'turns'
  AND name IN ('turns_by_conv_runtime_updated', 'turns_by_conv_inference_updated');`,
  runtimeHistory: `SELECT turn_id, runtime_key, inference_id, updated_at_ms FROM turns
WHERE conv_id = 'your-conv-id' ORDER BY updated_at_ms ASC, turn_id ASC;`,
  missingCount: `SELECT COUNT(*) AS missing_runtime_or_inference FROM turns
WHERE COALESCE(runtime_key, '') = '' OR COALESCE(inference_id, '') = '';`,
  missingSample: `SELECT conv_id, session_id, turn_id, turn_metadata_json FROM turns
WHERE COALESCE(runtime_key, '') = '' OR COALESCE(inference_id, '') = '' LIMIT 50;`,
} as const;

/** A query and its bound parameters. */
export interface Query {
  sql: string;
  params: unknown[];
}

/**
 * The runtime-history query for one conversation: the playbook text with its placeholder as a bound
 * parameter (no quoting of our own).
 */
export function runtimeHistoryFor(convId: string): Query {
  return { sql: OPERATOR_SQL.runtimeHistory.replace("'your-conv-id'", "?1"), params: [convId] };
}

export const CONVERSATIONS_INFO = `PRAGMA table_info(conversations)`;
export const APPLIED_MIGRATIONS = `SELECT name FROM d1_migrations ORDER BY id`;
export const NEWEST_CONVERSATION = `SELECT conv_id FROM conversations ORDER BY last_activity_ms DESC, conv_id ASC LIMIT 1`;
export const HAS_MIGRATIONS_TABLE = `SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'd1_migrations'`;
export const SNAPSHOT_TRIGGERS = `SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'turn_snapshots' ORDER BY name`;
/**
 * Rows naming a parent that is not there, for the foreign keys a database declares — the Go store
 * declares turn_block_membership → turns and → blocks (D1 enforces them on every write; a violation
 * means rows changed outside D1). Reads every child row: run it on a copy for a very large database.
 */
export const FOREIGN_KEY_CHECK = `PRAGMA foreign_key_check`;
/** Violations db:check keeps to report. */
export const FOREIGN_KEY_SAMPLE = 50;

/**
 * The triggers the Worker's writes rely on, and the migration that creates each (src/db/triggers.ts).
 * Dropping a table drops its triggers, so re-running 0008 by hand removes them; running these
 * migrations again puts them back (IF NOT EXISTS).
 */
export const REQUIRED_TRIGGERS: Record<string, string> = Object.fromEntries(
  Object.entries(TRIGGERS).map(([name, t]) => [name, t.migration]),
);

/**
 * --verify-hashes: blocks page by page in primary-key order (?1, ?2 = the last block_id, content_hash
 * seen; ?3 = page size) — the same in the legacy layout and in the WITHOUT ROWID one of 0008.
 */
export const BLOCKS_PAGE = `SELECT block_id, content_hash, kind, role, payload_json, block_metadata_json
FROM blocks WHERE (block_id, content_hash) > (?1, ?2) ORDER BY block_id, content_hash LIMIT ?3`;

export const REQUIRED_TURN_COLUMNS = [
  "conv_id",
  "session_id",
  "turn_id",
  "turn_created_at_ms",
  "turn_metadata_json",
  "turn_data_json",
  "runtime_key",
  "inference_id",
  "updated_at_ms",
];

export const REQUIRED_INDEXES: Record<string, string> = {
  turns_by_conv_runtime_updated: "(conv_id, runtime_key, updated_at_ms DESC)",
  turns_by_conv_inference_updated: "(conv_id, inference_id, updated_at_ms DESC)",
};

export interface ColumnInfo {
  name: string;
  type: string;
  notnull: number;
  dflt_value: string | null;
}

export interface CheckInput {
  expectedMigrations: readonly string[];
  /** null: the database has no d1_migrations table. */
  appliedMigrations: readonly string[] | null;
  turnsColumns: readonly ColumnInfo[];
  indexes: ReadonlyArray<{ name: string; sql: string }>;
  conversationsColumns: readonly ColumnInfo[];
  /** Names of the triggers on turn_snapshots. */
  snapshotTriggers: readonly string[];
  /** PRAGMA foreign_key_check's rows: {table, rowid, parent, fkid}. */
  foreignKeyViolations: ReadonlyArray<Record<string, unknown>>;
  missingRuntimeOrInference: number | null;
  sample: ReadonlyArray<Record<string, unknown>>;
  runtimeHistory: { convId: string; rows: ReadonlyArray<Record<string, unknown>> } | null;
  /** Set when the operator SQL itself failed (e.g. no such column). */
  queryError: string | null;
}

export interface CheckItem {
  check: string;
  ok: boolean;
  detail: string;
}

export interface CheckReport {
  ok: boolean;
  checks: CheckItem[];
  migrations: { expected: readonly string[]; applied: readonly string[] | null; current: boolean };
  missingRuntimeOrInference: number | null;
  sample: ReadonlyArray<Record<string, unknown>>;
  runtimeHistory: CheckInput["runtimeHistory"];
  queryError: string | null;
}

/** Index SQL without quotes, case or spaces, so `("updated_at_ms" DESC)` and `(updated_at_ms desc)` compare equal. */
const squash = (sql: string) => sql.replace(/[`"'\s[\]]/g, "").toLowerCase();

export function evaluateCheck(input: CheckInput): CheckReport {
  const checks: CheckItem[] = [];
  const applied = input.appliedMigrations;
  const expected = input.expectedMigrations;
  const pending = expected.filter((m) => !(applied ?? []).includes(m));
  const unknown = (applied ?? []).filter((m) => !expected.includes(m));
  const current = applied !== null && pending.length === 0 && unknown.length === 0;
  checks.push({
    check: "migrations",
    ok: current,
    detail:
      applied === null && input.turnsColumns.some((c) => c.name === "runtime_key")
        ? "no d1_migrations table, and turns already has runtime_key: a database the Go store created since its runtime columns (GP-26); " +
          "`wrangler d1 migrations apply` cannot add columns it already has — import the Go file with `npm run import:legacy` into a new D1 database (docs/MIGRATION.md)"
        : applied === null
          ? `no d1_migrations table: run \`wrangler d1 migrations apply DB\` (expected ${expected.join(", ")})`
          : pending.length > 0
            ? `${applied.length} of ${expected.length} applied; pending: ${pending.join(", ")}`
            : unknown.length > 0
              ? `applied migrations this checkout does not have: ${unknown.join(", ")} (a newer Worker?)`
              : `all ${expected.length} applied, at ${expected[expected.length - 1]}`,
  });

  const columns = new Map(input.turnsColumns.map((c) => [c.name, c]));
  const absent = REQUIRED_TURN_COLUMNS.filter((c) => !columns.has(c));
  checks.push({
    check: "turns columns",
    ok: absent.length === 0,
    detail: absent.length === 0 ? REQUIRED_TURN_COLUMNS.join(", ") : `missing: ${absent.join(", ")}`,
  });
  for (const name of ["runtime_key", "inference_id"]) {
    const c = columns.get(name);
    if (!c) continue;
    const ok = c.type.toUpperCase() === "TEXT" && Number(c.notnull) === 1 && c.dflt_value === "''";
    checks.push({
      check: `turns.${name}`,
      ok,
      detail: `${c.type}${Number(c.notnull) === 1 ? " NOT NULL" : ""}${c.dflt_value !== null ? ` DEFAULT ${c.dflt_value}` : ""}${ok ? "" : " (expected TEXT NOT NULL DEFAULT '')"}`,
    });
  }

  for (const [name, shape] of Object.entries(REQUIRED_INDEXES)) {
    const found = input.indexes.find((i) => i.name === name);
    const ok = found !== undefined && squash(found.sql).endsWith(squash(`ON turns ${shape}`));
    checks.push({
      check: `index ${name}`,
      ok,
      detail: !found ? `missing (expected ON turns ${shape})` : ok ? `ON turns ${shape}` : `unexpected definition: ${found.sql}`,
    });
  }

  // A trigger is required once its migration is recorded as applied (an older schema is reported above).
  for (const [name, migration] of Object.entries(REQUIRED_TRIGGERS)) {
    if (!(applied ?? []).includes(migration)) continue;
    const ok = input.snapshotTriggers.includes(name);
    checks.push({
      check: `trigger ${name}`,
      ok,
      detail: ok
        ? "present"
        : `missing although ${migration} is recorded as applied (re-running 0008 by hand drops it): run drizzle/${migration} again`,
    });
  }

  const violations = input.foreignKeyViolations;
  checks.push({
    check: "foreign keys",
    ok: violations.length === 0,
    detail:
      violations.length === 0
        ? "every row names an existing parent (PRAGMA foreign_key_check)"
        : `${violations.length === FOREIGN_KEY_SAMPLE ? `at least ${violations.length}` : violations.length} rows name a missing parent, e.g. ${violations
            .slice(0, 3)
            .map((v) => `${v.table} rowid ${v.rowid} → ${v.parent}`)
            .join("; ")}`,
  });

  const pointer = input.conversationsColumns.some((c) => c.name === "current_runtime_key");
  checks.push({
    check: "conversations.current_runtime_key",
    ok: pointer,
    detail: pointer ? "present" : input.conversationsColumns.length === 0 ? "no conversations table" : "column missing",
  });

  if (input.queryError !== null) {
    checks.push({ check: "operator SQL", ok: false, detail: input.queryError });
  }
  return {
    ok: checks.every((c) => c.ok),
    checks,
    migrations: { expected, applied, current },
    missingRuntimeOrInference: input.missingRuntimeOrInference,
    sample: input.sample,
    runtimeHistory: input.runtimeHistory,
    queryError: input.queryError,
  };
}

/** One line of at most `width` characters (metadata may hold newlines). */
const clip = (text: string, width: number) => {
  const line = text.replace(/\s+/g, " ");
  return line.length > width ? `${line.slice(0, width - 1)}…` : line;
};

export function formatCheckReport(report: CheckReport, target: string): string {
  const lines = [`Turnstore D1 check — ${target}`, ""];
  for (const c of report.checks) lines.push(`${c.ok ? "ok  " : "FAIL"}  ${c.check}: ${c.detail}`);
  if (report.missingRuntimeOrInference !== null) {
    lines.push("", `turns missing runtime_key or inference_id: ${report.missingRuntimeOrInference}`);
    if (report.sample.length > 0) {
      lines.push(`sample (up to 50): conv_id / session_id / turn_id — turn_metadata_json`);
      for (const row of report.sample) {
        lines.push(`  ${row.conv_id} / ${row.session_id} / ${row.turn_id} — ${clip(String(row.turn_metadata_json), 100)}`);
      }
    }
  }
  if (report.runtimeHistory) {
    lines.push(
      "",
      `runtime history of conversation ${JSON.stringify(report.runtimeHistory.convId)} (turn_id, runtime_key, inference_id, updated_at_ms):`,
    );
    if (report.runtimeHistory.rows.length === 0) lines.push("  (no turns)");
    for (const row of report.runtimeHistory.rows) {
      lines.push(
        `  ${row.turn_id}  ${row.runtime_key === "" ? "''" : row.runtime_key}  ${row.inference_id === "" ? "''" : row.inference_id}  ${row.updated_at_ms}`,
      );
    }
  }
  lines.push("", report.ok ? "result: OK — the schema is at the current migration" : "result: FAILED — see the FAIL lines above");
  return lines.join("\n");
}
