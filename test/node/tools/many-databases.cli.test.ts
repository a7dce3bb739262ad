/**
 * The operator tools over three D1 databases (CONTRACT §6.4), run as an operator runs them — the npm
 * scripts, against a wrangler configuration in a temp folder that binds DB, DB_1 and DB_2 (each its
 * own local D1) with CONVERSATION_DATABASES = "DB,DB_1,DB_2", migrated with `npm run db:migrate`
 * (`wrangler d1 migrations apply --local` for each binding: DB from empty, DB_1 from one migration
 * behind, DB_2 already current). Each tool runs once through npm; its further runs call the
 * script's main() in this process (cli-runs.ts):
 *
 *  - import:legacy writes each conversation wholly to the database the Worker would (placeConversation,
 *    the same function), records it in DB's directory, and leaves a conversation already placed — or
 *    in DB from before the directory — where it is; it refuses a conversation that is being moved;
 *  - db:check checks each database and the directory, and reports a conversation that is not where the
 *    directory places it;
 *  - db:convert converts the legacy snapshots of every database.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadLegacyRows } from "../../../scripts/legacy/legacy-rows";
import { readNormalizedFile, runImport } from "../../../scripts/legacy/run-import";
import { switchRuntime } from "../../../src/store/conversations";
import { lookUpConversation, placeConversationIn } from "../../../src/store/directory";
import { placeConversation } from "../../../src/turn/placement";
import { type D1Target, withDatabases } from "../../../tools/d1";
import { migrationFiles, migrationStatements, runBackfill } from "../../../tools/migrations";
import { ROOT } from "../../../tools/wrangler-dev";
import { npmRun, runMain } from "./cli-runs";
import { GEPPETTO_DDL, goStoreDdl, layoutA, timelineA, writeSqlite } from "./import.fixtures";

/** Each step runs wrangler (migrations for three databases, a platform proxy): seconds of CPU on a busy box. */
const HEAVY_MS = 300_000;

const BINDINGS = ["DB", "DB_1", "DB_2"];
const dir = mkdtempSync(join(tmpdir(), "turnstore-many-databases-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A deployment's wrangler configuration with three D1 databases (distinct ids: distinct local databases). */
const config = join(dir, "wrangler.toml");
const compatibilityDate = readFileSync(join(ROOT, "wrangler.toml"), "utf8").match(/^compatibility_date = .*$/m)![0];
writeFileSync(
  config,
  [
    `name = "turnstore"\nmain = ${JSON.stringify(join(ROOT, "src/index.ts"))}\n${compatibilityDate}\n`,
    ...BINDINGS.map(
      (binding, i) =>
        `[[d1_databases]]\nbinding = "${binding}"\ndatabase_name = "turnstore-${i}"\n` +
        `database_id = "00000000-0000-0000-0000-00000000000${i}"\nmigrations_dir = ${JSON.stringify(join(ROOT, "drizzle"))}\n`,
    ),
    `[vars]\nCONVERSATION_DATABASES = "${BINDINGS.join(",")}"\nOPEN_DATABASES = ""\n`,
  ].join("\n"),
);
const persistTo = join(dir, "d1");
const target: D1Target = { remote: false, persistTo, config };
const where = ["--config", config, "--persist-to", persistTo];

/** Where the Worker places a new conversation. */
const placed = (convId: string) => placeConversation(convId, BINDINGS);
/** The first id of the form `${prefix}${n}` that the Worker would place in `binding` (or not, with `not`). */
const idPlaced = (prefix: string, test: (binding: string) => boolean) => {
  for (let n = 0; ; n++) if (test(placed(`${prefix}${n}`))) return `${prefix}${n}`;
};

/** In DB from before the directory (its hash would place it elsewhere): stays in DB. */
const LEGACY = idPlaced("legacy-conv-", (b) => b !== "DB");
/** Placed in the directory on another database than its hash's: stays there. */
const PRE_PLACED = idPlaced("pre-conv-", (b) => b !== "DB_2");
const SPREAD = Array.from({ length: 30 }, (_, i) => `x-conv-${i}`);

const yamlTurn = (turnId: string, text: string) =>
  `id: ${turnId}\nblocks:\n    - kind: user\n      role: user\n      payload:\n          text: ${text}\n`;

/** A geppetto store: two turns in each of the conversations. */
function geppettoFile(name: string, convIds: readonly string[]): string {
  const rows = convIds.flatMap((convId, i) =>
    [0, 1].map((t) => [
      convId,
      `${convId}-s`,
      `${convId}-t${t}`,
      "final",
      "rt",
      "",
      10_000 + i * 10 + t,
      yamlTurn(`${convId}-t${t}`, `hi ${convId}`),
    ]),
  );
  return writeSqlite(dir, name, GEPPETTO_DDL, { geppetto_turns: rows });
}

/** A Go store (layout A): one turn of one snapshot, one block, in each conversation. */
function goStoreFile(name: string, convIds: readonly string[]): string {
  const block = (convId: string) => [`${convId}-b`, `h-${convId}`, "sha256-canonical-json-v1", "user", "user", '{"text":"hi"}', "{}", 1000];
  return writeSqlite(dir, name, goStoreDdl(), {
    turns: convIds.map((convId) => [convId, `${convId}-s`, "t1", 1000, "{}", "{}", 1000]),
    blocks: convIds.map(block),
    turn_block_membership: convIds.map((convId) => [convId, `${convId}-s`, "t1", "final", 1000, 0, `${convId}-b`, `h-${convId}`]),
  });
}

type Row = Record<string, unknown>;

/** Per database: the conversations its conversations, turns and turn_snapshots rows belong to; block_nodes naming a missing block. */
const holdings = () =>
  withDatabases(target, async (open) => {
    const out: Record<string, { conversations: string[]; rows: string[]; missingBlocks: number }> = {};
    for (const binding of BINDINGS) {
      const db = open.db(binding);
      const ids = async (sql: string) => (await db.prepare(sql).all<Row>()).results.map((r) => String(r.conv_id));
      out[binding] = {
        conversations: await ids("SELECT conv_id FROM conversations ORDER BY conv_id"),
        rows: await ids(
          "SELECT conv_id FROM turns UNION SELECT conv_id FROM turn_snapshots UNION SELECT conv_id FROM block_nodes ORDER BY conv_id",
        ),
        missingBlocks: (await db
          .prepare(
            "SELECT count(*) AS n FROM block_nodes AS n WHERE NOT EXISTS (SELECT 1 FROM blocks AS b WHERE b.block_id = n.block_id AND b.content_hash = n.content_hash)",
          )
          .first<{ n: number }>())!.n,
      };
    }
    return out;
  });

/**
 * Applies the migrations `names` to `db` as `wrangler d1 migrations apply` records them (the table
 * it creates, a row per file) and as the Worker tests' pool does (applyD1Migrations): each file's
 * statements, split by wrangler's own splitter, and its row in one batch.
 */
async function applyMigrationFiles(db: D1Database, names: readonly string[]): Promise<void> {
  await db
    .prepare(
      "CREATE TABLE IF NOT EXISTS d1_migrations(id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE, applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL)",
    )
    .run();
  for (const name of names)
    await db.batch([
      ...migrationStatements(name).map((sql) => db.prepare(sql)),
      db.prepare("INSERT INTO d1_migrations (name) VALUES (?1)").bind(name),
    ]);
}

describe("the operator tools over three databases", () => {
  it(
    "npm run db:migrate -- --config … brings every database the configuration binds to the latest migration",
    async () => {
      // Three starting points (each fresh `wrangler d1 migrations apply` costs seconds of CPU per file
      // it applies): DB empty, DB_1 one migration behind, DB_2 current.
      const files = migrationFiles();
      await withDatabases(target, async (open) => {
        await applyMigrationFiles(open.db("DB_1"), files.slice(0, -1));
        await applyMigrationFiles(open.db("DB_2"), files);
      });
      const run = npmRun("db:migrate", where);
      expect(run.code, run.stdout + run.stderr.join("\n")).toBe(0);
      expect(run.stdout).toMatch(/No migrations to apply/);
      const applied = await withDatabases(target, (open) =>
        Promise.all(
          open.bindings.map(async (b) =>
            (await open.db(b).prepare("SELECT name FROM d1_migrations ORDER BY id").all<{ name: string }>()).results.map((r) => r.name),
          ),
        ),
      );
      expect(applied).toEqual([files, files, files]);
    },
    HEAVY_MS,
  );

  it(
    "import:legacy spreads conversations as the Worker places them, each wholly in one database, the directory in DB",
    async () => {
      await withDatabases(target, async (open) => {
        // Written before there were other databases: in DB, with no directory row.
        await switchRuntime(open.db("DB"), { convId: LEGACY, runtimeKey: "old-rt", sessionId: `${LEGACY}-s`, atMs: 500 });
        // Placed already (by a Worker whose open databases differed): the directory says DB_2.
        await placeConversationIn(open.db("DB"), PRE_PLACED, "DB_2", 600);
      });
      const snapshots = npmRun("import:legacy", ["--turns", geppettoFile("many.db", [...SPREAD, LEGACY, PRE_PLACED]), ...where, "--json"]);
      expect(snapshots.code, snapshots.stderr.join("\n")).toBe(0);
      const summary = JSON.parse(snapshots.stdout);
      expect(summary).toMatchObject({ ok: true, verification: { ok: true, conversationsChecked: 32 } });
      expect(Object.keys(summary.databases)).toEqual(BINDINGS);
      expect(Object.values<number>(summary.databases).reduce((a, b) => a + b, 0)).toBe(32);

      // Layout A with its timeline: legacy rows, backfill and conversion on each database, blocks with their conversations.
      const normalized = await runMain("import:legacy", ["--turns", layoutA(dir), "--timeline", timelineA(dir), ...where, "--json"]);
      expect(normalized.code, normalized.stderr.join("\n")).toBe(3); // a-conv-4 has no session: named, not imported
      expect(JSON.parse(normalized.stdout)).toMatchObject({
        ok: true,
        convertedSnapshots: 6,
        verification: { ok: true, conversationsChecked: 3 },
      });

      const expected = new Map<string, string>([
        ...[...SPREAD, "a-conv-1", "a-conv-2", "a-conv-3"].map((id) => [id, placed(id)] as [string, string]),
        [LEGACY, "DB"],
        [PRE_PLACED, "DB_2"],
      ]);
      const held = await holdings();
      for (const binding of BINDINGS) {
        const mine = [...expected].filter(([, b]) => b === binding).map(([id]) => id);
        expect(mine.length, binding).toBeGreaterThan(0);
        expect(held[binding]!.conversations, binding).toEqual([...mine].sort());
        expect(held[binding]!.rows, binding).toEqual(mine.filter((id) => id !== "a-conv-3").sort()); // a-conv-3: timeline only
        expect(held[binding]!.missingBlocks, binding).toBe(0);
      }
      const directory = await withDatabases(target, (open) =>
        Promise.all([...expected.keys()].map(async (id) => [id, (await lookUpConversation(open.db("DB"), id))?.binding])),
      );
      expect(new Map(directory as Array<[string, string]>)).toEqual(expected);
    },
    HEAVY_MS,
  );

  it(
    "import:legacy refuses a conversation that is being moved, before writing anything",
    async () => {
      const moving = SPREAD[0]!;
      const from = placed(moving);
      const update = (sql: string) => withDatabases(target, (open) => open.db("DB").prepare(sql).bind(moving, from).run());
      await update("UPDATE conversation_directory SET moving_to = CASE ?2 WHEN 'DB' THEN 'DB_1' ELSE 'DB' END WHERE conv_id = ?1");
      const before = await holdings();
      await expect(runImport({ turns: geppettoFile("moving.db", [moving, "not-yet-conv"]), target })).rejects.toThrow(
        new RegExp(`"${moving}" is being moved from ${from} to DB(_1)?: run again once the move is done \\(nothing was written\\)`),
      );
      expect(await holdings()).toEqual(before);
      await update("UPDATE conversation_directory SET moving_to = NULL WHERE conv_id = ?1 AND binding = ?2");
    },
    HEAVY_MS,
  );

  it(
    "db:check checks each database and finds the directory in agreement",
    () => {
      const run = npmRun("db:check", [...where, "--json"]);
      expect(run.code, run.stdout + run.stderr.join("\n")).toBe(0);
      const report = JSON.parse(run.stdout);
      expect(report.ok).toBe(true);
      expect(report.databases.map((d: { binding: string; ok: boolean }) => [d.binding, d.ok])).toEqual(BINDINGS.map((b) => [b, true]));
      expect(report.directory).toMatchObject({ ok: true, inDbUnplaced: 0, problems: { count: 0 }, empty: { count: 0 } });
      expect(Object.values<number>(report.directory.held).reduce((a, b) => a + b, 0)).toBe(35);
    },
    HEAVY_MS,
  );

  it(
    "db:convert converts the legacy snapshots of every database, each in its own chunks",
    async () => {
      // Old rows loaded as they are into DB_1 and DB_2 (placed there), as an upgraded database holds them.
      await withDatabases(target, async (open) => {
        for (const binding of ["DB_1", "DB_2"]) {
          const convIds = [idPlaced(`old-${binding}-a-`, (b) => b === binding), idPlaced(`old-${binding}-b-`, (b) => b === binding)];
          for (const convId of convIds) await placeConversationIn(open.db("DB"), convId, binding, 700);
          await loadLegacyRows(open.db(binding), await readNormalizedFile(goStoreFile(`old-${binding}.db`, convIds)));
          await runBackfill(open.db(binding));
        }
      });
      const first = npmRun("db:convert", [...where, "--json"]);
      expect(first.code, first.stderr.join("\n")).toBe(0);
      expect(JSON.parse(first.stdout)).toEqual({
        ok: true,
        target: `local D1 (--persist-to ${persistTo}, --config ${config})`,
        converted: 4,
        databases: [
          { binding: "DB", converted: 0 },
          { binding: "DB_1", converted: 2 },
          { binding: "DB_2", converted: 2 },
        ],
      });
      const second = await runMain("db:convert", [...where, "--json"]);
      expect(JSON.parse(second.stdout)).toMatchObject({ ok: true, converted: 0 });
    },
    HEAVY_MS,
  );

  it(
    "db:check reports a conversation held where the directory does not place it (exit 1)",
    async () => {
      const moved = SPREAD.find((id) => placed(id) === "DB_1")!;
      const unlisted = SPREAD.find((id) => placed(id) === "DB_2")!;
      await withDatabases(target, async (open) => {
        // The directory says DB_2 for a conversation DB_1 holds, and forgets one DB_2 holds.
        await open.db("DB").prepare("UPDATE conversation_directory SET binding = 'DB_2' WHERE conv_id = ?1").bind(moved).run();
        await open.db("DB").prepare("DELETE FROM conversation_directory WHERE conv_id = ?1").bind(unlisted).run();
      });
      const run = await runMain("db:check", [...where, "--json"]);
      expect(run.code, run.stderr.join("\n")).toBe(1);
      const report = JSON.parse(run.stdout);
      expect(report.ok).toBe(false);
      expect(report.databases.every((d: { ok: boolean }) => d.ok)).toBe(true);
      expect(report.directory.problems.sample).toEqual([
        { conv_id: moved, binding: "DB_2", problem: "placed in DB_2, which does not hold it (DB_1 does)" },
        { conv_id: moved, binding: "DB_1", problem: "DB_1 holds it, but the directory places it in DB_2" },
        { conv_id: unlisted, binding: "DB_2", problem: "DB_2 holds it, but the directory has no row for it (it would be read from DB)" },
      ]);
      const text = await runMain("db:check", where);
      expect(text.code).toBe(1);
      expect(text.stdout).toMatch(/FAIL {2}directory: 3 conversation\(s\) not where the directory places them/);
    },
    HEAVY_MS,
  );
});
