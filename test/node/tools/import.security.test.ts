/**
 * The import tool applies the Worker's rules to the rows it imports (CONTRACT §6.3): times positive
 * and not beyond the clock skew, ids and runtime keys / inference ids by the Worker's checks, and a
 * turn_id column that disagrees with its payload's id reported — never imported under another name.
 * Every refused row is named in notImported with its source key, and the exit code is 3. Checked on
 * a hostile geppetto_turns file (layout G) and a hostile normalized store (layout A) with its
 * timeline, first as dry runs, then imported into a throw-away local D1.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exitCodeFor, type ImportSummary } from "../../../scripts/legacy/import-summary";
import { readNormalizedFile, runImport } from "../../../scripts/legacy/run-import";
import { openSqliteFile } from "../../../tools/sqlite-file";
import { readTimelineFile } from "../../../scripts/legacy/timeline";
import { withDatabase, type D1Target } from "../../../tools/d1";
import { applyMigrationsLocal } from "../../../tools/wrangler-dev";
import { npmRun } from "./cli-runs";
import { FAR_FUTURE_MS, hostileGeppettoStore, hostileNormalizedStore, hostileTimeline } from "./import.fixtures";

const HEAVY_MS = 300_000;
const dir = mkdtempSync(join(tmpdir(), "turnstore-import-hostile-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const files = { g: hostileGeppettoStore(dir), normalized: hostileNormalizedStore(dir), timeline: hostileTimeline(dir) };

const AHEAD = (field: string) => new RegExp(`^${field} ${FAR_FUTURE_MS} is \\d+ ms ahead of the clock .*at most 300000 ms`);
const NOT_POSITIVE = (field: string, value: number) =>
  `${field} must be a positive safe integer (milliseconds since the epoch), got ${value}`;

const gKey = (turnId: string, createdAt: number, conv = "hg-conv") => ({
  conv_id: conv,
  session_id: "hg-s",
  turn_id: turnId,
  phase: "final",
  created_at_ms: createdAt,
});

/** What the hostile geppetto file's refused rows are reported as, in file order. */
const G_REFUSED = [
  { table: "geppetto_turns", key: gKey("hg-pin", FAR_FUTURE_MS), reason: expect.stringMatching(AHEAD("created_at_ms")) },
  { table: "geppetto_turns", key: gKey("hg-neg", -5), reason: NOT_POSITIVE("created_at_ms", -5) },
  { table: "geppetto_turns", key: gKey("hg-zero", 0), reason: NOT_POSITIVE("created_at_ms", 0) },
  {
    table: "geppetto_turns",
    key: gKey("hg-tomorrow", expect.any(Number)),
    reason: expect.stringMatching(/^created_at_ms \d+ is \d+ ms ahead/),
  },
  {
    table: "geppetto_turns",
    key: gKey("hg-zwsp", 61_000),
    reason: expect.stringMatching(/^runtime_key must not contain invisible format characters \(found U\+200B/),
  },
  {
    table: "geppetto_turns",
    key: gKey("hg-long", 62_000),
    reason: "inference_id must be at most 256 characters after trimming (it has 300)",
  },
  {
    table: "geppetto_turns",
    key: gKey("hg-meta", 63_000),
    reason: expect.stringMatching(
      /^payload\.metadata\["geppetto\.runtime@v1"\] must not contain invisible format characters \(found U\+202E/,
    ),
  },
  { table: "geppetto_turns", key: gKey("hg-column", 64_000), reason: 'turn_id "hg-column" disagrees with payload.id "hg-payload"' },
  {
    table: "geppetto_turns",
    key: gKey("hg-ok", 66_000, "hg\u200bconv"),
    reason: expect.stringMatching(/^conv_id must not contain invisible format characters \(found U\+200B/),
  },
];

const nKey = (turnId: string) => ({ conv_id: "hn-conv", session_id: "hn-s", turn_id: turnId });
const mKey = (phase: string, at: number) => ({ ...nKey("t-ok"), phase, snapshot_created_at_ms: at, ordinal: 0 });

/** The hostile normalized store's refused rows, turns then membership. */
const N_REFUSED = [
  { table: "turns", key: nKey("t-pin"), reason: expect.stringMatching(AHEAD("updated_at_ms")) },
  { table: "turns", key: nKey("t-pin2"), reason: expect.stringMatching(AHEAD("turn_created_at_ms")) },
  { table: "turns", key: nKey("t-neg"), reason: NOT_POSITIVE("turn_created_at_ms", -5) },
  {
    table: "turns",
    key: nKey("t-rt"),
    reason: expect.stringMatching(/^runtime_key must not contain invisible format characters \(found U\+202E/),
  },
  { table: "turns", key: nKey("t-inf"), reason: "inference_id must be at most 256 characters after trimming (it has 300)" },
  {
    table: "turns",
    key: nKey("t-meta"),
    reason: expect.stringMatching(/^turn_metadata_json\["geppetto\.runtime@v1"\]\.runtime_key must not contain control characters/),
  },
  { table: "turns", key: nKey("t\u200bid"), reason: expect.stringMatching(/^turn_id must not contain invisible format characters/) },
  { table: "turn_block_membership", key: mKey("bad\u0001phase", 1500), reason: "phase must not contain control characters" },
  {
    table: "turn_block_membership",
    key: mKey("pre_inference", FAR_FUTURE_MS),
    reason: expect.stringMatching(AHEAD("snapshot_created_at_ms")),
  },
  { table: "turn_block_membership", key: mKey("draft", -1), reason: NOT_POSITIVE("snapshot_created_at_ms", -1) },
];

const TIMELINE_REFUSED = [
  { table: "timeline_conversations", key: { conv_id: "hn-pinned" }, reason: expect.stringMatching(AHEAD("last_activity_ms")) },
  {
    table: "timeline_conversations",
    key: { conv_id: "hn-lookalike" },
    reason: expect.stringMatching(/^runtime_key must not contain invisible format characters \(found U\+202E/),
  },
  { table: "timeline_conversations", key: { conv_id: "hn-negative" }, reason: NOT_POSITIVE("created_at_ms", -10) },
];

const tableCounts = (s: ImportSummary) => Object.fromEntries(s.tables.map((t) => [t.table, [t.read, t.written, t.skipped, t.rejected]]));

describe("read and checked (dry runs: no D1)", () => {
  const target: D1Target = { remote: false, persistTo: join(dir, "never-created") };

  it("geppetto_turns: each hostile row is named with its key and what is wrong; the good rows pass", async () => {
    const summary = await runImport({ turns: files.g, target, dryRun: true });
    expect(summary.notImported).toEqual(G_REFUSED);
    expect(tableCounts(summary)).toMatchObject({ turn_snapshots: [11, null, null, 9], turns: [2, null, null, 0] });
    expect(exitCodeFor(summary)).toBe(3);
  });

  it("the normalized store: turns and snapshots by the same rules; runtime columns kept trimmed", async () => {
    const source = await readNormalizedFile(files.normalized);
    expect(source.notImported).toEqual(N_REFUSED);
    expect(source.turns.map((t) => [t.turn_id, t.runtime_key, t.inference_id])).toEqual([
      ["t-ok", "", ""],
      ["t-column", "column-wins", ""],
      ["t-trim", "trimmed", ""],
    ]);
    expect(source.membership.map((m) => [m.turn_id, m.phase])).toEqual([
      ["t-ok", "final"],
      ["t-column", "final"],
      ["t-trim", "final"],
    ]);
  });

  it("the timeline: its times and runtime keys too", async () => {
    const file = await openSqliteFile(files.timeline, "timeline database");
    const read = readTimelineFile(file);
    file.close();
    expect(read.notImported).toEqual(TIMELINE_REFUSED);
    expect(read.conversations).toEqual([
      { conv_id: "hn-conv", session_id: "hn-s", runtime_key: "tl-old", created_at_ms: 100, last_activity_ms: 200 },
    ]);
  });

  it("the CLI exits 3 and lists the rows it did not import", () => {
    const result = npmRun("import:legacy", ["--turns", files.g, "--dry-run", "--json"]);
    expect(result.code).toBe(3);
    const summary = JSON.parse(result.stdout) as ImportSummary;
    expect(summary.notImported).toEqual(G_REFUSED);
  });
});

describe("imported into D1: only the good rows, and no pointer pinned", () => {
  const persistTo = join(dir, "d1");
  const target: D1Target = { remote: false, persistTo };
  const summaries = {} as Record<"g" | "normalized", ImportSummary>;
  let conversations: Array<Record<string, unknown>>;
  let snapshots: Array<Record<string, unknown>>;

  beforeAll(async () => {
    // A migrated database to import into (a copy; importing into a fresh folder is the docs walk's import rehearsal).
    applyMigrationsLocal(persistTo);
    summaries.g = await runImport({ turns: files.g, target });
    summaries.normalized = await runImport({ turns: files.normalized, timeline: files.timeline, target });
    await withDatabase(target, async (db) => {
      conversations = (
        await db
          .prepare(
            "SELECT conv_id, session_id, current_runtime_key, created_at_ms, last_activity_ms, turn_count, snapshot_count FROM conversations ORDER BY conv_id",
          )
          .all<Record<string, unknown>>()
      ).results;
      snapshots = (
        await db
          .prepare("SELECT conv_id, turn_id, phase, created_at_ms, runtime_key FROM turn_snapshots ORDER BY conv_id, created_at_ms")
          .all<Record<string, unknown>>()
      ).results;
    });
  }, HEAVY_MS);

  it("names the same rows, verifies, and exits 3", () => {
    expect(summaries.g.notImported).toEqual(G_REFUSED);
    expect(summaries.normalized.notImported).toEqual([...N_REFUSED, ...TIMELINE_REFUSED]);
    for (const summary of Object.values(summaries)) {
      expect(summary.verification?.ok).toBe(true);
      expect(exitCodeFor(summary)).toBe(3);
    }
  });

  it("holds exactly the good rows; each conversation points at its newest good event", () => {
    expect(conversations).toEqual([
      {
        conv_id: "hg-conv",
        session_id: "hg-s",
        current_runtime_key: "research",
        created_at_ms: 60_000,
        last_activity_ms: 65_000,
        turn_count: 2,
        snapshot_count: 2,
      },
      {
        conv_id: "hn-conv",
        session_id: "hn-s",
        current_runtime_key: "trimmed",
        created_at_ms: 100,
        last_activity_ms: 3400,
        turn_count: 3,
        snapshot_count: 3,
      },
    ]);
    expect(snapshots).toEqual([
      { conv_id: "hg-conv", turn_id: "hg-ok", phase: "final", created_at_ms: 60_000, runtime_key: "inventory" },
      { conv_id: "hg-conv", turn_id: "hg-trim", phase: "final", created_at_ms: 65_000, runtime_key: "research" },
      // Carried-over snapshots take their turn's values: from the metadata, the stored column, trimmed.
      { conv_id: "hn-conv", turn_id: "t-ok", phase: "final", created_at_ms: 1500, runtime_key: "planner" },
      { conv_id: "hn-conv", turn_id: "t-column", phase: "final", created_at_ms: 3300, runtime_key: "column-wins" },
      { conv_id: "hn-conv", turn_id: "t-trim", phase: "final", created_at_ms: 3400, runtime_key: "trimmed" },
    ]);
  });
});
