/**
 * The legacy import end to end: each layout's fixture (built with sql.js in the test) imported into
 * one throw-away local D1 (`--persist-to` a temp folder) with the real wrangler and the real
 * migrations, then read back from D1. The layouts use distinct conversations, so they share the
 * database: later imports also show that earlier data is left alone.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exitCodeFor, type ImportSummary } from "../../scripts/legacy/import-summary";
import { runImport } from "../../scripts/legacy/run-import";
import { queryD1, type D1Target, type ResultRow } from "../../scripts/legacy/wrangler-d1";
import { ROOT } from "../../scripts/lib/wrangler-dev";
import {
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
} from "./import.fixtures";

/** Each wrangler call costs seconds of CPU; on a busy 2-core box these steps need room. */
const WRANGLER_HEAVY_MS = 300_000;

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
};

/** Everything D1 holds after the four imports, in one wrangler call. */
function readBack() {
  const [turns, snapshots, conversations, membership, blocks] = queryD1(target, [
    `SELECT conv_id, session_id, turn_id, turn_created_at_ms, updated_at_ms, runtime_key, inference_id, runtime_key_at_ms
     FROM turns ORDER BY conv_id, turn_id`,
    `SELECT conv_id, turn_id, phase, created_at_ms, runtime_key, inference_id, block_refs_json, turn_data_json
     FROM turn_snapshots ORDER BY conv_id, created_at_ms, phase`,
    `SELECT * FROM conversations ORDER BY conv_id`,
    `SELECT substr(conv_id, 1, 1) AS layout, count(*) AS n FROM turn_block_membership GROUP BY layout ORDER BY layout`,
    `SELECT block_id, payload_json FROM blocks WHERE block_id IN ('u1', 'a2') ORDER BY block_id`,
  ]);
  const of = (prefix: string) => ({
    turns: turns!.filter((r) => String(r.conv_id).startsWith(prefix)),
    snapshots: snapshots!.filter((r) => String(r.conv_id).startsWith(prefix)),
    conversations: conversations!.filter((r) => String(r.conv_id).startsWith(prefix)),
    membershipRows: Number(membership!.find((r) => `${r.layout}-` === prefix)?.n ?? 0),
  });
  return { a: of("a-"), b: of("b-"), c: of("c-"), m: of("m-"), blocks: blocks! };
}

/** The four layouts imported one after another into the same D1, then read back once. */
const summaries = {} as Record<"a" | "b" | "c" | "m", ImportSummary>;
let d1: ReturnType<typeof readBack>;
beforeAll(async () => {
  summaries.a = await runImport({ turns: files.a, timeline: files.timeline, target });
  summaries.b = await runImport({ turns: files.b, target });
  summaries.c = await runImport({ turns: files.c, target });
  // m-conv-1 already exists in D1, switched through the Worker at 30_000 — after every imported turn.
  queryD1(target, [
    `INSERT INTO conversations (conv_id, session_id, current_runtime_key, current_runtime_at_ms, created_at_ms, last_activity_ms)
     VALUES ('m-conv-1', 'm-s1', 'switched-rt', 30000, 30000, 30000)`,
  ]);
  summaries.m = await runImport({ turns: files.migrated, target });
  d1 = readBack();
}, WRANGLER_HEAVY_MS);

const row = (r: ResultRow, keys: string[]) => keys.map((k) => r[k]);
const tableCounts = (s: ImportSummary) => Object.fromEntries(s.tables.map((t) => [t.table, [t.read, t.written, t.skipped, t.rejected]]));

describe("layout A with timeline.db", () => {
  it("writes every row, names the timeline row it cannot import, and verifies", () => {
    expect(tableCounts(summaries.a)).toEqual({
      turns: [5, 5, 0, 0],
      blocks: [6, 6, 0, 0],
      turn_block_membership: [8, 8, 0, 0],
      turn_snapshots: [6, 6, 0, 0],
      conversations: [4, 3, 0, 1],
    });
    expect(summaries.a.verification).toEqual({ ok: true, conversationsChecked: 3, problems: [] });
    expect(summaries.a.notImported).toEqual([{ table: "timeline_conversations", key: { conv_id: "a-conv-4" }, reason: expect.stringMatching(/no session_id/) }]);
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

  it("carries every legacy snapshot over, blocks in ordinal order, reporting its turn's values", () => {
    expect(d1.a.snapshots.map((r) => row(r, ["turn_id", "phase", "created_at_ms", "runtime_key", "inference_id"]))).toEqual([
      ["t1", "pre_inference", 1000, "planner", "inf-a1"],
      ["t1", "final", 1500, "planner", "inf-a1"],
      ["t2", "final", 2600, "coder", ""],
      ["t3", "final", 3000, "", ""],
      ["t4", "final", 3600, "fallback-rt", "77"],
      ["t5", "final", 4100, "drafter", ""],
    ]);
    expect(JSON.parse(String(d1.a.snapshots[1]!.block_refs_json))).toEqual([["u1", "h-u1"], ["a1", "h-a1"]]);
    expect(JSON.parse(String(d1.a.snapshots[2]!.turn_data_json))).toEqual({ k: 1 });
    expect(d1.a.membershipRows).toBe(8);
  });

  it("stores a 150 KB payload and text wrangler would mangle exactly", () => {
    expect(d1.blocks.map((b) => JSON.parse(String(b.payload_json)).text)).toEqual([LONG_TEXT, TRICKY_TEXT]);
  });

  it("points each conversation at the newest evidence: the turns, or a newer timeline pointer", () => {
    const keys = ["conv_id", "session_id", "current_runtime_key", "current_runtime_at_ms", "created_at_ms", "last_activity_ms", "turn_count", "snapshot_count"];
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

  it("imports every snapshot that has a turn, names the one that has none", () => {
    expect(d1.b.snapshots.map((r) => row(r, ["turn_id", "phase", "created_at_ms", "runtime_key"]))).toEqual([
      ["t1", "final", 10_000, "7"],
      ["t1", "post_tools", 10_500, "7"],
      ["t2", "final", 11_000, "deep"],
    ]);
    expect(JSON.parse(String(d1.b.snapshots[2]!.block_refs_json))).toEqual([["bu1", "h-bu1"], ["ghost", "deadbeef"]]);
    expect(tableCounts(summaries.b)).toMatchObject({ turn_block_membership: [6, 5, 0, 1], turn_snapshots: [4, 3, 0, 1], turns: [2, 2, 0, 0] });
    expect(summaries.b.notImported.map((f) => [f.table, f.key.turn_id])).toEqual([["turn_block_membership", "t-missing"]]);
    expect(summaries.b.warnings.map((w) => w.key.turn_id)).toEqual(["t2"]);
    expect(exitCodeFor(summaries.b)).toBe(3);
  });

  it("derives the conversation from its turns", () => {
    expect(row(d1.b.conversations[0]!, ["conv_id", "session_id", "current_runtime_key", "created_at_ms", "last_activity_ms", "turn_count", "snapshot_count"])).toEqual(
      ["b-conv-1", "b-s1", "deep", 10_000, 11_000, 2, 3],
    );
  });
});

describe("layout C (single-table YAML snapshot store)", () => {
  it("stores each snapshot with its own runtime and inference, and blocks hashed as Go hashed them", () => {
    expect(d1.c.snapshots.map((r) => [...row(r, ["turn_id", "phase", "created_at_ms", "runtime_key", "inference_id"]), JSON.parse(String(r.block_refs_json))])).toEqual([
      ["ct1", "pre_inference", 100, "planner", "c-inf-1", [["ct1#0", USER_BLOCK_HASH], ["ct1#1", HELLO_BLOCK_HASH]]],
      ["ct1", "final", 200, "", "c-inf-2", [["ct1#0", USER_BLOCK_HASH], ["ct1#1", HELLO_BLOCK_HASH], ["tool-1", expect.stringMatching(/^[0-9a-f]{64}$/)]]],
      ["ct2", "final", 300, "reviewer", "", []],
    ]);
    expect(tableCounts(summaries.c)).toEqual({
      turns: [2, 2, 0, 0],
      blocks: [3, 3, 0, 0],
      turn_block_membership: [0, 0, 0, 0],
      turn_snapshots: [5, 3, 1, 1],
      conversations: [1, 1, 0, 0],
    });
    expect(summaries.c.notImported.map((f) => [f.key.turn_id, f.reason])).toEqual([["ct3", expect.stringMatching(/not valid YAML/)]]);
  });

  it("rolls turns up by the Worker's rule and points the conversation at the newest turn's runtime", () => {
    expect(d1.c.turns.map((r) => row(r, ["turn_id", "turn_created_at_ms", "updated_at_ms", "runtime_key", "inference_id", "runtime_key_at_ms"]))).toEqual([
      ["ct1", 100, 200, "planner", "c-inf-2", 100],
      ["ct2", 300, 300, "reviewer", "", 300],
    ]);
    expect(row(d1.c.conversations[0]!, ["session_id", "current_runtime_key", "created_at_ms", "last_activity_ms", "turn_count", "snapshot_count"])).toEqual(
      ["c-s1", "reviewer", 100, 300, 2, 3],
    );
  });
});

describe("an already-migrated Go database, into a conversation D1 already has", () => {
  it("keeps stored runtime_key / inference_id, backfills only what is empty, and never moves a newer pointer back", () => {
    expect(exitCodeFor(summaries.m)).toBe(0);
    expect(d1.m.turns.map((r) => row(r, ["turn_id", "runtime_key", "inference_id"]))).toEqual([
      ["t1", "kept-rt", "kept-inf"],
      ["t2", "meta-rt2", ""],
    ]);
    expect(d1.m.snapshots.map((r) => row(r, ["turn_id", "runtime_key", "inference_id"]))).toEqual([
      ["t1", "kept-rt", "kept-inf"],
      ["t2", "meta-rt2", ""],
    ]);
    // The Worker's later switch stays; the activity window and counts take the imported turns in.
    expect(row(d1.m.conversations[0]!, ["current_runtime_key", "current_runtime_at_ms", "created_at_ms", "last_activity_ms", "turn_count", "snapshot_count"])).toEqual(
      ["switched-rt", 30_000, 20_000, 30_000, 2, 2],
    );
    expect(summaries.m.conversations).toEqual({ touched: 1, created: 0, updated: 1, unchanged: 0 });
  });
});

/** Every row of every table, in a stable order. */
function digest(): string {
  return JSON.stringify(
    queryD1(target, [
      "SELECT * FROM turns ORDER BY conv_id, session_id, turn_id",
      "SELECT * FROM blocks ORDER BY block_id, content_hash",
      "SELECT * FROM turn_block_membership ORDER BY conv_id, session_id, turn_id, phase, snapshot_created_at_ms, ordinal",
      "SELECT * FROM turn_snapshots ORDER BY id",
      "SELECT * FROM conversations ORDER BY conv_id",
    ]),
  );
}

function cli(script: "import:legacy" | "db:check", args: string[]) {
  const result = spawnSync("npm", ["run", "-s", script, "--", ...args], { cwd: ROOT, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr.split("\n").filter((l) => l && !/^npm warn/i.test(l)) };
}

describe("a second import", () => {
  it("changes nothing and says so (layout A with timeline through the CLI, layout C in process)", async () => {
    const before = digest();
    const again = cli("import:legacy", ["--turns", files.a, "--timeline", files.timeline, "--local", "--persist-to", persistTo, "--json"]);
    expect(again.code).toBe(3); // a-conv-4 still cannot be created
    const summaryA = JSON.parse(again.stdout) as ImportSummary;
    const summaryC = await runImport({ turns: files.c, target });
    for (const s of [summaryA, summaryC]) {
      expect(s.tables.map((t) => t.written)).toEqual([0, 0, 0, 0, 0]);
      expect(s.verification?.ok).toBe(true);
    }
    expect(tableCounts(summaryA).turns).toEqual([5, 0, 5, 0]);
    expect(summaryA.conversations).toEqual({ touched: 4, created: 0, updated: 0, unchanged: 3 });
    expect(digest()).toBe(before);
  }, WRANGLER_HEAVY_MS);
});

describe("db:check after the imports", () => {
  it("passes, counts the turns still missing runtime or inference, and shows the newest conversation's history", () => {
    const result = cli("db:check", ["--local", "--persist-to", persistTo, "--json"]);
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report.ok).toBe(true);
    // A: t2, t3, t5; B: t2; C: ct2; migrated: t2 — each lacks an inference id (t3 both).
    expect(report.missingRuntimeOrInference).toBe(6);
    expect(report.sample).toHaveLength(6);
    expect(report.runtimeHistory).toEqual({
      convId: "m-conv-1",
      rows: [
        { turn_id: "t1", runtime_key: "kept-rt", inference_id: "kept-inf", updated_at_ms: 20_100 },
        { turn_id: "t2", runtime_key: "meta-rt2", inference_id: "", updated_at_ms: 21_100 },
      ],
    });
  });
});

describe("the CLI refuses what it cannot read, touching nothing", () => {
  const untouched = join(dir, "never-created");
  const args = (turns: string, ...more: string[]) => ["--turns", turns, "--local", "--persist-to", untouched, ...more];
  const oneLine = (r: ReturnType<typeof cli>) => {
    expect(r.stderr).toHaveLength(1);
    expect(r.stderr.join("\n")).not.toMatch(/\n\s+at /);
  };

  it("an unknown layout: exit 2, one line naming what was found", () => {
    const notes = writeSqlite(dir, "notes.db", "CREATE TABLE notes (id INTEGER, body TEXT);", { notes: [[1, "hi"]] });
    const r = cli("import:legacy", args(notes));
    expect(r.code).toBe(2);
    oneLine(r);
    expect(r.stderr[0]).toMatch(/^error: unknown layout in .*notes\.db: no turns table \(it has notes\(id, body\)\)$/);
    expect(r.stdout).toBe("");
    expect(existsSync(untouched)).toBe(false);
  });

  it("a file that is not SQLite: exit 2; with --json also one JSON error object", () => {
    const text = join(dir, "turns.txt");
    writeFileSync(text, "conv_id,session_id\n".repeat(20));
    const r = cli("import:legacy", args(text, "--json"));
    expect(r.code).toBe(2);
    oneLine(r);
    expect(r.stderr[0]).toMatch(/is not a SQLite database/);
    expect(JSON.parse(r.stdout)).toEqual({ ok: false, error: { code: "INPUT", message: expect.stringMatching(/is not a SQLite database/) } });
    expect(existsSync(untouched)).toBe(false);
  });

  it("bad flags: exit 2 (the flag rules themselves are unit-tested)", () => {
    const r = cli("import:legacy", ["--turns", files.a, "--remote", "--persist-to", untouched]);
    expect(r.code).toBe(2);
    expect(r.stderr).toEqual(["error: --persist-to only applies to --local"]);
  });

  it("--dry-run reads and plans but sends nothing to D1", () => {
    const r = cli("import:legacy", args(files.b, "--dry-run", "--json"));
    expect(r.code).toBe(3); // the orphan snapshot is still named
    const summary = JSON.parse(r.stdout) as ImportSummary;
    expect(summary.dryRun).toBe(true);
    expect(tableCounts(summary).turn_snapshots).toEqual([4, null, null, 1]);
    expect(existsSync(untouched)).toBe(false);
  });
});
