/**
 * The import tool's parts that need no D1: layout detection, the readers (layouts A/B as rows for
 * loadLegacyRows; layouts C and G as the requests a client would post, prepared by the Worker's own
 * code, checked through a dry run), file errors that name the file, flags, help and progress.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { helpText, InputError, parseFlags, TARGET_OPTIONS, targetFrom, UsageError } from "../../../tools/cli";
import { detectLayout } from "../../../scripts/legacy/layout";
import { formatProgress, createProgress } from "../../../tools/progress";
import { Chunk, CHUNK_NEW_BLOCK_ROWS, CHUNK_SNAPSHOTS, readNormalizedFile, runImport } from "../../../scripts/legacy/run-import";
import { MAX_NEW_BLOCK_ROWS_PER_REQUEST } from "../../../src/turn/limits";
import { prepareSnapshot, type PreparedSnapshot } from "../../../src/turn/snapshot";
import { prepareSnapshotRow, snapshotRequestOf } from "../../../scripts/legacy/snapshot-store";
import { openSqliteFile } from "../../../tools/sqlite-file";
import { readTimelineRows } from "../../../scripts/legacy/timeline";
import { describeTarget, wranglerFailure } from "../../../tools/d1";
import {
  damagedCopy,
  geppettoStore,
  HELLO_BLOCK_HASH,
  layoutA,
  layoutB,
  layoutC,
  layoutMigrated,
  USER_BLOCK_HASH,
  writeSqlite,
} from "./import.fixtures";

const dir = mkdtempSync(join(tmpdir(), "turnstore-import-units-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A dry run touches no D1: the target is never opened (and must not be created). */
const dryRun = (turns: string) => runImport({ turns, target: { remote: false, persistTo: join(dir, "never-created") }, dryRun: true });

const tables = (spec: Record<string, string>) =>
  new Map(Object.entries(spec).map(([t, cols]) => [t, cols.split(",").map((c) => c.trim())]));
const NORMALIZED = {
  blocks: "block_id, content_hash, hash_algorithm, kind, role, payload_json, block_metadata_json, first_seen_at_ms",
  turn_block_membership: "conv_id, session_id, turn_id, phase, snapshot_created_at_ms, ordinal, block_id, content_hash",
};
const GEPPETTO = "conv_id, session_id, turn_id, phase, runtime_key, inference_id, created_at_ms, payload";

describe("layout detection", () => {
  it("tells A, B, C, geppetto's G and an already-migrated A apart by their columns", () => {
    const a = detectLayout(
      tables({
        turns: "conv_id, session_id, turn_id, turn_created_at_ms, turn_metadata_json, turn_data_json, updated_at_ms",
        ...NORMALIZED,
      }),
      "x",
    );
    const b = detectLayout(
      tables({ turns: "conv_id, session_id, turn_id, turn_created_at_ms, turn_metadata_json, turn_data_json", ...NORMALIZED }),
      "x",
    );
    const m = detectLayout(
      tables({ turns: "conv_id, session_id, turn_id, turn_created_at_ms, updated_at_ms, runtime_key, inference_id", ...NORMALIZED }),
      "x",
    );
    const c = detectLayout(tables({ turns: "conv_id, session_id, turn_id, phase, created_at_ms, payload" }), "x");
    const cRun = detectLayout(tables({ turns: "conv_id, run_id, turn_id, phase, created_at_ms, payload" }), "x");
    const g = detectLayout(tables({ geppetto_turns: GEPPETTO }), "x");
    expect([a.id, b.id, m.id, c.id, cRun.id, g.id]).toEqual(["A", "B", "A", "C", "C", "G"]);
    expect([a.hasUpdatedAt, b.hasUpdatedAt]).toEqual([true, false]);
    expect([a.hasRuntimeKey, m.hasRuntimeKey, m.hasInferenceId]).toEqual([false, true, true]);
    expect([c.sessionColumn, cRun.sessionColumn]).toEqual(["session_id", "run_id"]);
    expect([c.snapshotTable, g.snapshotTable, c.rowAttribution, g.rowAttribution]).toEqual(["turns", "geppetto_turns", false, true]);
  });

  it.each([
    ["no turns table", { notes: "id, body" }, /no turns or geppetto_turns table \(it has notes\(id, body\)\)/],
    ["turns of some other program", { turns: "id, text" }, /turns\(id, text\) is neither the normalized store/],
    [
      "a snapshot store without its session",
      { turns: "conv_id, turn_id, phase, created_at_ms, payload" },
      /lacks session_id \(or run_id\)/,
    ],
    [
      "normalized turns without blocks",
      { turns: "conv_id, session_id, turn_id, turn_created_at_ms", turn_block_membership: NORMALIZED.turn_block_membership },
      /no blocks table/,
    ],
    [
      "membership missing a column",
      {
        turns: "conv_id, session_id, turn_id, turn_created_at_ms",
        blocks: NORMALIZED.blocks,
        turn_block_membership: "conv_id, session_id",
      },
      /turn_block_membership has no turn_id/,
    ],
    [
      "geppetto_turns without its attribution columns",
      { geppetto_turns: "conv_id, session_id, turn_id, phase, created_at_ms, payload" },
      /geppetto_turns\(.*\) lacks runtime_key, inference_id/,
    ],
    [
      "geppetto_turns next to a turns table",
      { geppetto_turns: GEPPETTO, turns: "conv_id, session_id, turn_id, phase, created_at_ms, payload" },
      /both geppetto_turns and turns/,
    ],
  ])("refuses %s with an InputError naming what it found", (_, spec, message) => {
    expect(() => detectLayout(tables(spec), "legacy.db")).toThrow(InputError);
    expect(() => detectLayout(tables(spec), "legacy.db")).toThrow(message);
  });
});

describe("files the tool cannot use, named in every message", () => {
  it("not SQLite, absent, an empty database, a damaged page", async () => {
    const text = join(dir, "notes.txt");
    writeFileSync(text, "this is a text file, not a database\n".repeat(10));
    await expect(dryRun(text)).rejects.toThrow(
      new InputError(`turns database ${text} is not a SQLite database (no "SQLite format 3" header)`),
    );
    await expect(dryRun(join(dir, "absent.db"))).rejects.toThrow(/cannot read turns database .*absent\.db: ENOENT/);
    const empty = writeSqlite(dir, "empty.db", "CREATE TABLE other (x);", {});
    await expect(dryRun(empty)).rejects.toThrow(/unknown layout in .*empty\.db: no turns or geppetto_turns table/);
    const damaged = damagedCopy(layoutC(dir), dir, "damaged.db");
    await expect(dryRun(damaged)).rejects.toThrow(new InputError(`${damaged}: database disk image is malformed`));
  });

  it("a page damaged inside the table is found before any row is used", async () => {
    // Cells of the table's fourth leaf page overwritten: SQLite opens the file and reads its schema;
    // the check of every page (quick_check) finds the damage before the import uses any row.
    const ddl = "CREATE TABLE turns (conv_id TEXT, session_id TEXT, turn_id TEXT, phase TEXT, created_at_ms INTEGER, payload TEXT);";
    const rows = Array.from({ length: 50 }, (_, i) => ["c", "s", `t${i}`, "final", i + 1, `id: t${i}\n${"# padding\n".repeat(120)}`]);
    const source = writeSqlite(dir, "turns-c-large.db", ddl, { turns: rows });
    const bytes = Buffer.from(readFileSync(source));
    const pageSize = bytes.readUInt16BE(16);
    bytes.fill(0xa5, pageSize * 4 + 1000, pageSize * 4 + 3000);
    const path = join(dir, "damaged-inner.db");
    writeFileSync(path, bytes);
    const error = await openSqliteFile(path, "turns database").then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(error).toBeInstanceOf(InputError);
    expect(error!.message.startsWith(`${path}: database disk image is malformed (quick_check: `)).toBe(true);
  });
});

describe("layouts C and G: rows as the requests a client would post", () => {
  it("C: blocks hashed as the Go implementation hashed them (contract vectors)", async () => {
    const file = await openSqliteFile(layoutC(dir), "turns database");
    const layout = detectLayout(file.tables, file.path);
    const [first] = file.rows("SELECT conv_id, session_id, turn_id, phase, created_at_ms, payload FROM turns LIMIT 1");
    file.close();
    const snapshot = await prepareSnapshotRow(snapshotRequestOf(first!, layout));
    expect(snapshot.blocks.map((b) => [b.id, b.contentHash, b.kind, b.role])).toEqual([
      ["ct1#0", USER_BLOCK_HASH, "user", "user"],
      ["ct1#1", HELLO_BLOCK_HASH, "llm_text", "assistant"],
    ]);
    expect([snapshot.runtimeKey, snapshot.inferenceId, snapshot.createdAtMs]).toEqual(["planner", "c-inf-1", 100]);
  });

  it("C: bad YAML named; exact repeats imported once (dry run)", async () => {
    const summary = await dryRun(layoutC(dir));
    expect(summary.dryRun).toBe(true);
    expect(summary.tables.map((t) => [t.table, t.read, t.written, t.skipped, t.rejected])).toEqual([
      ["turn_snapshots", 5, null, null, 1],
      ["turns", 2, null, null, 0],
      ["conversations", 1, null, null, 0],
    ]);
    expect(summary.notImported).toEqual([
      {
        table: "turns",
        key: { conv_id: "c-conv-1", session_id: "c-s1", turn_id: "ct3", phase: "final", created_at_ms: 400 },
        reason: expect.stringMatching(/^payload is not valid YAML/),
      },
    ]);
    expect(summary.warnings.map((w) => w.reason)).toEqual([expect.stringMatching(/1 row\(s\) repeat an earlier snapshot exactly/)]);
  });

  it("C: the older run_id variant, with run_id as the session", async () => {
    const summary = await dryRun(layoutC(dir, "run_id", "turns-c-run-id.db"));
    expect(summary.source.layoutDescription).toMatch(/session in run_id/);
    expect(summary.tables[0]).toMatchObject({ read: 5, rejected: 1 });
  });

  it("G: the row's runtime_key / inference_id are the snapshot's own; '' leaves it to the metadata", async () => {
    const file = await openSqliteFile(geppettoStore(dir), "turns database");
    const layout = detectLayout(file.tables, file.path);
    const rows = file.rows("SELECT * FROM geppetto_turns ORDER BY created_at_ms LIMIT 3");
    file.close();
    const [tool, metadataOnly, noId] = await Promise.all(rows.map((row) => prepareSnapshotRow(snapshotRequestOf(row, layout))));
    expect([tool!.turnId, tool!.runtimeKey, tool!.inferenceId]).toEqual(["g-turn-1", "inventory", "inf-g-1"]);
    expect([metadataOnly!.turnId, metadataOnly!.runtimeKey, metadataOnly!.inferenceId]).toEqual(["g-turn-2", "planner", "inf-g-2"]);
    // geppetto omits an empty id; its turn_id column ("turn") names the turn then.
    expect([noId!.turnId, noId!.runtimeKey, noId!.inferenceId, noId!.blocks[0]!.id]).toEqual(["turn", "inventory", "", "turn#0"]);
    // geppetto's keys the reader does not know are kept; an llm_text block without a role is the assistant.
    expect(tool!.turn.extra).toEqual({ run_id: "g-sess-1" });
    expect(tool!.turn.blocks.map((b) => [b.kind, b.role, b.extra])).toEqual([
      ["system", "system", { turn_id: "g-turn-1" }],
      ["user", "user", { turn_id: "g-turn-1" }],
      ["tool_call", "", { turn_id: "g-turn-1" }],
      ["tool_use", "", { turn_id: "g-turn-1" }],
      ["llm_text", "assistant", { turn_id: "g-turn-1" }],
    ]);
    expect(tool!.turn.blocks[2]!.payload).toEqual({ args: { sku: "A-100" }, id: "call_7f3a", name: "lookup_stock" });
  });

  it("G: a malformed payload is named with its table and key and skipped (dry run)", async () => {
    const summary = await dryRun(geppettoStore(dir, "geppetto-dry.db"));
    expect(summary.source.layout).toBe("G");
    expect(summary.tables[0]).toMatchObject({ table: "turn_snapshots", read: 4, rejected: 1 });
    expect(summary.notImported).toEqual([
      {
        table: "geppetto_turns",
        key: { conv_id: "g-sess-1", session_id: "g-sess-1", turn_id: "g-turn-bad", phase: "final", created_at_ms: 53_000 },
        reason: expect.stringMatching(/^payload is not valid YAML/),
      },
    ]);
  });

  it("refuses ids the Worker would refuse, naming the rule", async () => {
    const ddl = "CREATE TABLE turns (conv_id TEXT, session_id TEXT, turn_id TEXT, phase TEXT, created_at_ms INTEGER, payload TEXT);";
    const path = writeSqlite(dir, "bad-ids.db", ddl, {
      turns: [
        ["c\u200bonv", "s", "t", "final", 5, "id: t\nblocks: []\n"],
        ["conv", "s", "", "final", 6, "blocks: []\n"],
        ["conv", "s", "t", "final", "soon", "id: t\n"],
        // CONTRACT §6.1: joiners inside an emoji are part of it (imported); a trailing one is not.
        ["conv", "sess-👩‍💻", "t-👨‍👩‍👧", "final", 7, "id: t-👨‍👩‍👧\nblocks: []\n"],
        ["conv", "sess-👩\u200d", "t", "final", 8, "id: t\nblocks: []\n"],
      ],
    });
    const summary = await dryRun(path);
    expect(summary.notImported.map((f) => f.reason)).toEqual([
      "conv_id must not contain invisible format characters (found U+200B at index 1; only emoji sequences such as 👩‍💻 may hold them)",
      "turn_id is required: give turn_id or payload.id",
      'created_at_ms is not an integer ("soon")',
      "session_id must not contain invisible format characters (found U+200D at index 7; only emoji sequences such as 👩‍💻 may hold them)",
    ]);
  });

  it("chunks close before the store's work bounds: 100 snapshots, 10,000 new block rows", async () => {
    const snapshot = (id: string, blocks: number, shared = false) =>
      prepareSnapshot(
        {
          conv_id: "c",
          session_id: "s",
          turn_id: id,
          created_at_ms: 1,
          turn: { blocks: Array.from({ length: blocks }, (_, i) => ({ id: shared ? `b${i}` : undefined, payload: { i } })) },
        },
        { nowMs: 1, maxClockSkewMs: Number.POSITIVE_INFINITY },
      );
    const fill = (chunk: Chunk, items: PreparedSnapshot[]) => {
      let taken = 0;
      for (const s of items) {
        if (!chunk.fits(s)) break;
        chunk.add({ snapshot: s, key: {} });
        taken += 1;
      }
      return taken;
    };
    const small = await Promise.all(Array.from({ length: CHUNK_SNAPSHOTS + 5 }, (_, i) => snapshot(`t${i}`, 1)));
    expect(fill(new Chunk(), small)).toBe(CHUNK_SNAPSHOTS);
    // 4,000 new blocks each: two fit under 10,000 new block rows, a third does not.
    const large = await Promise.all(["x", "y", "z"].map((id) => snapshot(id, 4_000)));
    expect(fill(new Chunk(), large)).toBe(2);
    expect(CHUNK_NEW_BLOCK_ROWS).toBe(MAX_NEW_BLOCK_ROWS_PER_REQUEST);
    // Blocks the chunk already has are not new rows: a growing conversation repeating them fits.
    const repeating = await Promise.all(["p", "q", "r"].map((id) => snapshot(id, 4_000, true)));
    expect(fill(new Chunk(), repeating)).toBe(3);
    // A snapshot alone always fits (the store refuses what no request may hold, and the row is named).
    expect(new Chunk().fits(await snapshot("huge", 12_000))).toBe(true);
  });
});

describe("reading layouts A and B", () => {
  it("A: rows as stored, warnings for metadata that is not a JSON object", async () => {
    const source = await readNormalizedFile(layoutA(dir));
    expect(source.layout.id).toBe("A");
    expect(source.offered).toEqual({ turns: 5, blocks: 6, turn_block_membership: 8, turn_snapshots: 6 });
    expect(source.notImported).toEqual([]);
    expect(source.warnings).toEqual([
      {
        table: "turns",
        key: { conv_id: "a-conv-1", session_id: "a-s1", turn_id: "t3" },
        reason: expect.stringMatching(/not a JSON object/),
      },
    ]);
    // Runtime is left to the backfill, which reads the metadata in D1.
    expect(source.turns.every((t) => t.runtime_key === "" && t.runtime_key_at_ms === 0)).toBe(true);
  });

  it("B: updated_at_ms taken from turn_created_at_ms; an orphan snapshot named; a missing block warned", async () => {
    const source = await readNormalizedFile(layoutB(dir));
    expect(source.layout.id).toBe("B");
    expect(source.turns.map((t) => [t.turn_id, t.updated_at_ms])).toEqual([
      ["t1", 10_000],
      ["t2", 11_000],
    ]);
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
    const source = await readNormalizedFile(layoutMigrated(dir));
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
    const source = await readNormalizedFile(path);
    expect(source.turns.map((t) => t.turn_id)).toEqual(["t1"]);
    expect(source.notImported).toEqual([
      { table: "turns", key: { conv_id: "x", session_id: "", turn_id: "t2" }, reason: "session_id is empty" },
      { table: "turns", key: { conv_id: "x", session_id: "s", turn_id: "t3" }, reason: 'turn_created_at_ms is not an integer ("soon")' },
    ]);
  });

  it("names a row larger than D1 stores instead of failing the load; its snapshot is warned about", async () => {
    const huge = JSON.stringify({ text: "x".repeat(2_000_000) });
    const path = writeSqlite(dir, "huge-row.db", layoutDdlWithoutConstraints(), {
      turns: [["x", "s", "t1", 1, "{}", "{}", 1]],
      blocks: [["big", "h-big", "sha256-canonical-json-v1", "user", "user", huge, "{}", 1]],
      turn_block_membership: [["x", "s", "t1", "final", 1, 0, "big", "h-big"]],
    });
    const source = await readNormalizedFile(path);
    expect(source.blocks).toEqual([]);
    expect(source.notImported).toEqual([
      {
        table: "blocks",
        key: { block_id: "big", content_hash: "h-big" },
        reason: "the row would be 2000024 bytes; D1 stores at most 1900000 per row",
      },
    ]);
    expect(source.warnings.map((w) => w.reason)).toEqual([expect.stringMatching(/block "big" \(h-big\) is not in blocks/)]);
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

describe("target flags", () => {
  it("--local is the default; --persist-to goes with it; --remote stands alone", () => {
    expect(targetFrom({})).toEqual({ remote: false, persistTo: undefined });
    expect(targetFrom({ local: true, "persist-to": "/tmp/d" })).toEqual({ remote: false, persistTo: "/tmp/d" });
    expect(targetFrom({ remote: true })).toEqual({ remote: true });
    expect(describeTarget({ remote: false, persistTo: "/tmp/d" })).toBe("local D1 (--persist-to /tmp/d)");
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
    expect(() => parseFlags(["--what"], TARGET_OPTIONS)).toThrow("Unknown option '--what' (see --help)");
    expect(() => parseFlags(["--persist-to"], TARGET_OPTIONS)).toThrow(UsageError);
    expect(() => parseFlags(["stray"], TARGET_OPTIONS)).toThrow(UsageError);
    expect(parseFlags(["--remote", "--json"], TARGET_OPTIONS)).toEqual({ remote: true, json: true });
  });

  it("help lists usage, options with their defaults, and exit codes", () => {
    const text = helpText({
      usage: "npm run x",
      about: "Does x.",
      options: [
        ["--a", "the a (default 1)"],
        ["--longer", "b"],
      ],
      exitCodes: [
        [0, "fine"],
        [2, "bad flags"],
      ],
    });
    expect(text).toBe(
      "usage: npm run x\n\nDoes x.\n\noptions:\n  --a       the a (default 1)\n  --longer  b\n\nexit codes:\n  0  fine\n  2  bad flags\n",
    );
  });
});

describe("progress", () => {
  it("says rows, percent and rate; a step without a count says how long it took", () => {
    expect(formatProgress("turns.db → D1: snapshots", 1200, 5000, "rows", 4000)).toBe(
      "turns.db → D1: snapshots: 1,200/5,000 rows (24%), 300 rows/s",
    );
    expect(formatProgress("conversion", 6, null, "snapshots", 2000)).toBe("conversion: 6 snapshots, 3 snapshots/s");
    expect(formatProgress("backfill", 0, null, null, 1234, true)).toBe("backfill: done in 1.2 s");
  });

  it("redraws one line on a terminal, writes lines at intervals otherwise, nothing when disabled", () => {
    let clock = 0;
    const sink = (isTTY: boolean) => {
      const out: string[] = [];
      return { out, stream: { isTTY, write: (s: string) => out.push(s) } as unknown as NodeJS.WriteStream };
    };
    const tty = sink(true);
    const log = sink(false);
    const off = sink(false);
    for (const [s, enabled] of [
      [tty, true],
      [log, true],
      [off, false],
    ] as const) {
      clock = 0;
      const p = createProgress({ enabled, stream: s.stream, now: () => clock, terminalIntervalMs: 100, logIntervalMs: 1000 });
      p.step("rows", 10);
      for (let i = 1; i <= 10; i++) {
        clock += 150;
        p.update(i);
      }
      p.end();
    }
    expect(tty.out.every((line) => line.startsWith("\r\u001b[K") || line === "\n")).toBe(true);
    expect(tty.out.at(-2)).toBe("\r\u001b[Krows: 10/10 rows (100%), 7 rows/s");
    expect(log.out).toEqual([
      "rows: 0/10 rows (0%), 0 rows/s\n",
      "rows: 7/10 rows (70%), 7 rows/s\n",
      "rows: 10/10 rows (100%), 7 rows/s\n",
    ]);
    expect(off.out).toEqual([]);
  });
});

describe("wrangler failures", () => {
  it("become one plain line from the ✘ [ERROR] output", () => {
    expect(
      wranglerFailure(
        "",
        "\u001b[31m✘ \u001b[41;31m[\u001b[41;97mERROR\u001b[41;31m]\u001b[0m \u001b[1mset CLOUDFLARE_API_TOKEN\u001b[0m\n",
      ),
    ).toBe("set CLOUDFLARE_API_TOKEN");
    expect(wranglerFailure("", "npm warn x\nsomething broke\n")).toBe("something broke");
  });
});
