/**
 * db:check: its judgement on tables of results (pure), and a real run against a local D1 that has
 * only the pre-cutover tables — what an old database looks like before `migrations apply`.
 * The passing case runs after the imports in import.test.ts.
 */
import { TRIGGERS } from "../../../src/db/triggers";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  evaluateCheck,
  formatCheckReport,
  OPERATOR_SQL,
  runtimeHistoryFor,
  type CheckInput,
  type ColumnInfo,
} from "../../../scripts/legacy/operator-sql";
import { withDatabase } from "../../../tools/d1";
import { applyMigrationsLocal, ROOT, WRANGLER } from "../../../tools/wrangler-dev";
import { npmRun } from "./cli-runs";
import { quietEnv } from "../../../tools/quiet-env.mjs";

const EXPECTED = [
  "0000_baseline.sql",
  "0001_cutover.sql",
  "0002_backfill.sql",
  "0009_turn_created_trigger.sql",
  "0010_turn_rollup_trigger.sql",
];
const rows = (persistTo: string, sql: string, ...params: unknown[]) =>
  withDatabase(
    { remote: false, persistTo },
    async (db) =>
      (
        await db
          .prepare(sql)
          .bind(...params)
          .all()
      ).results,
  );
const column = (name: string, type = "TEXT", notnull = 1, dflt_value: string | null = null): ColumnInfo => ({
  name,
  type,
  notnull,
  dflt_value,
});
const CURRENT_TURNS = [
  column("conv_id"),
  column("session_id"),
  column("turn_id"),
  column("turn_created_at_ms", "INTEGER"),
  column("turn_metadata_json", "TEXT", 1, "'{}'"),
  column("turn_data_json", "TEXT", 1, "'{}'"),
  column("updated_at_ms", "INTEGER"),
  column("runtime_key", "TEXT", 1, "''"),
  column("inference_id", "TEXT", 1, "''"),
];
const CURRENT_INDEXES = [
  {
    name: "turns_by_conv_runtime_updated",
    sql: 'CREATE INDEX `turns_by_conv_runtime_updated` ON `turns` (`conv_id`,`runtime_key`,"updated_at_ms" DESC)',
  },
  {
    name: "turns_by_conv_inference_updated",
    sql: 'CREATE INDEX `turns_by_conv_inference_updated` ON `turns` (`conv_id`,`inference_id`,"updated_at_ms" DESC)',
  },
];
const healthy: CheckInput = {
  expectedMigrations: EXPECTED,
  appliedMigrations: EXPECTED,
  turnsColumns: CURRENT_TURNS,
  indexes: CURRENT_INDEXES,
  conversationsColumns: [column("conv_id"), column("current_runtime_key", "TEXT", 1, "''")],
  snapshotTriggers: Object.keys(TRIGGERS),
  foreignKeyViolations: [],
  missingRuntimeOrInference: 2,
  sample: [{ conv_id: "c", session_id: "s", turn_id: "t", turn_metadata_json: "{}" }],
  runtimeHistory: { convId: "c", rows: [{ turn_id: "t", runtime_key: "", inference_id: "", updated_at_ms: 5 }] },
  queryError: null,
};
const failing = (input: Partial<CheckInput>) =>
  evaluateCheck({ ...healthy, ...input })
    .checks.filter((c) => !c.ok)
    .map((c) => `${c.check}: ${c.detail}`);

describe("db:check's judgement", () => {
  it("passes a database at the current migration with the columns and indexes of the contract", () => {
    const report = evaluateCheck(healthy);
    expect(report.ok).toBe(true);
    expect(report.migrations.current).toBe(true);
    // Missing runtime is information for the operator, not a schema failure.
    expect(report.missingRuntimeOrInference).toBe(2);
    expect(formatCheckReport(report, "local D1")).toMatch(/result: OK/);
  });

  it.each<[string, Partial<CheckInput>, RegExp]>([
    [
      "a pending migration",
      { appliedMigrations: EXPECTED.filter((m) => m !== "0002_backfill.sql") },
      /^migrations: 4 of 5 applied; pending: 0002_backfill\.sql$/,
    ],
    ["no d1_migrations table", { appliedMigrations: null }, /^migrations: no d1_migrations table/],
    [
      "a migration this checkout does not have",
      { appliedMigrations: [...EXPECTED, "0003_future.sql"] },
      /0003_future\.sql \(a newer Worker\?\)/,
    ],
    ["runtime columns missing", { turnsColumns: CURRENT_TURNS.slice(0, 7) }, /^turns columns: missing: runtime_key, inference_id$/],
    [
      "a nullable runtime_key",
      { turnsColumns: [...CURRENT_TURNS.slice(0, 7), column("runtime_key", "TEXT", 0, null), CURRENT_TURNS[8]!] },
      /^turns\.runtime_key: TEXT \(expected TEXT NOT NULL DEFAULT ''\)$/,
    ],
    ["an index missing", { indexes: CURRENT_INDEXES.slice(1) }, /^index turns_by_conv_runtime_updated: missing/],
    [
      "an index on other columns",
      {
        indexes: [
          { name: "turns_by_conv_runtime_updated", sql: "CREATE INDEX turns_by_conv_runtime_updated ON turns (runtime_key)" },
          CURRENT_INDEXES[1]!,
        ],
      },
      /unexpected definition/,
    ],
    ["no pointer column", { conversationsColumns: [column("conv_id")] }, /^conversations\.current_runtime_key: column missing$/],
    [
      "a trigger dropped (0008 re-run by hand)",
      { snapshotTriggers: ["turn_snapshots_lower_turn_created"] },
      /^trigger turn_snapshots_roll_up_turn: missing although 0010_turn_rollup_trigger\.sql is recorded as applied .*run drizzle\/0010_turn_rollup_trigger\.sql again$/,
    ],
    [
      "a row naming a missing parent (a Go-era foreign key)",
      { foreignKeyViolations: [{ table: "turn_block_membership", rowid: 7, parent: "blocks", fkid: 0 }] },
      /^foreign keys: 1 rows name a missing parent, e\.g\. turn_block_membership rowid 7 → blocks$/,
    ],
  ])("fails on %s", (_, input, message) => {
    const problems = failing(input);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(message);
  });

  it("tells an operator with a Go database created with runtime columns (GP-26) to import it, not to migrate it", () => {
    expect(failing({ appliedMigrations: null, turnsColumns: CURRENT_TURNS })).toEqual([
      expect.stringMatching(/^migrations: no d1_migrations table, and turns already has runtime_key: .*npm run import:legacy/),
    ]);
  });

  it("runs the playbook's runtime-history query with the conversation id bound in its placeholder's place, nothing else changed", () => {
    expect(runtimeHistoryFor("it's")).toEqual({ sql: OPERATOR_SQL.runtimeHistory.replace("'your-conv-id'", "?1"), params: ["it's"] });
  });
});

describe("db:check on a D1 that still has the pre-cutover layout", () => {
  const dir = mkdtempSync(join(tmpdir(), "turnstore-db-check-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("exits 1 and names what is missing", async () => {
    // The baseline file creates the legacy tables without recording a migration, like a database loaded as-is.
    const load = spawnSync(
      WRANGLER,
      ["d1", "execute", "DB", "--local", "--persist-to", dir, "--file", join(ROOT, "drizzle/0000_baseline.sql")],
      {
        cwd: ROOT,
        env: quietEnv,
        encoding: "utf8",
      },
    );
    expect(load.status).toBe(0);
    const run = npmRun("db:check", ["--persist-to", dir, "--json"]);
    expect(run.code).toBe(1);
    const report = JSON.parse(run.stdout);
    expect(report.ok).toBe(false);
    expect(report.checks.filter((c: { ok: boolean }) => !c.ok).map((c: { check: string }) => c.check)).toEqual([
      "migrations",
      "turns columns",
      "index turns_by_conv_runtime_updated",
      "index turns_by_conv_inference_updated",
      "conversations.current_runtime_key",
      "operator SQL",
    ]);
    expect(report.checks.find((c: { check: string }) => c.check === "turns columns").detail).toBe("missing: runtime_key, inference_id");
    expect(report.queryError).toMatch(/no such column: runtime_key/);
    // Nothing was changed by the check.
    expect(
      await rows(dir, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_%' ESCAPE '\\' ORDER BY name"),
    ).toEqual([{ name: "blocks" }, { name: "turn_block_membership" }, { name: "turns" }]);
  });
});

describe("db:check --verify-hashes", () => {
  const dir = mkdtempSync(join(tmpdir(), "turnstore-db-check-hashes-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("reports blocks whose hash was computed the first release's way, and changes nothing", async () => {
    applyMigrationsLocal(dir); // a migrated database (a copy of one migrated before)
    const sha = (text: string) => createHash("sha256").update(text).digest("hex");
    // The first release hashed {"9":…,"10":…} in JavaScript's key order; Go sorts "10" before "9".
    const oldWay = sha('{"kind":"user","role":"user","payload":{"9":"b","10":"a"},"metadata":{}}');
    const canonical = sha('{"kind":"user","role":"user","payload":{"text":"hi"},"metadata":{}}');
    const insert = `INSERT INTO blocks (block_id, content_hash, hash_algorithm, kind, role, payload_json, block_metadata_json, first_seen_at_ms)
      VALUES (?1, ?2, 'sha256-canonical-json-v1', 'user', 'user', ?3, '{}', 1)`;
    await withDatabase({ remote: false, persistTo: dir }, (db) =>
      db.batch([db.prepare(insert).bind("old", oldWay, '{"9":"b","10":"a"}'), db.prepare(insert).bind("good", canonical, '{"text":"hi"}')]),
    );
    const before = await rows(dir, "SELECT * FROM blocks ORDER BY block_id, content_hash");
    const run = npmRun("db:check", ["--persist-to", dir, "--json", "--verify-hashes"]);
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout);
    expect(report.block_hashes).toMatchObject({ checked: 2, mismatched: 1 });
    expect(report.block_hashes.samples).toEqual([
      {
        block_id: "old",
        content_hash: oldWay,
        problem: expect.stringMatching(/not the canonical hash.*expected 2af4264f.*not stored in canonical form/),
      },
    ]);
    expect(await rows(dir, "SELECT * FROM blocks ORDER BY block_id, content_hash")).toEqual(before);
  });
});
