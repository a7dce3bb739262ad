/**
 * The legacy import end to end: each layout's fixture (built with sql.js in the test) imported into
 * one throw-away local D1 (`--persist-to` a temp folder holding a copy of a migrated one: the
 * import's own migration of a fresh folder is MIGRATION.md's import rehearsal, run by the docs
 * walk) through the Worker's own store code, then read back from D1 (through the same binding,
 * tools/d1.ts) and through the Worker itself (`wrangler dev` on the same folder). The layouts use
 * distinct conversations, so they share the database: later imports also show that earlier data is
 * left alone.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exitCodeFor, type ImportSummary } from "../../../scripts/legacy/import-summary";
import { runImport } from "../../../scripts/legacy/run-import";
import { withDatabase, type D1Target } from "../../../tools/d1";
import { latestMigration, migrationFiles } from "../../../tools/migrations";
import { applyMigrationsLocal, startDev, type DevServer } from "../../../tools/wrangler-dev";
import { type CliRun, npmRun, runMain } from "./cli-runs";
import { switchRuntime } from "../../../src/store/conversations";
import { listSnapshots, type SnapshotRecord } from "../../../src/store/snapshot-reads";
import {
  damagedCopy,
  geppettoStore,
  HELLO_BLOCK_HASH,
  layoutA,
  layoutB,
  layoutC,
  layoutMigrated,
  LONG_TEXT,
  timelineA,
  TRICKY_TEXT,
  USER_BLOCK_HASH,
  writeSqlite,
  YAML_EMPTY_TURN,
  YAML_FINAL,
  YAML_PRE_INFERENCE,
} from "./import.fixtures";

/** Each migration run and each binding costs seconds of CPU; on a busy 2-core box these steps need room. */
const HEAVY_MS = 300_000;

const dir = mkdtempSync(join(tmpdir(), "turnstore-import-"));
const persistTo = join(dir, "d1");
const target: D1Target = { remote: false, persistTo };
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const files = {
  a: layoutA(dir),
  timeline: timelineA(dir),
  b: layoutB(dir),
  c: layoutC(dir),
  migrated: layoutMigrated(dir),
  g: geppettoStore(dir),
};

type ResultRow = Record<string, unknown>;
const all = async (db: D1Database, sql: string, ...params: unknown[]) =>
  (
    await db
      .prepare(sql)
      .bind(...params)
      .all<ResultRow>()
  ).results;

/** Every snapshot, oldest first, as the debug API's store reads return it. */
async function allSnapshots(db: D1Database, convId?: string): Promise<SnapshotRecord[]> {
  const page = await listSnapshots(db, { convId, limit: 1000 });
  return page.records.reverse();
}

/** Everything D1 holds after the imports, through one binding. */
function readBack() {
  return withDatabase(target, async (db) => {
    const turns = await all(
      db,
      `SELECT conv_id, session_id, turn_id, turn_created_at_ms, updated_at_ms, runtime_key, inference_id, runtime_key_at_ms
       FROM turns ORDER BY conv_id, turn_id`,
    );
    const snapshots = await allSnapshots(db);
    const conversations = await all(db, "SELECT * FROM conversations ORDER BY conv_id");
    const membership = await all(
      db,
      "SELECT substr(conv_id, 1, 1) AS layout, count(*) AS n FROM turn_block_membership GROUP BY layout ORDER BY layout",
    );
    const blocks = await all(
      db,
      "SELECT block_id, content_hash, payload_json FROM blocks WHERE block_id IN ('u1', 'a2', 'ct1#0', 'ct1#1') ORDER BY block_id",
    );
    const unconverted = await all(db, "SELECT count(*) AS n FROM turn_snapshots WHERE tip_chain IS NULL");
    const of = (prefix: string) => ({
      turns: turns.filter((r) => String(r.conv_id).startsWith(prefix)),
      snapshots: snapshots.filter((s) => s.convId.startsWith(prefix)).sort((x, y) => x.createdAtMs - y.createdAtMs || x.id - y.id),
      conversations: conversations.filter((r) => String(r.conv_id).startsWith(prefix)),
      membershipRows: Number(membership.find((r) => `${r.layout}-` === prefix)?.n ?? 0),
    });
    return { a: of("a-"), b: of("b-"), c: of("c-"), m: of("m-"), g: of("g-"), blocks, unconverted: Number(unconverted[0]!.n) };
  });
}

/** The layouts imported one after another into the same D1, then read back once. */
const summaries = {} as Record<"a" | "b" | "c" | "m" | "g", ImportSummary>;
let d1: Awaited<ReturnType<typeof readBack>>;
beforeAll(async () => {
  // A migrated database to import into (a copy; importing into a fresh folder is the docs walk's import rehearsal).
  applyMigrationsLocal(persistTo);
  summaries.a = await runImport({ turns: files.a, timeline: files.timeline, target });
  summaries.b = await runImport({ turns: files.b, target });
  summaries.c = await runImport({ turns: files.c, target });
  // m-conv-1 already exists in D1, switched through the Worker's store at 30_000 — after every imported turn.
  await withDatabase(target, (db) => switchRuntime(db, { convId: "m-conv-1", runtimeKey: "switched-rt", sessionId: "m-s1", atMs: 30_000 }));
  summaries.m = await runImport({ turns: files.migrated, target });
  summaries.g = await runImport({ turns: files.g, target });
  d1 = await readBack();
}, HEAVY_MS);

const row = (r: ResultRow, keys: string[]) => keys.map((k) => r[k]);
const tableCounts = (s: ImportSummary) => Object.fromEntries(s.tables.map((t) => [t.table, [t.read, t.written, t.skipped, t.rejected]]));
const snapshotRow = (s: SnapshotRecord) => [s.turnId, s.phase, s.createdAtMs, s.runtimeKey, s.inferenceId];

describe("layout A with timeline.db", () => {
  it("writes every row, names the timeline row it cannot import, converts its snapshots, and verifies", () => {
    expect(tableCounts(summaries.a)).toEqual({
      turns: [5, 5, 0, 0],
      blocks: [6, 6, 0, 0],
      turn_block_membership: [8, 8, 0, 0],
      turn_snapshots: [6, 6, 0, 0],
      conversations: [4, 3, 0, 1],
    });
    expect(summaries.a.convertedSnapshots).toBe(6);
    expect(summaries.a.verification).toEqual({ ok: true, conversationsChecked: 3, problems: [] });
    expect(summaries.a.notImported).toEqual([
      { table: "timeline_conversations", key: { conv_id: "a-conv-4" }, reason: expect.stringMatching(/no session_id/) },
    ]);
    expect(summaries.a.source.otherTables).toEqual([expect.objectContaining({ table: "timeline_entities", rows: 1 })]);
    expect(exitCodeFor(summaries.a)).toBe(3);
  });

  it("backfills runtime and inference by the extraction rule, '' where nothing is known", () => {
    expect(d1.a.turns.map((r) => row(r, ["turn_id", "runtime_key", "inference_id", "updated_at_ms", "runtime_key_at_ms"]))).toEqual([
      ["t1", "planner", "inf-a1", 1500, 1500],
      ["t2", "coder", "", 2600, 2600],
      ["t3", "", "", 3000, 0],
      ["t4", "fallback-rt", "77", 3600, 3600],
      ["t5", "drafter", "", 4100, 4100],
    ]);
  });

  it("carries every legacy snapshot over, blocks in ordinal order, reporting its turn's values; all converted to block paths", () => {
    expect(d1.a.snapshots.map(snapshotRow)).toEqual([
      ["t1", "pre_inference", 1000, "planner", "inf-a1"],
      ["t1", "final", 1500, "planner", "inf-a1"],
      ["t2", "final", 2600, "coder", ""],
      ["t3", "final", 3000, "", ""],
      ["t4", "final", 3600, "fallback-rt", "77"],
      ["t5", "final", 4100, "drafter", ""],
    ]);
    expect(d1.a.snapshots[1]!.turn.blocks.map((b) => [b.id, b.kind, b.payload.text])).toEqual([
      ["u1", "user", TRICKY_TEXT],
      ["a1", "llm_text", "plan"],
    ]);
    expect(d1.a.snapshots[2]!.turn.data).toEqual({ k: 1 });
    expect(d1.a.membershipRows).toBe(8);
    expect(d1.unconverted).toBe(0);
  });

  it("stores a 150 KB payload and text SQL would mangle exactly", () => {
    const text = (id: string) => JSON.parse(String(d1.blocks.find((b) => b.block_id === id)!.payload_json)).text;
    expect([text("a2"), text("u1")]).toEqual([LONG_TEXT, TRICKY_TEXT]);
  });

  it("points each conversation at the newest evidence: the turns, or a newer timeline pointer", () => {
    const keys = [
      "conv_id",
      "session_id",
      "current_runtime_key",
      "current_runtime_at_ms",
      "created_at_ms",
      "last_activity_ms",
      "turn_count",
      "snapshot_count",
    ];
    expect(d1.a.conversations.map((r) => row(r, keys))).toEqual([
      ["a-conv-1", "a-s1", "fallback-rt", 3600, 900, 3600, 4, 5],
      ["a-conv-2", "a-s2", "reviewer", 5000, 3900, 5000, 1, 1],
      ["a-conv-3", "a-s3", "solo", 200, 100, 200, 0, 0],
    ]);
  });
});

describe("layout B (no updated_at_ms)", () => {
  it("takes updated_at_ms from turn_created_at_ms and extracts numeric and nested runtimes", () => {
    expect(d1.b.turns.map((r) => row(r, ["turn_id", "turn_created_at_ms", "updated_at_ms", "runtime_key", "inference_id"]))).toEqual([
      ["t1", 10_000, 10_000, "7", "42"],
      ["t2", 11_000, 11_000, "deep", ""],
    ]);
  });

  it("imports every snapshot that has a turn, names the one that has none; a missing block reads as a placeholder", () => {
    expect(d1.b.snapshots.map((s) => snapshotRow(s).slice(0, 4))).toEqual([
      ["t1", "final", 10_000, "7"],
      ["t1", "post_tools", 10_500, "7"],
      ["t2", "final", 11_000, "deep"],
    ]);
    expect(d1.b.snapshots[2]!.turn.blocks.map((b) => [b.id, b.kind, b.metadata])).toEqual([
      ["bu1", "user", {}],
      ["ghost", "other", { "turnstore.missing_block@v1": "deadbeef" }],
    ]);
    expect(tableCounts(summaries.b)).toMatchObject({
      turn_block_membership: [6, 5, 0, 1],
      turn_snapshots: [4, 3, 0, 1],
      turns: [2, 2, 0, 0],
    });
    expect(summaries.b.notImported.map((f) => [f.table, f.key.turn_id])).toEqual([["turn_block_membership", "t-missing"]]);
    expect(summaries.b.warnings.map((w) => w.key.turn_id)).toEqual(["t2"]);
    expect(exitCodeFor(summaries.b)).toBe(3);
  });

  it("derives the conversation from its turns", () => {
    expect(
      row(d1.b.conversations[0]!, [
        "conv_id",
        "session_id",
        "current_runtime_key",
        "created_at_ms",
        "last_activity_ms",
        "turn_count",
        "snapshot_count",
      ]),
    ).toEqual(["b-conv-1", "b-s1", "deep", 10_000, 11_000, 2, 3]);
  });
});

describe("layout C (single-table YAML snapshot store)", () => {
  it("stores each snapshot with its own runtime and inference, and blocks hashed as Go hashed them", () => {
    expect(d1.c.snapshots.map((s) => [...snapshotRow(s), s.turn.blocks.map((b) => b.id)])).toEqual([
      ["ct1", "pre_inference", 100, "planner", "c-inf-1", ["ct1#0", "ct1#1"]],
      ["ct1", "final", 200, "", "c-inf-2", ["ct1#0", "ct1#1", "tool-1"]],
      ["ct2", "final", 300, "reviewer", "", []],
    ]);
    expect(d1.blocks.filter((b) => String(b.block_id).startsWith("ct1#")).map((b) => [b.block_id, b.content_hash])).toEqual([
      ["ct1#0", USER_BLOCK_HASH],
      ["ct1#1", HELLO_BLOCK_HASH],
    ]);
    expect(tableCounts(summaries.c)).toEqual({
      turn_snapshots: [5, 3, 1, 1],
      turns: [2, 2, 0, 0],
      conversations: [1, 1, 0, 0],
    });
    expect(summaries.c.notImported.map((f) => [f.key.turn_id, f.reason])).toEqual([["ct3", expect.stringMatching(/not valid YAML/)]]);
  });

  it("rolls turns up by the Worker's rule and points the conversation at the newest turn's runtime", () => {
    expect(
      d1.c.turns.map((r) => row(r, ["turn_id", "turn_created_at_ms", "updated_at_ms", "runtime_key", "inference_id", "runtime_key_at_ms"])),
    ).toEqual([
      ["ct1", 100, 200, "planner", "c-inf-2", 100],
      ["ct2", 300, 300, "reviewer", "", 300],
    ]);
    expect(
      row(d1.c.conversations[0]!, [
        "session_id",
        "current_runtime_key",
        "created_at_ms",
        "last_activity_ms",
        "turn_count",
        "snapshot_count",
      ]),
    ).toEqual(["c-s1", "reviewer", 100, 300, 2, 3]);
  });
});

describe("an already-migrated Go database, into a conversation D1 already has", () => {
  it("keeps stored runtime_key / inference_id, backfills only what is empty, and never moves a newer pointer back", () => {
    expect(exitCodeFor(summaries.m)).toBe(0);
    expect(d1.m.turns.map((r) => row(r, ["turn_id", "runtime_key", "inference_id"]))).toEqual([
      ["t1", "kept-rt", "kept-inf"],
      ["t2", "meta-rt2", ""],
    ]);
    expect(d1.m.snapshots.map((s) => [s.turnId, s.runtimeKey, s.inferenceId])).toEqual([
      ["t1", "kept-rt", "kept-inf"],
      ["t2", "meta-rt2", ""],
    ]);
    // The Worker's later switch stays; the activity window and counts take the imported turns in.
    expect(
      row(d1.m.conversations[0]!, [
        "current_runtime_key",
        "current_runtime_at_ms",
        "created_at_ms",
        "last_activity_ms",
        "turn_count",
        "snapshot_count",
      ]),
    ).toEqual(["switched-rt", 30_000, 20_000, 30_000, 2, 2]);
    expect(summaries.m.conversations).toEqual({ touched: 1, created: 0, updated: 1, unchanged: 0 });
  });
});

describe("geppetto's single-table store (geppetto_turns)", () => {
  it("imports each row as a snapshot, names the malformed payload and skips it", () => {
    expect(summaries.g.source.layout).toBe("G");
    expect(tableCounts(summaries.g)).toEqual({
      turn_snapshots: [4, 3, 0, 1],
      turns: [3, 3, 0, 0],
      conversations: [1, 1, 0, 0],
    });
    expect(summaries.g.notImported).toEqual([
      {
        table: "geppetto_turns",
        key: { conv_id: "g-sess-1", session_id: "g-sess-1", turn_id: "g-turn-bad", phase: "final", created_at_ms: 53_000 },
        reason: expect.stringMatching(/^payload is not valid YAML/),
      },
    ]);
    expect(summaries.g.verification?.ok).toBe(true);
    expect(exitCodeFor(summaries.g)).toBe(3);
  });

  it("keeps each row's runtime_key / inference_id as its snapshot's own ('' left to the metadata rule)", () => {
    expect(d1.g.snapshots.map(snapshotRow)).toEqual([
      ["g-turn-1", "final", 50_000, "inventory", "inf-g-1"],
      ["g-turn-2", "final", 51_000, "planner", "inf-g-2"],
      ["turn", "final", 52_000, "inventory", ""],
    ]);
    const tool = d1.g.snapshots[0]!.turn;
    expect(tool.extra).toEqual({ run_id: "g-sess-1" });
    expect(tool.blocks.map((b) => [b.id, b.kind, b.role])).toEqual([
      ["g-b-system", "system", "system"],
      ["g-b-user-1", "user", "user"],
      ["call_7f3a", "tool_call", ""],
      ["use_7f3a", "tool_use", ""],
      ["g-b-answer-1", "llm_text", "assistant"],
    ]);
    expect(
      row(d1.g.conversations[0]!, [
        "session_id",
        "current_runtime_key",
        "created_at_ms",
        "last_activity_ms",
        "turn_count",
        "snapshot_count",
      ]),
    ).toEqual(["g-sess-1", "inventory", 50_000, 52_000, 3, 3]);
  });
});

/** Every row of every table the store writes, in a stable order. */
function digest(): Promise<string> {
  return withDatabase(target, async (db) => {
    const tables = ["turns", "blocks", "block_nodes", "turn_block_membership", "turn_snapshots", "conversations"];
    // The WITHOUT ROWID tables are ordered by their primary key.
    const order: Record<string, string> = {
      block_nodes: "conv_id, chain",
      blocks: "block_id, content_hash",
      turn_snapshots: "conv_id, created_at_ms, id",
    };
    return JSON.stringify(await Promise.all(tables.map((t) => all(db, `SELECT * FROM ${t} ORDER BY ${order[t] ?? "rowid"}`))));
  });
}

describe("a second import", () => {
  it(
    "changes nothing and says so (layout A with timeline through the CLI, C and geppetto in process)",
    async () => {
      const before = await digest();
      const again = npmRun("import:legacy", [
        "--turns",
        files.a,
        "--timeline",
        files.timeline,
        "--local",
        "--persist-to",
        persistTo,
        "--json",
      ]);
      expect(again.code).toBe(3); // a-conv-4 still cannot be created
      expect(again.stderr).toEqual([]); // no progress without a terminal or --progress
      const summaryA = JSON.parse(again.stdout) as ImportSummary;
      const summaryC = await runImport({ turns: files.c, target });
      const summaryG = await runImport({ turns: files.g, target });
      for (const s of [summaryA, summaryC, summaryG]) {
        expect(s.tables.map((t) => t.written)).toEqual(s.tables.map(() => 0));
        expect(s.verification?.ok).toBe(true);
      }
      expect(tableCounts(summaryA).turns).toEqual([5, 0, 5, 0]);
      expect(summaryA.convertedSnapshots).toBe(0);
      expect(summaryA.conversations).toEqual({ touched: 4, created: 0, updated: 0, unchanged: 3 });
      expect(tableCounts(summaryG)).toMatchObject({ turn_snapshots: [4, 0, 3, 1] });
      expect(summaryG.notImported).toHaveLength(1);
      expect(await digest()).toBe(before);
    },
    HEAVY_MS,
  );

  it(
    "brings a database a migration behind up to date before writing",
    async () => {
      // Every migration is safe to re-apply: forgetting the newest one's record makes the database one behind.
      const applied = () => withDatabase(target, (db) => all(db, "SELECT name FROM d1_migrations ORDER BY id"));
      const names = (rows: ResultRow[]) => rows.map((r) => r.name);
      expect(names(await applied())).toEqual(migrationFiles());
      await withDatabase(target, (db) => db.prepare("DELETE FROM d1_migrations WHERE name = ?1").bind(latestMigration()).run());
      const before = await digest();
      const summary = await runImport({ turns: files.c, target });
      expect(summary.tables.map((t) => t.written)).toEqual(summary.tables.map(() => 0));
      expect(names(await applied())).toEqual(migrationFiles());
      expect(await digest()).toBe(before);
    },
    HEAVY_MS,
  );

  it(
    "names a row whose identity D1 holds with different content, and imports the rest of its chunk",
    async () => {
      // The same identities as layout C's first two rows, one with another payload.
      const ddl = "CREATE TABLE turns (conv_id TEXT, session_id TEXT, turn_id TEXT, phase TEXT, created_at_ms INTEGER, payload TEXT);";
      const changed = YAML_FINAL.replace("answer: 42", "answer: 43");
      const path = writeSqlite(dir, "turns-c-conflict.db", ddl, {
        turns: [
          ["c-conv-1", "c-s1", "ct1", "pre_inference", 100, YAML_PRE_INFERENCE],
          ["c-conv-1", "c-s1", "ct1", "final", 200, changed],
          ["c-conv-1", "c-s1", "ct9", "final", 900, "id: ct9\nblocks: []\n"],
        ],
      });
      const summary = await runImport({ turns: path, target });
      expect(tableCounts(summary).turn_snapshots).toEqual([3, 1, 1, 1]);
      expect(summary.notImported).toEqual([
        {
          table: "turns",
          key: { conv_id: "c-conv-1", session_id: "c-s1", turn_id: "ct1", phase: "final", created_at_ms: 200 },
          reason: expect.stringMatching(/a different snapshot is already stored under/),
        },
      ]);
      expect(summary.verification?.ok).toBe(true);
      const ct9 = await withDatabase(target, (db) => all(db, "SELECT turn_id FROM turns WHERE conv_id = 'c-conv-1' AND turn_id = 'ct9'"));
      expect(ct9).toEqual([{ turn_id: "ct9" }]);
    },
    HEAVY_MS,
  );
});

describe("db:check after the imports", () => {
  it("passes, counts the turns still missing runtime or inference, and shows the newest conversation's history", () => {
    const result = npmRun("db:check", ["--local", "--persist-to", persistTo, "--json"]);
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report.ok).toBe(true);
    // A: t2, t3, t5; B: t2; C: ct2, ct9; migrated: t2; geppetto: "turn" — each lacks an inference id (t3, ct9 both).
    expect(report.missingRuntimeOrInference).toBe(8);
    expect(report.sample).toHaveLength(8);
    expect(report.runtimeHistory).toEqual({
      convId: "g-sess-1",
      rows: [
        { turn_id: "g-turn-1", runtime_key: "inventory", inference_id: "inf-g-1", updated_at_ms: 50_000 },
        { turn_id: "g-turn-2", runtime_key: "planner", inference_id: "inf-g-2", updated_at_ms: 51_000 },
        { turn_id: "turn", runtime_key: "inventory", inference_id: "", updated_at_ms: 52_000 },
      ],
    });
  });

  it("runs the playbook's history query for --conv-id with the id bound, not spliced", async () => {
    const result = await runMain("db:check", ["--persist-to", persistTo, "--json", "--conv-id", "m-conv-1"]);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout).runtimeHistory).toEqual({
      convId: "m-conv-1",
      rows: [
        { turn_id: "t1", runtime_key: "kept-rt", inference_id: "kept-inf", updated_at_ms: 20_100 },
        { turn_id: "t2", runtime_key: "meta-rt2", inference_id: "", updated_at_ms: 21_100 },
      ],
    });
    const quoted = await runMain("db:check", ["--persist-to", persistTo, "--json", "--conv-id", "it's'; DROP TABLE turns; --"]);
    expect(JSON.parse(quoted.stdout).runtimeHistory).toEqual({ convId: "it's'; DROP TABLE turns; --", rows: [] });
  });
});

// Each script's main() in this process (the command line through npm is run above, and for --progress
// below): the same flags, output and exit codes, without npm's and the script's start-up for every refusal.
describe("the CLIs refuse what they cannot use, touching nothing", () => {
  const untouched = join(dir, "never-created");
  const args = (turns: string, ...more: string[]) => ["--turns", turns, "--local", "--persist-to", untouched, ...more];
  const oneLine = (r: CliRun) => {
    expect(r.stderr).toHaveLength(1);
    expect(r.stderr.join("\n")).not.toMatch(/\n\s+at /);
  };

  it("an unknown layout: exit 2, one line naming what was found", async () => {
    const notes = writeSqlite(dir, "notes.db", "CREATE TABLE notes (id INTEGER, body TEXT);", { notes: [[1, "hi"]] });
    const r = await runMain("import:legacy", args(notes));
    expect(r.code).toBe(2);
    oneLine(r);
    expect(r.stderr[0]).toMatch(/^error: unknown layout in .*notes\.db: no turns or geppetto_turns table \(it has notes\(id, body\)\)$/);
    expect(r.stdout).toBe("");
    expect(existsSync(untouched)).toBe(false);
  });

  it("a file that is not SQLite: exit 2; with --json also one JSON error object", async () => {
    const text = join(dir, "turns.txt");
    writeFileSync(text, "conv_id,session_id\n".repeat(20));
    const r = await runMain("import:legacy", args(text, "--json"));
    expect(r.code).toBe(2);
    oneLine(r);
    expect(r.stderr[0]).toMatch(/is not a SQLite database/);
    expect(JSON.parse(r.stdout)).toEqual({
      ok: false,
      error: { code: "INPUT", message: expect.stringMatching(/is not a SQLite database/) },
    });
    expect(existsSync(untouched)).toBe(false);
  });

  it("a damaged SQLite file: exit 2, the message names the file", async () => {
    const damaged = damagedCopy(files.c, dir, "turns-damaged.db");
    const r = await runMain("import:legacy", args(damaged));
    expect(r.code).toBe(2);
    expect(r.stderr).toEqual([`error: ${damaged}: database disk image is malformed`]);
    const timeline = await runMain("import:legacy", args(files.c, "--timeline", damagedCopy(files.timeline, dir, "timeline-damaged.db")));
    expect(timeline.code).toBe(2);
    expect(timeline.stderr).toEqual([`error: ${join(dir, "timeline-damaged.db")}: database disk image is malformed`]);
    expect(existsSync(untouched)).toBe(false);
  });

  it("bad flags and unknown flags: exit 2 (the flag rules themselves are unit-tested)", async () => {
    const r = await runMain("import:legacy", ["--turns", files.a, "--remote", "--persist-to", untouched]);
    expect(r.code).toBe(2);
    expect(r.stderr).toEqual(["error: --persist-to only applies to --local"]);
    for (const script of ["import:legacy", "db:check", "db:convert"] as const) {
      const unknown = await runMain(script, ["--persist-to", untouched, "--bogus"]);
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toEqual(["error: Unknown option '--bogus' (see --help)"]);
    }
    expect(existsSync(untouched)).toBe(false);
  });

  it.each(["import:legacy", "db:check", "db:convert"] as const)(
    "%s --help: usage, options, exit codes; exit 0, no D1 touched",
    async (script) => {
      const r = await runMain(script, ["--persist-to", untouched, "--help"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^usage: npm run ${script} -- `));
      expect(r.stdout).toMatch(/\noptions:\n(.*\n)* {2}--persist-to DIR /);
      expect(r.stdout).toMatch(/\nexit codes:\n {2}0 {2}/);
      expect(r.stderr).toEqual([]);
      expect(existsSync(untouched)).toBe(false);
    },
  );

  it("--dry-run reads and checks but touches no D1", async () => {
    const r = await runMain("import:legacy", args(files.b, "--dry-run", "--json"));
    expect(r.code).toBe(3); // the orphan snapshot is still named
    const summary = JSON.parse(r.stdout) as ImportSummary;
    expect(summary.dryRun).toBe(true);
    expect(tableCounts(summary).turn_snapshots).toEqual([4, null, null, 1]);
    expect(existsSync(untouched)).toBe(false);
  });

  it("--progress shows rows, percent and rate on stderr; stdout stays the summary", () => {
    const r = npmRun("import:legacy", args(files.g, "--dry-run", "--json", "--progress"));
    expect(r.code).toBe(3);
    expect(JSON.parse(r.stdout).source.layout).toBe("G");
    expect(r.stderr.at(-1)).toMatch(/geppetto-turns\.db → checked: snapshots: 4\/4 rows \(100%\), [\d,]+ rows\/s$/);
  });
});

describe("through the Worker: the same data `wrangler dev` serves on the same --persist-to", () => {
  const INGEST_TOKEN = "import-test-ingest";
  const DEBUG_TOKEN = "import-test-debug";
  let server: DevServer | null = null;
  beforeAll(async () => {
    server = await startDev({ port: 8795, persistTo, vars: { INGEST_TOKEN, DEBUG_TOKEN, RATE_LIMITS: "off" }, skipMigrations: true });
  }, HEAVY_MS);
  afterAll(async () => {
    await server?.stop();
  });
  const call = async (method: string, path: string, token: string, body?: unknown) => {
    const res = await fetch(`${server!.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { "content-type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  it("the debug API reports each geppetto row's runtime_key / inference_id as its snapshot's own", async () => {
    const { status, body } = await call("GET", "/api/debug/turns?conv_id=g-sess-1", DEBUG_TOKEN);
    expect(status).toBe(200);
    const items = body.items as Array<Record<string, unknown>>;
    expect(items.map((i) => [i.turn_id, i.runtime_key, i.inference_id, i.created_at_ms])).toEqual([
      ["turn", "inventory", "", 52_000],
      ["g-turn-2", "planner", "inf-g-2", 51_000],
      ["g-turn-1", "inventory", "inf-g-1", 50_000],
    ]);
    expect(String(items[2]!.payload)).toMatch(/^run_id: g-sess-1$/m);
  });

  it(
    "layout C's snapshots read back through the store exactly as the same YAML posted to the Worker",
    async () => {
      const posts = [
        { phase: "pre_inference", created_at_ms: 100, payload: YAML_PRE_INFERENCE },
        { phase: "final", created_at_ms: 200, payload: YAML_FINAL },
        { phase: "final", created_at_ms: 300, payload: YAML_EMPTY_TURN },
      ];
      for (const post of posts) {
        const { status } = await call("POST", "/api/turns", INGEST_TOKEN, { conv_id: "c-posted", session_id: "c-s1", ...post });
        expect(status).toBe(201);
      }
      // The Worker holds the database while it runs: read it once it has stopped.
      await server!.stop();
      server = null;
      const [imported, posted, turns] = await withDatabase(target, async (db) => [
        await allSnapshots(db, "c-conv-1"),
        await allSnapshots(db, "c-posted"),
        await all(
          db,
          "SELECT * FROM turns WHERE conv_id IN ('c-conv-1', 'c-posted') AND turn_id IN ('ct1', 'ct2') ORDER BY conv_id, turn_id",
        ),
      ]);
      const comparable = (records: SnapshotRecord[]) => records.map(({ id: _id, convId: _convId, ...rest }) => rest);
      // The conflict test above added ct9 to c-conv-1; the posted conversation has the C rows only.
      expect(comparable(imported.filter((s) => s.turnId !== "ct9"))).toEqual(comparable(posted));
      expect(posted).toHaveLength(3);
      const withoutConv = (r: ResultRow) => ({ ...r, conv_id: undefined });
      expect(turns.filter((t) => t.conv_id === "c-conv-1").map(withoutConv)).toEqual(
        turns.filter((t) => t.conv_id === "c-posted").map(withoutConv),
      );
    },
    HEAVY_MS,
  );
});
