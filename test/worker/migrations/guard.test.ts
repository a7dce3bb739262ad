/**
 * The guard for every future migration (issue 23): all of drizzle/ applied to the Go store's own
 * database and to a database at each earlier released schema point, holding the rows that point
 * could hold. Afterwards D1's integrity checks pass (PRAGMA foreign_key_check, PRAGMA quick_check —
 * D1 refuses integrity_check) and every row that was there is still there, every column it had
 * unchanged. A migration that breaks an old database fails here.
 */
import { applyD1Migrations, reset } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { GO_STORE_WRITES, goEraDatabase, goStoreSave, GO_ERA_SNAPSHOTS, type Statement } from "../../fixtures/go-store";

const migrations = env.TEST_MIGRATIONS;
const applied = (through: string) => migrations.slice(0, migrations.findIndex((m) => m.name.startsWith(through)) + 1);

async function run(statements: readonly Statement[]): Promise<void> {
  for (const s of statements)
    await env.DB.prepare(s.sql)
      .bind(...s.params)
      .run();
}

/** Tables a migration may hold besides the data: bookkeeping of D1 and of SQLite. */
const BOOKKEEPING = /^(d1_migrations|sqlite_.*|_cf_.*)$/;

type Rows = Map<string, { columns: string[]; rows: string[] }>;

/** Every row of every data table, as the list of its columns at this point. */
async function snapshotRows(): Promise<Rows> {
  const tables = await env.DB.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all<{ name: string }>();
  const out: Rows = new Map();
  for (const { name } of tables.results) {
    if (BOOKKEEPING.test(name)) continue;
    const columns = (await env.DB.prepare(`PRAGMA table_info(${name})`).all<{ name: string }>()).results.map((c) => c.name);
    out.set(name, { columns, rows: await rowsOf(name, columns) });
  }
  return out;
}

async function rowsOf(table: string, columns: readonly string[]): Promise<string[]> {
  const list = columns.map((c) => `"${c}"`).join(", ");
  const { results } = await env.DB.prepare(`SELECT ${list} FROM ${table} ORDER BY ${list}`).all();
  return results.map((r) => JSON.stringify(columns.map((c) => (r as Record<string, unknown>)[c])));
}

/** PRAGMA foreign_key_check (each violation) and PRAGMA quick_check. */
async function integrity() {
  return {
    violations: (await env.DB.prepare("PRAGMA foreign_key_check").all()).results,
    quickCheck: (await env.DB.prepare("PRAGMA quick_check").all()).results.map((r) => Object.values(r)[0]),
  };
}

/**
 * Rows as each release wrote them, by the first migration whose layout they need. The legacy rows
 * are the Go store's own writes (its statements verbatim), which Turnstore's baseline tables take too.
 */
async function rowsAt(point: number): Promise<void> {
  for (const snapshot of GO_ERA_SNAPSHOTS) await run(await goStoreSave(snapshot));
  if (point < 1) return;
  // The first release: a snapshot listing its blocks, its turn with runtime truth, its conversation.
  const [block] = (await goStoreSave({ ...GO_ERA_SNAPSHOTS[0]!, convId: "r1-conv", turnId: "r1-t1" })).filter(
    (s) => s.sql === GO_STORE_WRITES.upsertBlock,
  );
  await run([block!]);
  const [blockId, hash] = block!.params as [string, string];
  await run([
    {
      sql: `INSERT INTO turn_snapshots (id, conv_id, session_id, turn_id, phase, created_at_ms, runtime_key, inference_id, turn_metadata_json, turn_data_json, block_refs_json)
            VALUES (1000, 'r1-conv', 'r1-sess', 'r1-t1', 'final', 1767000000000, 'inventory', 'r1-inf', '{"a":1}', '{"d":2}', ?)`,
      params: [JSON.stringify([[blockId, hash]])],
    },
    {
      sql: `INSERT INTO turns (conv_id, session_id, turn_id, turn_created_at_ms, turn_metadata_json, turn_data_json, updated_at_ms, runtime_key, inference_id, runtime_key_at_ms, inference_id_at_ms)
            VALUES ('r1-conv', 'r1-sess', 'r1-t1', 1767000000000, '{"a":1}', '{"d":2}', 1767000000000, 'inventory', 'r1-inf', 1767000000000, 1767000000000)`,
      params: [],
    },
    {
      sql: `INSERT INTO conversations VALUES ('r1-conv', 'r1-sess', 'inventory', 1767000000000, 1767000000000, 1767000000000, 1, 1)`,
      params: [],
    },
  ]);
  if (point < 3) return;
  await run([{ sql: `UPDATE turn_snapshots SET turn_extra_json = '{"run_id":"r-1"}' WHERE id = 1000`, params: [] }]);
  if (point < 4) return;
  // Block paths: a snapshot on a node of its conversation, the block counted.
  await run([
    { sql: `INSERT INTO block_nodes VALUES ('r4-conv', '0123456789abcdef0123456789abcdef', '', 1, ?, ?, '')`, params: [blockId, hash] },
    { sql: `UPDATE blocks SET ref_count = 1 WHERE block_id = ? AND content_hash = ?`, params: [blockId, hash] },
    {
      sql: `INSERT INTO turn_snapshots (id, conv_id, session_id, turn_id, phase, created_at_ms, runtime_key, inference_id, tip_chain, block_count)
            VALUES (1001, 'r4-conv', 'r4-sess', 'r4-t1', 'final', 1768000000000, 'planner', '', '0123456789abcdef0123456789abcdef', 1)`,
      params: [],
    },
    {
      sql: `INSERT INTO conversations VALUES ('r4-conv', 'r4-sess', 'planner', 1768000000000, 1768000000000, 1768000000000, 1, 1)`,
      params: [],
    },
  ]);
  if (point < 5) return;
  await run([{ sql: `INSERT INTO conversation_deletions VALUES ('r5-gone', 1769000000000, 'admin')`, params: [] }]);
}

/** Columns the backfill (0002) fills where they are empty: a database from before it may gain values there. */
const BACKFILLED = new Set(["turns.runtime_key", "turns.inference_id", "turns.runtime_key_at_ms", "turns.inference_id_at_ms"]);

async function expectEveryRowKept(before: Rows, backfillPending: boolean): Promise<void> {
  const after = await snapshotRows();
  for (const [table, { columns, rows }] of before) {
    expect(after.has(table), `${table} is still there`).toBe(true);
    const kept = columns.filter((c) => !(backfillPending && BACKFILLED.has(`${table}.${c}`)));
    expect(after.get(table)!.columns, `${table} keeps its columns`).toEqual(expect.arrayContaining(columns));
    const rowsBefore = kept.length === columns.length ? rows : await projected(before, table, kept);
    const rowsAfter = new Set(await rowsOf(table, kept));
    for (const row of rowsBefore) expect(rowsAfter.has(row), `${table} keeps ${row}`).toBe(true);
  }
}

/** A table's rows before, on fewer columns (the columns' positions in the JSON arrays). */
async function projected(before: Rows, table: string, kept: readonly string[]): Promise<string[]> {
  const { columns, rows } = before.get(table)!;
  const at = kept.map((c) => columns.indexOf(c));
  return rows.map((r) => JSON.stringify(at.map((i) => (JSON.parse(r) as unknown[])[i]))).sort();
}

describe("every migration, applied to every earlier database", () => {
  it("a database the Go store created (its DDL, foreign keys, rows and a cascade delete): valid, nothing lost", async () => {
    await reset();
    await run(await goEraDatabase());
    const before = await snapshotRows();
    await applyD1Migrations(env.DB, migrations);
    expect(await integrity()).toEqual({ violations: [], quickCheck: ["ok"] });
    await expectEveryRowKept(before, true);
  });

  it.each(["0000", "0001", "0004", "0007"])("a database at %s with the rows its release wrote: valid, nothing lost", async (point) => {
    await reset();
    await applyD1Migrations(env.DB, applied(point));
    await rowsAt(Number(point));
    const before = await snapshotRows();
    await applyD1Migrations(env.DB, migrations);
    expect(await integrity()).toEqual({ violations: [], quickCheck: ["ok"] });
    await expectEveryRowKept(before, Number(point) < 2);
    // Applying them again changes nothing (every migration is recorded, none runs twice).
    const settled = await snapshotRows();
    await applyD1Migrations(env.DB, migrations);
    expect(await snapshotRows()).toEqual(settled);
  });
});
