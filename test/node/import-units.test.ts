/**
 * The import tool's pure parts, without D1: layout detection, the readers (including the Worker's
 * own normalization for layout C), and SQL text that must survive wrangler and D1's limits —
 * checked by running the generated statements in SQLite (sql.js) and reading the values back.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import initSqlJs from "sql.js";
import { afterAll, describe, expect, it } from "vitest";
import { parseFlags, TARGET_OPTIONS, targetFrom, UsageError } from "../../scripts/legacy/cli-flags";
import { buildImportPlan, migrationStatements, TOTALS_QUERY } from "../../scripts/legacy/import-plan";
import { detectLayout } from "../../scripts/legacy/layout";
import { readLegacySource } from "../../scripts/legacy/run-import";
import { rollUpTurn } from "../../scripts/legacy/snapshot-store";
import { CREATE_PARTS_TABLE, DROP_PARTS_TABLE, InsertWriter, PACK_BUDGET_BYTES, packStatements, sqlLiteral, STATEMENT_BUDGET_BYTES } from "../../scripts/legacy/sql-text";
import { InputError } from "../../scripts/legacy/sqlite-file";
import { readTimelineRows } from "../../scripts/legacy/timeline";
import {
  HELLO_BLOCK_HASH,
  layoutA,
  layoutB,
  layoutC,
  layoutMigrated,
  timelineA,
  USER_BLOCK_HASH,
  writeSqlite,
} from "./import.fixtures";

const dir = mkdtempSync(join(tmpdir(), "turnstore-import-units-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const tables = (spec: Record<string, string>) => new Map(Object.entries(spec).map(([t, cols]) => [t, cols.split(",").map((c) => c.trim())]));
const NORMALIZED = {
  blocks: "block_id, content_hash, hash_algorithm, kind, role, payload_json, block_metadata_json, first_seen_at_ms",
  turn_block_membership: "conv_id, session_id, turn_id, phase, snapshot_created_at_ms, ordinal, block_id, content_hash",
};

describe("layout detection", () => {
  it("tells A, B, C and an already-migrated A apart by their columns", () => {
    const a = detectLayout(tables({ turns: "conv_id, session_id, turn_id, turn_created_at_ms, turn_metadata_json, turn_data_json, updated_at_ms", ...NORMALIZED }), "x");
    const b = detectLayout(tables({ turns: "conv_id, session_id, turn_id, turn_created_at_ms, turn_metadata_json, turn_data_json", ...NORMALIZED }), "x");
    const m = detectLayout(tables({ turns: "conv_id, session_id, turn_id, turn_created_at_ms, updated_at_ms, runtime_key, inference_id", ...NORMALIZED }), "x");
    const c = detectLayout(tables({ turns: "conv_id, session_id, turn_id, phase, created_at_ms, payload" }), "x");
    const cRun = detectLayout(tables({ turns: "conv_id, run_id, turn_id, phase, created_at_ms, payload" }), "x");
    expect([a.id, b.id, m.id, c.id, cRun.id]).toEqual(["A", "B", "A", "C", "C"]);
    expect([a.hasUpdatedAt, b.hasUpdatedAt]).toEqual([true, false]);
    expect([a.hasRuntimeKey, m.hasRuntimeKey, m.hasInferenceId]).toEqual([false, true, true]);
    expect([c.sessionColumn, cRun.sessionColumn]).toEqual(["session_id", "run_id"]);
  });

  it.each([
    ["no turns table", { notes: "id, body" }, /no turns table \(it has notes\(id, body\)\)/],
    ["turns of some other program", { turns: "id, text" }, /turns\(id, text\) is neither the normalized store/],
    ["a snapshot store without its session", { turns: "conv_id, turn_id, phase, created_at_ms, payload" }, /lacks session_id \(or run_id\)/],
    ["normalized turns without blocks", { turns: "conv_id, session_id, turn_id, turn_created_at_ms", turn_block_membership: NORMALIZED.turn_block_membership }, /no blocks table/],
    ["membership missing a column", { turns: "conv_id, session_id, turn_id, turn_created_at_ms", blocks: NORMALIZED.blocks, turn_block_membership: "conv_id, session_id" }, /turn_block_membership has no turn_id/],
  ])("refuses %s with an InputError naming what it found", (_, spec, message) => {
    expect(() => detectLayout(tables(spec), "legacy.db")).toThrow(InputError);
    expect(() => detectLayout(tables(spec), "legacy.db")).toThrow(message);
  });

  it("refuses a file that is not SQLite, and an empty SQLite file, as InputError", async () => {
    const text = join(dir, "notes.txt");
    const { writeFileSync } = await import("node:fs");
    writeFileSync(text, "this is a text file, not a database\n".repeat(10));
    await expect(readLegacySource(text)).rejects.toThrow(/is not a SQLite database/);
    await expect(readLegacySource(join(dir, "absent.db"))).rejects.toThrow(/cannot read turns database .*ENOENT/);
    const empty = writeSqlite(dir, "empty.db", "CREATE TABLE other (x);", {});
    await expect(readLegacySource(empty)).rejects.toThrow(/unknown layout .* no turns table/);
  });
});

describe("reading layout C through the Worker's own normalization", () => {
  it("re-hashes blocks exactly as the Go implementation did (contract vectors)", async () => {
    const source = await readLegacySource(layoutC(dir));
    const ids = source.blocks.map((b) => [b.block_id, b.content_hash, b.kind, b.role]);
    expect(ids).toContainEqual(["ct1#0", USER_BLOCK_HASH, "user", "user"]);
    expect(ids).toContainEqual(["ct1#1", HELLO_BLOCK_HASH, "llm_text", "assistant"]);
    expect(source.blocks).toHaveLength(3);
  });

  it("keeps each snapshot's own runtime, takes the payload's turn id, names bad YAML, imports exact repeats once", async () => {
    const source = await readLegacySource(layoutC(dir));
    const snapshots = source.snapshots.map((s) => [s.turn_id, s.phase, s.created_at_ms, s.runtime_key, s.inference_id, JSON.parse(s.block_refs_json).length]);
    expect(snapshots).toEqual([
      ["ct1", "pre_inference", 100, "planner", "c-inf-1", 2],
      ["ct1", "final", 200, "", "c-inf-2", 3],
      ["ct2", "final", 300, "reviewer", "", 0],
    ]);
    expect(source.offered.turn_snapshots).toBe(5);
    expect(source.rejected.turn_snapshots).toBe(1);
    expect(source.notImported).toEqual([
      { table: "turns", key: { conv_id: "c-conv-1", session_id: "c-s1", turn_id: "ct3", phase: "final", created_at_ms: 400 }, reason: expect.stringMatching(/not valid YAML/) },
    ]);
    expect(source.warnings.map((w) => w.reason)).toEqual([expect.stringMatching(/1 row\(s\) repeat an earlier snapshot exactly/)]);
  });

  it("rolls snapshots up into turns by the Worker's rule: runtime of the newest snapshot that has one", async () => {
    const source = await readLegacySource(layoutC(dir));
    const ct1 = source.turns.find((t) => t.turn_id === "ct1")!;
    expect(ct1).toMatchObject({
      turn_created_at_ms: 100,
      updated_at_ms: 200,
      runtime_key: "planner",
      runtime_key_at_ms: 100,
      inference_id: "c-inf-2",
      inference_id_at_ms: 200,
    });
    expect(JSON.parse(ct1.turn_data_json)).toEqual({ answer: 42 });
  });

  it("reads the older run_id variant, with run_id as the session", async () => {
    const source = await readLegacySource(layoutC(dir, "run_id", "turns-c-run-id.db"));
    expect(source.layout.sessionColumn).toBe("run_id");
    expect(new Set(source.snapshots.map((s) => s.session_id))).toEqual(new Set(["c-s1"]));
    expect(source.snapshots).toHaveLength(3);
  });

  it("a later arrival wins a tie on created_at_ms", () => {
    const snap = (runtime: string, metadata: string) => ({
      conv_id: "c", session_id: "s", turn_id: "t", phase: "final", created_at_ms: 5,
      runtime_key: runtime, inference_id: "", turn_metadata_json: metadata, turn_data_json: "{}", turn_extra_json: "", block_refs_json: "[]",
    });
    const turn = rollUpTurn([snap("first", '{"n":1}'), snap("second", '{"n":2}'), snap("", '{"n":3}')]);
    expect([turn.runtime_key, turn.turn_metadata_json]).toEqual(["second", '{"n":3}']);
  });
});

describe("reading layouts A and B", () => {
  it("A: rows as stored, warnings for metadata that is not a JSON object", async () => {
    const source = await readLegacySource(layoutA(dir));
    expect(source.layout.id).toBe("A");
    expect(source.offered).toEqual({ turns: 5, blocks: 6, turn_block_membership: 8, turn_snapshots: 6 });
    expect(source.notImported).toEqual([]);
    expect(source.warnings).toEqual([
      { table: "turns", key: { conv_id: "a-conv-1", session_id: "a-s1", turn_id: "t3" }, reason: expect.stringMatching(/not a JSON object/) },
    ]);
    // Runtime is left to the backfill, which reads the metadata in D1.
    expect(source.turns.every((t) => t.runtime_key === "" && t.runtime_key_at_ms === 0)).toBe(true);
  });

  it("B: updated_at_ms taken from turn_created_at_ms; an orphan snapshot named; a missing block warned", async () => {
    const source = await readLegacySource(layoutB(dir));
    expect(source.layout.id).toBe("B");
    expect(source.turns.map((t) => [t.turn_id, t.updated_at_ms])).toEqual([["t1", 10_000], ["t2", 11_000]]);
    expect(source.notImported).toEqual([
      {
        table: "turn_block_membership",
        key: { conv_id: "b-conv-1", session_id: "b-s1", turn_id: "t-missing", phase: "final", snapshot_created_at_ms: 12_000 },
        reason: expect.stringMatching(/its turn is not in turns/),
      },
    ]);
    expect(source.rejected).toMatchObject({ turn_block_membership: 1, turn_snapshots: 1 });
    expect(source.warnings.map((w) => w.reason)).toEqual([expect.stringMatching(/block "ghost" \(deadbeef\) is not in blocks/)]);
    expect(source.snapshotsByConv.get("b-conv-1")).toBe(3);
  });

  it("an already-migrated database keeps its stored runtime_key / inference_id", async () => {
    const source = await readLegacySource(layoutMigrated(dir));
    expect(source.turns.map((t) => [t.turn_id, t.runtime_key, t.inference_id])).toEqual([
      ["t1", "kept-rt", "kept-inf"],
      ["t2", "", ""],
    ]);
  });

  it("names rows it cannot read instead of dropping them", async () => {
    const path = writeSqlite(dir, "bad-rows.db", layoutDdlWithoutConstraints(), {
      turns: [
        ["x", "s", "t1", 1, "{}", "{}", 1],
        ["x", "", "t2", 1, "{}", "{}", 1],
        ["x", "s", "t3", "soon", "{}", "{}", 1],
      ],
      blocks: [],
      turn_block_membership: [],
    });
    const source = await readLegacySource(path);
    expect(source.turns.map((t) => t.turn_id)).toEqual(["t1"]);
    expect(source.notImported).toEqual([
      { table: "turns", key: { conv_id: "x", session_id: "", turn_id: "t2" }, reason: "session_id is empty" },
      { table: "turns", key: { conv_id: "x", session_id: "s", turn_id: "t3" }, reason: 'turn_created_at_ms is not an integer ("soon")' },
    ]);
  });
});

function layoutDdlWithoutConstraints(): string {
  return `CREATE TABLE turns (conv_id, session_id, turn_id, turn_created_at_ms, turn_metadata_json, turn_data_json, updated_at_ms);
CREATE TABLE blocks (block_id, content_hash, hash_algorithm, kind, role, payload_json, block_metadata_json, first_seen_at_ms);
CREATE TABLE turn_block_membership (conv_id, session_id, turn_id, phase, snapshot_created_at_ms, ordinal, block_id, content_hash);`;
}

describe("timeline rows", () => {
  it("accepts last_activity_ms or updated_at_ms as the pointer's time and names unreadable rows", () => {
    const read = readTimelineRows([
      { conv_id: "c1", session_id: "s", runtime_key: " planner ", created_at_ms: 5, last_activity_ms: 9 },
      { conv_id: "c2", runtime_key: "x", updated_at_ms: 7 },
      { conv_id: null, runtime_key: "y" },
    ]);
    expect(read.conversations).toEqual([
      { conv_id: "c1", session_id: "s", runtime_key: "planner", created_at_ms: 5, last_activity_ms: 9 },
      { conv_id: "c2", session_id: "", runtime_key: "x", created_at_ms: 7, last_activity_ms: 7 },
    ]);
    expect(read.notImported).toEqual([{ table: "timeline_conversations", key: { conv_id: "NULL" }, reason: "conv_id is NULL" }]);
  });
});

describe("SQL text for wrangler and D1", async () => {
  const SQL = await initSqlJs();

  it("round-trips awkward values through literal INSERTs, long ones staged in pieces", () => {
    const values = [
      "plain",
      "it's 'quoted'",
      "BEGIN TRANSACTION; COMMIT; begin transaction",
      "nul\u0000inside",
      "emoji 🧵 and ünïcödé",
      "x".repeat(250_000),
      `${"é".repeat(60_000)}🧵${"'".repeat(50_000)}`,
      "",
    ];
    const writer = new InsertWriter();
    writer.insert({ table: "t", columns: ["id", "v"], conflict: "ON CONFLICT DO NOTHING" }, values.map((v, i) => [i, v]));
    expect(writer.needsPartsTable).toBe(true);
    const statements = [...CREATE_PARTS_TABLE, ...writer.statements, DROP_PARTS_TABLE];
    for (const s of statements) {
      expect(Buffer.byteLength(s)).toBeLessThanOrEqual(STATEMENT_BUDGET_BYTES);
      expect(s).not.toContain("BEGIN TRANSACTION");
    }
    const db = new SQL.Database();
    db.run("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)");
    for (const s of statements) db.run(s);
    const back = db.exec("SELECT v FROM t ORDER BY id")[0]!.values.map(([v]) => v);
    expect(back).toEqual(values);
    expect(db.exec("SELECT name FROM sqlite_master WHERE name = '_turnstore_import_parts'")).toEqual([]);
  });

  it("packs many small rows into statements of about the pack budget", () => {
    const writer = new InsertWriter();
    const rows = Array.from({ length: 5000 }, (_, i) => [i, `row ${i} `.repeat(5)]);
    writer.insert({ table: "t", columns: ["id", "v"], conflict: "" }, rows);
    // Each statement but the last is full: the next row (about 60 bytes) would not have fitted.
    expect(writer.statements.slice(0, -1).every((s) => Buffer.byteLength(s) > PACK_BUDGET_BYTES - 100)).toBe(true);
    expect(writer.needsPartsTable).toBe(false);
    expect(writer.statements.every((s) => Buffer.byteLength(s) <= PACK_BUDGET_BYTES)).toBe(true);
    expect(writer.statements.join("\n").match(/^\(\d+, /gm)).toHaveLength(5000);
  });

  it("writes numbers and NULL as SQL, and refuses non-finite numbers", () => {
    expect([sqlLiteral(null), sqlLiteral(42), sqlLiteral(-1.5), sqlLiteral("a'b")]).toEqual(["NULL", "42", "-1.5", "'a''b'"]);
    expect(() => sqlLiteral(Number.NaN)).toThrow();
  });

  it("packs statements into chunks and counts them", () => {
    const chunks = packStatements(["SELECT 1", "SELECT ';\n'", "SELECT 3"], 25);
    expect(chunks.map((c) => c.count)).toEqual([2, 1]);
    expect(chunks.map((c) => c.text).join("")).toBe("SELECT 1;\nSELECT ';\n';\nSELECT 3;\n");
  });
});

describe("the import plan", () => {
  it("keeps every statement under D1's limit, ends with the backfill and the conversation merge, and lists every conversation", async () => {
    const source = await readLegacySource(layoutA(dir));
    const { readTimelineFile } = await import("../../scripts/legacy/timeline");
    const { openSqliteFile } = await import("../../scripts/legacy/sqlite-file");
    const file = await openSqliteFile(timelineA(dir), "timeline");
    const timeline = readTimelineFile(file);
    file.close();
    const backfill = migrationStatements((await import("node:fs")).readFileSync(new URL("../../drizzle/0002_backfill.sql", import.meta.url), "utf8"));
    const plan = buildImportPlan(source, timeline.conversations, backfill);
    expect(plan.convIds).toEqual(["a-conv-1", "a-conv-2", "a-conv-3", "a-conv-4"]);
    expect(plan.writes.every((s) => Buffer.byteLength(s) <= 100_000)).toBe(true);
    expect(plan.writes.slice(-backfill.length - 1, -1)).toEqual(backfill);
    expect(plan.writes.at(-1)).toMatch(/^WITH imported\(conv_id/);
    expect(plan.before[0]).toBe(TOTALS_QUERY);
    expect(backfill.filter((s) => /^UPDATE turns|\nUPDATE turns/m.test(s))).toHaveLength(4);
    expect(backfill.some((s) => /INSERT INTO turn_snapshots/.test(s) && /FROM turn_block_membership/.test(s))).toBe(true);
  });
});

describe("target flags", () => {
  it("--local is the default; --persist-to goes with it; --remote stands alone", () => {
    expect(targetFrom({})).toEqual({ remote: false, persistTo: undefined });
    expect(targetFrom({ local: true, "persist-to": "/tmp/d" })).toEqual({ remote: false, persistTo: "/tmp/d" });
    expect(targetFrom({ remote: true })).toEqual({ remote: true });
  });

  it.each([
    [{ local: true, remote: true }, /not both/],
    [{ remote: true, "persist-to": "d" }, /--persist-to only applies to --local/],
    [{ "persist-to": "" }, /needs a directory/],
  ])("refuses %o", (values, message) => {
    expect(() => targetFrom(values)).toThrow(UsageError);
    expect(() => targetFrom(values)).toThrow(message);
  });

  it("unknown flags and flags without their value are usage errors", () => {
    expect(() => parseFlags(["--what"], TARGET_OPTIONS)).toThrow(UsageError);
    expect(() => parseFlags(["--persist-to"], TARGET_OPTIONS)).toThrow(UsageError);
    expect(parseFlags(["--remote", "--json"], TARGET_OPTIONS)).toEqual({ remote: true, json: true });
  });
});

describe("wrangler failures", () => {
  it("become one plain line, from the JSON error or the ✘ [ERROR] output", async () => {
    const { wranglerFailure } = await import("../../scripts/legacy/wrangler-d1");
    expect(wranglerFailure('{"error":{"text":"no such table: turns: SQLITE_ERROR\\nmore"}}', "")).toBe("no such table: turns: SQLITE_ERROR");
    expect(wranglerFailure("", "\u001b[31m✘ \u001b[41;31m[\u001b[41;97mERROR\u001b[41;31m]\u001b[0m \u001b[1mset CLOUDFLARE_API_TOKEN\u001b[0m\n")).toBe("set CLOUDFLARE_API_TOKEN");
    expect(wranglerFailure("", "npm warn x\nsomething broke\n")).toBe("something broke");
  });
});
