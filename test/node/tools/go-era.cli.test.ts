/**
 * A Go-era database upgraded as an operator does it: the real `wrangler d1 migrations apply --local`
 * on a local D1 loaded with the Go store's DDL and rows (test/fixtures/go-store.ts), from where the
 * second release's migrations stopped (0008 failing on the foreign key) to the latest; then db:check,
 * db:convert and `wrangler dev` serving the debug API on it; and the import tool taking the same
 * rows from a Go-era SQLite file.
 */
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import initSqlJs from "sql.js";
import { afterAll, describe, expect, it } from "vitest";
import { type D1Target, withDatabase } from "../../../tools/d1";
import { latestMigration, migrationFiles } from "../../../tools/migrations";
import { applyMigrationsLocal, ROOT, spawnWrangler, startDev } from "../../../tools/wrangler-dev";
import { GO_ERA_RUNTIME_TRUTH, goEraDatabase, inlineParameters } from "../../fixtures/go-store";
import { npmRun } from "./cli-runs";

const dir = mkdtempSync(join(tmpdir(), "turnstore-go-era-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The Go-era database as a SQL script for `wrangler d1 execute --file`. */
async function goEraScript(): Promise<string> {
  const path = join(dir, "go-era.sql");
  writeFileSync(path, (await goEraDatabase()).map(inlineParameters).join("\n"));
  return path;
}

function wrangler(args: string[]) {
  const run = spawnWrangler(args);
  return { code: run.status, output: `${run.stdout}\n${run.stderr}`.replace(/\x1b\[[0-9;]*m/g, "") };
}

/** A local D1 loaded with the Go store's DDL and rows by `wrangler d1 execute --file`. */
async function loadGoEraDatabase(persistTo: string): Promise<void> {
  const loaded = wrangler(["d1", "execute", "DB", "--local", "--persist-to", persistTo, "--file", await goEraScript()]);
  expect(loaded.code, loaded.output).toBe(0);
}

const GO_ROWS = [
  "SELECT conv_id, session_id, turn_id, turn_created_at_ms, turn_metadata_json, turn_data_json, updated_at_ms FROM turns ORDER BY 1, 2, 3",
  "SELECT block_id, content_hash, hash_algorithm, kind, role, payload_json, block_metadata_json, first_seen_at_ms FROM blocks ORDER BY 1, 2",
  "SELECT * FROM turn_block_membership ORDER BY 1, 2, 3, 4, 5, 6",
];

/** The Go store's rows (every column it wrote), the foreign-key and quick checks, the migrations recorded. */
const inspect = (target: D1Target) =>
  withDatabase(target, async (db) => ({
    goRows: JSON.stringify((await db.batch(GO_ROWS.map((q) => db.prepare(q)))).map((r) => r.results)),
    violations: (await db.prepare("PRAGMA foreign_key_check").all()).results,
    quickCheck: (await db.prepare("PRAGMA quick_check").all<Record<string, unknown>>()).results.map((r) => Object.values(r)[0]),
    applied: await db
      .prepare("SELECT name FROM d1_migrations ORDER BY id")
      .all<{ name: string }>()
      .then((r) => r.results.map((m) => m.name))
      .catch(() => [] as string[]),
    // null before the migrations add the columns.
    truth: await db
      .prepare("SELECT conv_id, turn_id, runtime_key, inference_id FROM turns ORDER BY conv_id, turn_id")
      .all()
      .then((r) => r.results)
      .catch(() => null),
  }));

describe("a Go-era database, upgraded with the operator's own commands", () => {
  // One database through the whole upgrade, test after test: every current migration runs through the
  // CLI on the Go store's rows — 0000–0007 in the second release's run, which stops at its 0008, and
  // 0008 onwards in the run after it. (MIGRATION.md's rehearsal runs them all in one go on the same
  // data, in the docs walk: test/node/docs/examples.test.ts.)
  const target: D1Target = { remote: false, persistTo: join(dir, "upgraded") };
  let before: Awaited<ReturnType<typeof inspect>>;

  it("where the second release stopped (0008 failed on the foreign key, the database at 0007), migrations apply completes, every Go row kept", async () => {
    await loadGoEraDatabase(target.persistTo!);
    before = await inspect(target);
    expect(before.violations).toEqual([]);

    // The second release's drizzle/ folder: 0000–0007 as now, 0008 as it shipped.
    const released = join(dir, "released-migrations");
    mkdirSync(released, { recursive: true });
    for (const name of migrationFiles().filter((f) => f < "0008")) cpSync(join(ROOT, "drizzle", name), join(released, name));
    cpSync(join(ROOT, "test/fixtures/released/0008_snapshot_keys.sql"), join(released, "0008_snapshot_keys.sql"));
    const config = join(dir, "wrangler.released.toml");
    writeFileSync(
      config,
      `name = "turnstore"\nmain = ${JSON.stringify(join(ROOT, "src/index.ts"))}\ncompatibility_date = "2026-04-20"\n` +
        `[[d1_databases]]\nbinding = "DB"\ndatabase_name = "turnstore"\ndatabase_id = "00000000-0000-0000-0000-000000000000"\nmigrations_dir = ${JSON.stringify(released)}\n`,
    );
    const stopped = wrangler(["d1", "migrations", "apply", "DB", "--local", "--persist-to", target.persistTo!, "--config", config]);
    expect(stopped.code).not.toBe(0);
    expect(stopped.output).toMatch(/0008_snapshot_keys\.sql[\s\S]*FOREIGN KEY constraint failed/);
    expect((await inspect(target)).applied.at(-1)).toBe("0007_write_guards.sql");

    // What MIGRATION.md tells the operator: run it again; nothing to repair by hand.
    const again = wrangler(["d1", "migrations", "apply", "DB", "--local", "--persist-to", target.persistTo!]);
    expect(again.code, again.output).toBe(0);
    const after = await inspect(target);
    expect(after).toMatchObject({ goRows: before.goRows, violations: [], quickCheck: ["ok"], applied: migrationFiles() });
    expect(after.truth).toEqual(GO_ERA_RUNTIME_TRUTH);
  });

  it("db:check, db:convert and wrangler dev work on the upgraded database", async () => {
    expect(before, "the upgrade above ran").toBeDefined();
    const check = npmRun("db:check", ["--persist-to", target.persistTo!, "--json"]);
    expect(check.code, check.stdout + check.stderr.join("\n")).toBe(0);
    expect(JSON.parse(check.stdout)).toMatchObject({ ok: true });
    const convert = npmRun("db:convert", ["--persist-to", target.persistTo!, "--json"]);
    expect(convert.code, convert.stderr.join("\n")).toBe(0);
    expect(JSON.parse(convert.stdout)).toMatchObject({ ok: true, converted: 5 });
    expect((await inspect(target)).violations).toEqual([]);

    const server = await startDev({ persistTo: target.persistTo!, skipMigrations: true, vars: { DEBUG_TOKEN: "go-era-debug" } });
    try {
      const health = await (await fetch(`${server.url}/healthz`)).json();
      expect(health).toMatchObject({ ok: true, schema: latestMigration() });
      const page = (await (
        await fetch(`${server.url}/api/debug/turns?conv_id=go-conv-1`, { headers: { authorization: "Bearer go-era-debug" } })
      ).json()) as { items: Array<{ turn_id: string; phase: string; runtime_key: string; inference_id: string; payload: string }> };
      expect(page.items.map((i) => [i.turn_id, i.phase, i.runtime_key, i.inference_id])).toEqual([
        ["t2", "final", "planner", "inf-go-2"],
        ["t1", "final", "inventory", "inf-go-1"],
        ["t1", "pre_inference", "inventory", "inf-go-1"],
      ]);
      expect(page.items[0]!.payload).toContain("blk-a2");
    } finally {
      await server.stop();
    }
  });

  it("the import tool takes a Go-era SQLite file (foreign keys on) into a migrated D1, with its runtime truth", async () => {
    const SQL = await initSqlJs();
    const db = new SQL.Database();
    db.run("PRAGMA foreign_keys = ON");
    for (const { sql, params } of await goEraDatabase()) db.run(sql, params);
    const file = join(dir, "turns.db");
    writeFileSync(file, db.export());
    db.close();

    // Migrated already (a copy of one migrated before): the import into an empty directory, which
    // migrates it first, is MIGRATION.md's import rehearsal in the docs walk.
    const target: D1Target = { remote: false, persistTo: join(dir, "imported") };
    applyMigrationsLocal(target.persistTo!);
    const run = npmRun("import:legacy", ["--turns", file, "--persist-to", target.persistTo!, "--json"]);
    expect(run.code, run.stderr.join("\n")).toBe(0);
    const state = await inspect(target);
    expect(state.violations).toEqual([]);
    expect(state.truth).toEqual(GO_ERA_RUNTIME_TRUTH);
  });
});
