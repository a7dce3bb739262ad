/**
 * The migration chain on old data: a database at the baseline (pre-cutover) layout with legacy rows,
 * and a legacy database created by raw SQL with no d1_migrations table, both brought to the current
 * schema by the real drizzle/ migrations (what `wrangler d1 migrations apply` runs).
 */
import { applyD1Migrations, reset } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { runMaintenance } from "../../src/scheduled";
import { get, json, post, ROW_ORDER } from "./harness";

const migrations = env.TEST_MIGRATIONS;
/** The migrations that create triggers on turn_snapshots (run again after a by-hand re-run of 0008). */
const TRIGGER_MIGRATIONS = ["0009_turn_created_trigger.sql", "0010_turn_rollup_trigger.sql"];

/** The turn roll-up statement of the Worker before 0010 (src/store/snapshot-writes.ts at that release), verbatim. */
const PREVIOUS_UPSERT_TURNS = `
INSERT INTO turns (conv_id, session_id, turn_id, turn_created_at_ms, turn_metadata_json, turn_data_json, updated_at_ms,
  runtime_key, inference_id, runtime_key_at_ms, inference_id_at_ms)
SELECT value ->> 'conv_id', value ->> 'session_id', value ->> 'turn_id', value ->> 'created_at_ms',
  value ->> 'metadata_json', value ->> 'data_json', value ->> 'created_at_ms',
  value ->> 'runtime_key', value ->> 'inference_id',
  CASE WHEN value ->> 'runtime_key' <> '' THEN value ->> 'created_at_ms' ELSE 0 END,
  CASE WHEN value ->> 'inference_id' <> '' THEN value ->> 'created_at_ms' ELSE 0 END
FROM json_each(?1) WHERE true
ON CONFLICT (conv_id, session_id, turn_id) DO UPDATE SET
  turn_metadata_json = CASE WHEN excluded.updated_at_ms >= updated_at_ms THEN excluded.turn_metadata_json ELSE turn_metadata_json END,
  turn_data_json = CASE WHEN excluded.updated_at_ms >= updated_at_ms THEN excluded.turn_data_json ELSE turn_data_json END,
  updated_at_ms = max(updated_at_ms, excluded.updated_at_ms),
  runtime_key = CASE
    WHEN excluded.runtime_key <> '' AND excluded.runtime_key_at_ms >= runtime_key_at_ms
    THEN excluded.runtime_key ELSE runtime_key END,
  runtime_key_at_ms = CASE
    WHEN excluded.runtime_key <> '' AND excluded.runtime_key_at_ms >= runtime_key_at_ms
    THEN excluded.runtime_key_at_ms ELSE runtime_key_at_ms END,
  inference_id = CASE
    WHEN excluded.inference_id <> '' AND excluded.inference_id_at_ms >= inference_id_at_ms
    THEN excluded.inference_id ELSE inference_id END,
  inference_id_at_ms = CASE
    WHEN excluded.inference_id <> '' AND excluded.inference_id_at_ms >= inference_id_at_ms
    THEN excluded.inference_id_at_ms ELSE inference_id_at_ms END`;

const snapshotTriggers = () =>
  env.DB.prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'turn_snapshots' ORDER BY name")
    .all<{ name: string }>()
    .then((r) => r.results.map((t) => t.name));

const LEGACY_SCHEMA = `
CREATE TABLE turns (conv_id TEXT NOT NULL, session_id TEXT NOT NULL, turn_id TEXT NOT NULL,
  turn_created_at_ms INTEGER NOT NULL, turn_metadata_json TEXT NOT NULL DEFAULT '{}',
  turn_data_json TEXT NOT NULL DEFAULT '{}', updated_at_ms INTEGER NOT NULL,
  PRIMARY KEY (conv_id, session_id, turn_id));
CREATE TABLE blocks (block_id TEXT NOT NULL, content_hash TEXT NOT NULL, hash_algorithm TEXT NOT NULL,
  kind TEXT NOT NULL, role TEXT NOT NULL DEFAULT '', payload_json TEXT NOT NULL DEFAULT '{}',
  block_metadata_json TEXT NOT NULL DEFAULT '{}', first_seen_at_ms INTEGER NOT NULL,
  PRIMARY KEY (block_id, content_hash));
CREATE TABLE turn_block_membership (conv_id TEXT NOT NULL, session_id TEXT NOT NULL, turn_id TEXT NOT NULL,
  phase TEXT NOT NULL, snapshot_created_at_ms INTEGER NOT NULL, ordinal INTEGER NOT NULL,
  block_id TEXT NOT NULL, content_hash TEXT NOT NULL,
  PRIMARY KEY (conv_id, session_id, turn_id, phase, snapshot_created_at_ms, ordinal));`;

/** Legacy rows: metadata as canonical object, plain string, absent, malformed; a runtime switch in conv-a. */
async function insertLegacyRows() {
  const turn = (conv: string, sess: string, id: string, created: number, meta: string, updated: number) =>
    env.DB.prepare(
      `INSERT INTO turns (conv_id, session_id, turn_id, turn_created_at_ms, turn_metadata_json, turn_data_json, updated_at_ms)
       VALUES (?1, ?2, ?3, ?4, ?5, '{"k":1}', ?6)`,
    ).bind(conv, sess, id, created, meta, updated);
  const block = (id: string, hash: string, kind: string, text: string) =>
    env.DB.prepare(
      `INSERT INTO blocks (block_id, content_hash, hash_algorithm, kind, role, payload_json, block_metadata_json, first_seen_at_ms)
       VALUES (?1, ?2, 'sha256-canonical-json-v1', ?3, '', ?4, '{}', 1)`,
    ).bind(id, hash, kind, JSON.stringify({ text }));
  const member = (conv: string, sess: string, turnId: string, phase: string, at: number, ordinal: number, blockId: string, hash: string) =>
    env.DB.prepare(`INSERT INTO turn_block_membership VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)`).bind(
      conv,
      sess,
      turnId,
      phase,
      at,
      ordinal,
      blockId,
      hash,
    );
  await env.DB.batch([
    turn(
      "conv-a",
      "sess-a",
      "t1",
      100,
      JSON.stringify({ "geppetto.runtime@v1": { runtime_key: "inventory" }, "geppetto.inference_id@v1": "inf-1" }),
      150,
    ),
    turn("conv-a", "sess-a", "t2", 200, JSON.stringify({ "geppetto.runtime@v1": "planner" }), 250),
    turn("conv-a", "sess-a", "t3", 300, "{}", 350),
    turn("conv-b", "sess-b", "t4", 400, "{not json", 450),
    block("b1", "h1", "user", "hi"),
    block("b2", "h2", "llm_text", "hello"),
    block("b3", "h3", "llm_text", "again"),
    // t1 final@150: [b1, b2] stored out of ordinal order on purpose; t2 draft@210 then final@250.
    member("conv-a", "sess-a", "t1", "final", 150, 1, "b2", "h2"),
    member("conv-a", "sess-a", "t1", "final", 150, 0, "b1", "h1"),
    member("conv-a", "sess-a", "t2", "draft", 210, 0, "b1", "h1"),
    member("conv-a", "sess-a", "t2", "final", 250, 0, "b1", "h1"),
    member("conv-a", "sess-a", "t2", "final", 250, 1, "b3", "h3"),
    member("conv-b", "sess-b", "t4", "final", 450, 0, "b2", "h2"),
  ]);
}

async function counts() {
  const tables = ["turns", "blocks", "turn_block_membership", "turn_snapshots", "conversations"];
  const results = await env.DB.batch(tables.map((t) => env.DB.prepare(`SELECT count(*) AS n FROM ${t}`)));
  return Object.fromEntries(tables.map((t, i) => [t, (results[i]!.results[0] as { n: number }).n]));
}

async function dump() {
  const tables = ["turns", "blocks", "turn_block_membership", "turn_snapshots", "conversations"];
  const results = await env.DB.batch(tables.map((t) => env.DB.prepare(`SELECT * FROM ${t} ORDER BY ${ROW_ORDER(t)}`)));
  return JSON.stringify(results.map((r) => r.results));
}

/** The legacy tables, legacy columns only. */
async function legacyDump() {
  const queries = [
    "SELECT conv_id, session_id, turn_id, turn_created_at_ms, turn_metadata_json, turn_data_json, updated_at_ms FROM turns ORDER BY 1, 2, 3",
    "SELECT block_id, content_hash, hash_algorithm, kind, role, payload_json, block_metadata_json, first_seen_at_ms FROM blocks ORDER BY block_id, content_hash",
    "SELECT * FROM turn_block_membership ORDER BY 1, 2, 3, 4, 5, 6",
  ];
  return JSON.stringify((await env.DB.batch(queries.map((q) => env.DB.prepare(q)))).map((r) => r.results));
}

async function assertMigratedLegacyData() {
  const columns = (
    await env.DB.prepare("PRAGMA table_info(turns)").all<{ name: string; type: string; notnull: number; dflt_value: string }>()
  ).results;
  for (const name of ["runtime_key", "inference_id"]) {
    const column = columns.find((c) => c.name === name);
    expect({ ...column, type: column?.type.toUpperCase() }).toMatchObject({ type: "TEXT", notnull: 1, dflt_value: "''" });
  }
  const indexes = (
    await env.DB.prepare(
      `SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'turns'
       AND name IN ('turns_by_conv_runtime_updated', 'turns_by_conv_inference_updated') ORDER BY name`,
    ).all<{ name: string }>()
  ).results.map((r) => r.name);
  expect(indexes).toEqual(["turns_by_conv_inference_updated", "turns_by_conv_runtime_updated"]);

  const turns = (await env.DB.prepare("SELECT turn_id, runtime_key, inference_id FROM turns ORDER BY turn_id").all()).results;
  expect(turns).toEqual([
    { turn_id: "t1", runtime_key: "inventory", inference_id: "inf-1" },
    { turn_id: "t2", runtime_key: "planner", inference_id: "" },
    { turn_id: "t3", runtime_key: "", inference_id: "" },
    { turn_id: "t4", runtime_key: "", inference_id: "" },
  ]);
  expect(await counts()).toEqual({ turns: 4, blocks: 3, turn_block_membership: 6, turn_snapshots: 4, conversations: 2 });

  const snapshots = (
    await env.DB.prepare(
      "SELECT turn_id, phase, created_at_ms, runtime_key, inference_id, block_refs_json FROM turn_snapshots ORDER BY created_at_ms",
    ).all()
  ).results;
  expect(snapshots).toEqual([
    {
      turn_id: "t1",
      phase: "final",
      created_at_ms: 150,
      runtime_key: "inventory",
      inference_id: "inf-1",
      block_refs_json: '[["b1","h1"],["b2","h2"]]',
    },
    { turn_id: "t2", phase: "draft", created_at_ms: 210, runtime_key: "planner", inference_id: "", block_refs_json: '[["b1","h1"]]' },
    {
      turn_id: "t2",
      phase: "final",
      created_at_ms: 250,
      runtime_key: "planner",
      inference_id: "",
      block_refs_json: '[["b1","h1"],["b3","h3"]]',
    },
    { turn_id: "t4", phase: "final", created_at_ms: 450, runtime_key: "", inference_id: "", block_refs_json: '[["b2","h2"]]' },
  ]);

  const conversations = (await env.DB.prepare("SELECT * FROM conversations ORDER BY conv_id").all()).results;
  expect(conversations).toEqual([
    // Pointer = runtime of the newest turn that has one (t2, not t3 which has none).
    {
      conv_id: "conv-a",
      session_id: "sess-a",
      current_runtime_key: "planner",
      current_runtime_at_ms: 250,
      created_at_ms: 100,
      last_activity_ms: 350,
      turn_count: 3,
      snapshot_count: 3,
    },
    {
      conv_id: "conv-b",
      session_id: "sess-b",
      current_runtime_key: "",
      current_runtime_at_ms: 0,
      created_at_ms: 400,
      last_activity_ms: 450,
      turn_count: 1,
      snapshot_count: 1,
    },
  ]);
}

describe("migration chain on old data", () => {
  beforeEach(async () => {
    await reset();
  });

  it("upgrades a database at the baseline with legacy rows, losing nothing; re-applying is a no-op", async () => {
    await applyD1Migrations(env.DB, migrations.slice(0, 1));
    await insertLegacyRows();
    const before = await legacyDump();
    await applyD1Migrations(env.DB, migrations);
    await assertMigratedLegacyData();
    // Nothing lost: every legacy column of every legacy row is as it was.
    expect(await legacyDump()).toBe(before);

    const snapshot = await dump();
    await applyD1Migrations(env.DB, migrations);
    expect(await dump()).toBe(snapshot);
  });

  it("serves migrated legacy snapshots through the debug API, malformed metadata shown verbatim — before and after their conversion to block paths", async () => {
    await applyD1Migrations(env.DB, migrations.slice(0, 1));
    await insertLegacyRows();
    await applyD1Migrations(env.DB, migrations);
    await checkReads();
    const reads = await everyRead();
    // The scheduled data step converts the legacy rows; every read is the same afterwards.
    expect(await runMaintenance(env)).toMatchObject({ converted_snapshots: 4, conversion_remaining: false, deleted_conversations: [] });
    expect(await everyRead()).toBe(reads);
    await checkReads();
    expect((await env.DB.prepare("SELECT count(*) AS n FROM turn_snapshots WHERE tip_chain IS NULL").first<{ n: number }>())!.n).toBe(0);
    // b1 is on one node (shared by t1 and t2's paths), b2 on two (t1's path, t4's), b3 on one.
    const counts = (await env.DB.prepare("SELECT block_id, ref_count FROM blocks ORDER BY block_id").all()).results;
    expect(counts).toEqual([
      { block_id: "b1", ref_count: 1 },
      { block_id: "b2", ref_count: 2 },
      { block_id: "b3", ref_count: 1 },
    ]);
  });

  async function everyRead(): Promise<string> {
    const paths = [
      "/api/debug/turn/conv-a/sess-a/t1",
      "/api/debug/turn/conv-a/sess-a/t2",
      "/api/debug/turn/conv-b/sess-b/t4",
      "/api/debug/turns?conv_id=conv-a",
      "/api/debug/turns?conv_id=conv-a&payload=none",
      "/api/debug/turns?session_id=sess-b",
      "/api/debug/conversations",
      "/api/debug/conversations/conv-a",
    ];
    return JSON.stringify(await Promise.all(paths.map(async (p) => json(await get(p)))));
  }

  async function checkReads() {
    const t1 = await get("/api/debug/turn/conv-a/sess-a/t1");
    expect(t1.status).toBe(200);
    expect((await json(t1)).items[0]).toMatchObject({
      phase: "final",
      runtime_key: "inventory",
      inference_id: "inf-1",
      parsed: {
        id: "t1",
        blocks: [
          { id: "b1", kind: "user", payload: { text: "hi" } },
          { id: "b2", kind: "llm_text", payload: { text: "hello" } },
        ],
        data: { k: 1 },
      },
    });
    const t4 = await get("/api/debug/turn/conv-b/sess-b/t4");
    expect(t4.status).toBe(200);
    expect((await json(t4)).items[0]!.parsed.metadata).toEqual({ "turnstore.unparsed_json@v1": "{not json" });
    const list = await get("/api/debug/turns?conv_id=conv-a");
    expect((await json(list)).items.map((i: { turn_id: string; phase: string }) => `${i.turn_id}/${i.phase}`)).toEqual([
      "t2/final",
      "t2/draft",
      "t1/final",
    ]);
  }

  it("upgrades a legacy database created by raw SQL with no d1_migrations table", async () => {
    for (const statement of LEGACY_SCHEMA.split(";")
      .map((s) => s.trim())
      .filter(Boolean)) {
      await env.DB.prepare(statement).run();
    }
    await insertLegacyRows();
    const hasTracking = await env.DB.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'd1_migrations'").first<{ n: number }>(
      "n",
    );
    expect(hasTracking).toBe(0);
    await applyD1Migrations(env.DB, migrations);
    await assertMigratedLegacyData();
  });

  it("running the backfill step again by hand changes nothing, and an interrupted backfill completes", async () => {
    await applyD1Migrations(env.DB, migrations.slice(0, 1));
    await insertLegacyRows();
    await applyD1Migrations(env.DB, migrations.slice(0, 2));
    const backfill = migrations[2]!;
    // First half only: the runtime statements, not inference / snapshots / conversations.
    for (const query of backfill.queries.slice(0, 2)) await env.DB.prepare(query).run();
    const partial = await env.DB.prepare("SELECT count(*) AS n FROM turn_snapshots").first<{ n: number }>("n");
    expect(partial).toBe(0);
    for (const query of backfill.queries) await env.DB.prepare(query).run();
    await assertMigratedLegacyData();
    const snapshot = await dump();
    for (const query of backfill.queries) await env.DB.prepare(query).run();
    expect(await dump()).toBe(snapshot);
  });

  it("0008 makes turn_snapshots and blocks WITHOUT ROWID: every row, column and snapshot id kept; running it again changes nothing", async () => {
    const keys = migrations.findIndex((m) => m.name === "0008_snapshot_keys.sql");
    expect(keys).toBe(8);
    await applyD1Migrations(env.DB, migrations.slice(0, keys));
    // Rows as the 0007 layout holds them: rowid ids (not per time), a legacy row (tip_chain NULL,
    // blocks on the row), two snapshots of one millisecond, a block counted 0 and one not counted.
    await env.DB.batch([
      env.DB.prepare(
        `INSERT INTO blocks (block_id, content_hash, hash_algorithm, kind, role, payload_json, block_metadata_json, first_seen_at_ms, ref_count) VALUES
         ('b1', 'h1', 'sha256-canonical-json-v1', 'user', 'user', '{"text":"hi"}', '{}', 5, 2),
         ('b2', 'h2', 'sha256-canonical-json-v1', 'llm_text', 'assistant', '{"text":"yo"}', '{"m":1}', 6, 0),
         ('b3', 'h3', 'sha256-canonical-json-v1', 'user', '', '{}', '{}', 7, NULL)`,
      ),
      env.DB.prepare(
        `INSERT INTO block_nodes (conv_id, chain, parent_chain, depth, block_id, content_hash, extra_json) VALUES
         ('c1', 'n1', '', 1, 'b1', 'h1', ''), ('c1', 'n2', 'n1', 2, 'b2', 'h2', '')`,
      ),
      env.DB.prepare(
        `INSERT INTO turn_snapshots (conv_id, session_id, turn_id, phase, created_at_ms, runtime_key, inference_id,
           turn_metadata_json, turn_data_json, block_refs_json, turn_extra_json, tip_chain, block_count) VALUES
         ('c1', 's1', 't1', 'pre_inference', 100, 'inventory', 'i1', '{"a":1}', '{"d":2}', '[]', '', 'n1', 1),
         ('c1', 's1', 't1', 'final', 100, 'inventory', 'i1', '{}', '{}', '[]', '{"run_id":"r"}', 'n2', 2),
         ('c2', 's2', 't9', 'final', 50, '', '', '{}', '{}', '[["b3","h3"]]', '', NULL, 0),
         ('c1', 's1', 't2', 'final', 90, 'planner', '', '{}', '{}', '[]', '', '', 0)`,
      ),
    ]);
    const snapshots = () =>
      env.DB.prepare("SELECT * FROM turn_snapshots ORDER BY id")
        .all()
        .then((r) => r.results);
    const blocks = () =>
      env.DB.prepare("SELECT * FROM blocks ORDER BY block_id, content_hash")
        .all()
        .then((r) => r.results);
    const before = { snapshots: await snapshots(), blocks: await blocks() };
    expect(before.snapshots.map((r) => r.id)).toEqual([1, 2, 3, 4]);

    await applyD1Migrations(env.DB, migrations);
    expect({ snapshots: await snapshots(), blocks: await blocks() }).toEqual(before);
    const schema = (
      await env.DB.prepare(
        "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE tbl_name IN ('turn_snapshots', 'blocks') ORDER BY name",
      ).all<{ type: string; name: string; sql: string | null }>()
    ).results;
    expect(schema.filter((o) => o.type === "table").map((o) => [o.name, /WITHOUT ROWID\s*$/.test(o.sql!)])).toEqual([
      ["blocks", true],
      ["turn_snapshots", true],
    ]);
    expect(schema.filter((o) => o.type === "index" && o.sql !== null).map((o) => o.name)).toEqual([
      "blocks_unreferenced",
      "turn_snapshots_identity",
      "turn_snapshots_unconverted",
    ]);

    // Running 0008 again (an operator re-applying it by hand) copies the tables onto themselves. It
    // drops the triggers on turn_snapshots with the old table; MIGRATION.md says to run the trigger
    // migrations after it, as done here.
    for (const query of migrations[keys]!.queries) await env.DB.prepare(query).run();
    expect({ snapshots: await snapshots(), blocks: await blocks() }).toEqual(before);
    expect(await snapshotTriggers()).toEqual([]);
    for (const m of migrations.filter((m) => TRIGGER_MIGRATIONS.includes(m.name)))
      for (const query of m.queries) await env.DB.prepare(query).run();
    expect(await snapshotTriggers()).toEqual(["turn_snapshots_lower_turn_created", "turn_snapshots_roll_up_turn"]);

    // The copied rows read as before: equal times by arrival (id), the legacy row from its list;
    // a new snapshot of the same millisecond comes after them.
    expect(
      (
        await post("/api/turns", {
          conv_id: "c1",
          session_id: "s1",
          phase: "post_inference",
          created_at_ms: 100,
          turn: { id: "t1", blocks: [] },
        })
      ).status,
    ).toBe(201);
    const page = await json(await get("/api/debug/turns?conv_id=c1&payload=none"));
    expect(page.items.map((i) => `${i.turn_id}/${i.phase}@${i.created_at_ms}`)).toEqual([
      "t1/post_inference@100",
      "t1/final@100",
      "t1/pre_inference@100",
      "t2/final@90",
    ]);
    const ids = (
      await env.DB.prepare("SELECT id FROM turn_snapshots WHERE conv_id = 'c1' AND created_at_ms = 100 ORDER BY id").all<{ id: number }>()
    ).results;
    expect(ids.map((r) => r.id)).toEqual([1, 2, 3]);
    const legacy = await json(await get("/api/debug/turn/c2/s2/t9"));
    expect(legacy.items[0]!.parsed.blocks).toEqual([{ id: "b3", kind: "user", role: "", payload: {}, metadata: {} }]);
    // The new snapshot rolled its turn up (t1 had no turn row: the rows above were inserted raw).
    expect(
      await env.DB.prepare("SELECT turn_created_at_ms, updated_at_ms FROM turns WHERE conv_id = 'c1' AND turn_id = 't1'").first(),
    ).toEqual({ turn_created_at_ms: 100, updated_at_ms: 100 });
  });

  it("0010 rolls a turn up as its snapshot is inserted, whoever inserts it; legacy rows are left to the backfill; running it again changes nothing", async () => {
    await applyD1Migrations(env.DB, migrations);
    expect(migrations.map((m) => m.name)).toContain("0010_turn_rollup_trigger.sql");
    const insert = (phase: string, at: number, runtime: string, inference: string, meta: string, tip: string | null) =>
      env.DB.prepare(
        `INSERT INTO turn_snapshots (id, conv_id, session_id, turn_id, phase, created_at_ms, runtime_key, inference_id,
           turn_metadata_json, turn_data_json, turn_extra_json, tip_chain, block_count, block_refs_json)
         VALUES (?1, 'c', 's', 't', ?2, ?3, ?4, ?5, ?6, '{}', '', ?7, 0, '[]')`,
      ).bind(at, phase, at, runtime, inference, meta, tip);
    const turn = () =>
      env.DB.prepare(
        "SELECT turn_created_at_ms, updated_at_ms, turn_metadata_json, runtime_key, runtime_key_at_ms, inference_id, inference_id_at_ms FROM turns WHERE conv_id = 'c'",
      )
        .all()
        .then((r) => r.results);
    const run = async () => {
      await insert("draft", 200, "planner", "i1", '{"n":1}', "").run();
      // Newer, without a runtime: metadata moves, the runtime stays the newest known one.
      await insert("final", 300, "", "i2", '{"n":2}', "").run();
      // Older, late: the creation time moves back (0009); nothing newer is replaced.
      await insert("pre_inference", 100, "inventory", "", '{"n":0}', "").run();
      // A legacy row (blocks on the row, no path): the backfill builds its turn; the roll-up leaves it.
      await insert("legacy", 400, "other", "i9", '{"n":9}', null).run();
      return turn();
    };
    const rolled = await run();
    expect(rolled).toEqual([
      {
        turn_created_at_ms: 100,
        updated_at_ms: 300,
        turn_metadata_json: '{"n":2}',
        runtime_key: "planner",
        runtime_key_at_ms: 200,
        inference_id: "i2",
        inference_id_at_ms: 300,
      },
    ]);
    const clear = () => env.DB.batch(["turn_snapshots", "turns"].map((t) => env.DB.prepare(`DELETE FROM ${t} WHERE conv_id = 'c'`)));
    for (const query of migrations.at(-1)!.queries) await env.DB.prepare(query).run();
    expect(await snapshotTriggers()).toEqual(["turn_snapshots_lower_turn_created", "turn_snapshots_roll_up_turn"]);
    await clear();
    expect(await run()).toEqual(rolled);

    // A Worker built before 0010 keeps running until the new one is deployed: it sends its own
    // roll-up statement (below, as that release wrote it) before each snapshot insert. With the
    // trigger also rolling up, the turn ends the same.
    await clear();
    const previousRollUp = (phase: string, at: number, runtime: string, inference: string, meta: string) =>
      env.DB.prepare(PREVIOUS_UPSERT_TURNS).bind(
        JSON.stringify([
          {
            conv_id: "c",
            session_id: "s",
            turn_id: "t",
            created_at_ms: at,
            metadata_json: meta,
            data_json: "{}",
            runtime_key: runtime,
            inference_id: inference,
            phase,
          },
        ]),
      );
    for (const [phase, at, runtime, inference, meta] of [
      ["draft", 200, "planner", "i1", '{"n":1}'],
      ["final", 300, "", "i2", '{"n":2}'],
      ["pre_inference", 100, "inventory", "", '{"n":0}'],
    ] as const) {
      await env.DB.batch([previousRollUp(phase, at, runtime, inference, meta), insert(phase, at, runtime, inference, meta, "")]);
    }
    expect(await turn()).toEqual(rolled);
  });

  it("runs the operator SQL of the playbook verbatim", async () => {
    await applyD1Migrations(env.DB, migrations.slice(0, 1));
    await insertLegacyRows();
    await applyD1Migrations(env.DB, migrations);
    const playbook = [
      "PRAGMA table_info(turns);",
      `SELECT name, sql FROM sqlite_master
WHERE type = 'index' AND tbl_name = 'turns'
  AND name IN ('turns_by_conv_runtime_updated', 'turns_by_conv_inference_updated');`,
      `SELECT turn_id, runtime_key, inference_id, updated_at_ms FROM turns
WHERE conv_id = 'your-conv-id' ORDER BY updated_at_ms ASC, turn_id ASC;`,
      `SELECT COUNT(*) AS missing_runtime_or_inference FROM turns
WHERE COALESCE(runtime_key, '') = '' OR COALESCE(inference_id, '') = '';`,
      `SELECT conv_id, session_id, turn_id, turn_metadata_json FROM turns
WHERE COALESCE(runtime_key, '') = '' OR COALESCE(inference_id, '') = '' LIMIT 50;`,
    ];
    const [info, indexes, history, missing, sample] = await env.DB.batch(playbook.map((sql) => env.DB.prepare(sql)));
    expect((info!.results as Array<{ name: string }>).map((c) => c.name)).toEqual(
      expect.arrayContaining([
        "conv_id",
        "session_id",
        "turn_id",
        "turn_created_at_ms",
        "turn_metadata_json",
        "turn_data_json",
        "runtime_key",
        "inference_id",
        "updated_at_ms",
      ]),
    );
    expect(indexes!.results).toHaveLength(2);
    expect(history!.results).toEqual([]);
    expect(missing!.results).toEqual([{ missing_runtime_or_inference: 3 }]);
    expect((sample!.results as Array<{ turn_id: string }>).map((r) => r.turn_id).sort()).toEqual(["t2", "t3", "t4"]);
    // The history query with a real conversation id, oldest first.
    const real = await env.DB.prepare(playbook[2]!.replace("your-conv-id", "conv-a")).all();
    expect(real.results).toEqual([
      { turn_id: "t1", runtime_key: "inventory", inference_id: "inf-1", updated_at_ms: 150 },
      { turn_id: "t2", runtime_key: "planner", inference_id: "", updated_at_ms: 250 },
      { turn_id: "t3", runtime_key: "", inference_id: "", updated_at_ms: 350 },
    ]);
  });
});
