/**
 * The turn roll-up (CONTRACT §3), a rule the database keeps in triggers (src/db/triggers.ts): the
 * migrated database holds exactly the bodies defined there, and one case table
 * (test/fixtures/turn-rollup-cases.json) drives the rule both through the triggers alone — snapshot
 * rows inserted as any writer inserts them — and through the Worker's write route. A Worker built
 * before 0010 (which sent the roll-up itself) ends each turn the same.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { TRIGGERS } from "../../../src/db/triggers";
import cases from "../../fixtures/turn-rollup-cases.json";
import { post, uid } from "../harness";

interface CaseSnapshot {
  phase: string;
  at_ms: number;
  runtime_key: string;
  inference_id: string;
  metadata: Record<string, unknown>;
}
interface Case {
  name: string;
  snapshots: CaseSnapshot[];
  expected: Record<string, unknown>;
}
const CASES = cases.cases as Case[];

const turnOf = (conv: string) =>
  env.DB.prepare(
    "SELECT turn_created_at_ms, updated_at_ms, runtime_key, inference_id, turn_metadata_json FROM turns WHERE conv_id = ?1 AND turn_id = 't'",
  )
    .bind(conv)
    .first();

/** A snapshot row as any writer inserts it (a path, so the roll-up applies); ids per millisecond. */
const insertSnapshot = (conv: string, s: CaseSnapshot, offset: number) =>
  env.DB.prepare(
    `INSERT INTO turn_snapshots (id, conv_id, session_id, turn_id, phase, created_at_ms, runtime_key, inference_id,
       turn_metadata_json, turn_data_json, turn_extra_json, tip_chain, block_count)
     VALUES (?1, ?2, 's', 't', ?3, ?4, ?5, ?6, ?7, '{}', '', '', 0)`,
  ).bind(offset, conv, s.phase, s.at_ms, s.runtime_key, s.inference_id, JSON.stringify(s.metadata));

/** SQLite keeps a trigger's text as written, but for IF NOT EXISTS. */
const asStored = (sql: string) => sql.replace(/^CREATE TRIGGER IF NOT EXISTS /, "CREATE TRIGGER ").replace(/;\s*$/, "");

describe("triggers: defined once, created exactly so", () => {
  it("the migrated database holds the bodies of src/db/triggers.ts and no other trigger", async () => {
    const { results } = await env.DB.prepare("SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'trigger' ORDER BY name").all<{
      name: string;
      tbl_name: string;
      sql: string;
    }>();
    expect(results.map((r) => r.name)).toEqual(Object.keys(TRIGGERS).sort());
    for (const row of results) {
      const trigger = TRIGGERS[row.name as keyof typeof TRIGGERS];
      expect(row.tbl_name).toBe(trigger.table);
      expect(asStored(row.sql)).toBe(asStored(trigger.sql));
    }
  });

  it("each is created by the migration it names", () => {
    for (const trigger of Object.values(TRIGGERS)) {
      const migration = env.TEST_MIGRATIONS.find((m) => m.name === trigger.migration);
      // The migration's statement as D1 runs it (the splitter drops comments and the final semicolon).
      const statement = (sql: string) => sql.trim().replace(/;$/, "");
      expect(migration?.queries.map(statement), trigger.migration).toContain(statement(trigger.sql));
    }
  });
});

describe("the roll-up case table", () => {
  it("covers late arrivals, ties and runtimes known only on older snapshots", () => {
    expect(CASES.length).toBeGreaterThanOrEqual(10);
  });

  it.each(CASES)("triggers alone: $name", async (c) => {
    const conv = uid("rollup-trigger");
    let offset = 0;
    for (const s of c.snapshots) await insertSnapshot(conv, s, ++offset).run();
    expect(await turnOf(conv)).toEqual(c.expected);
  });

  it.each(CASES)("through POST /api/turns: $name", async (c) => {
    const conv = uid("rollup-route");
    for (const s of c.snapshots) {
      const res = await post("/api/turns", {
        conv_id: conv,
        session_id: "s",
        phase: s.phase,
        created_at_ms: s.at_ms,
        ...(s.runtime_key ? { runtime_key: s.runtime_key } : {}),
        ...(s.inference_id ? { inference_id: s.inference_id } : {}),
        turn: { id: "t", blocks: [], metadata: s.metadata },
      });
      expect(res.status).toBe(201);
    }
    expect(await turnOf(conv)).toEqual(c.expected);
  });

  it("leaves snapshots without a path (the legacy backfill's) to the backfill", async () => {
    const conv = uid("rollup-legacy");
    await env.DB.prepare(
      `INSERT INTO turn_snapshots (id, conv_id, session_id, turn_id, phase, created_at_ms, runtime_key, tip_chain, block_refs_json)
       VALUES (1, ?1, 's', 't', 'final', 5, 'other', NULL, '[]')`,
    )
      .bind(conv)
      .run();
    expect(await turnOf(conv)).toBeNull();
  });
});

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

describe("rolling out 0010", () => {
  it.each(CASES)("a Worker built before it (sending its own roll-up before each insert) ends the turn the same: $name", async (c) => {
    const conv = uid("rollup-previous");
    let offset = 0;
    for (const s of c.snapshots) {
      const previous = env.DB.prepare(PREVIOUS_UPSERT_TURNS).bind(
        JSON.stringify([
          {
            conv_id: conv,
            session_id: "s",
            turn_id: "t",
            created_at_ms: s.at_ms,
            metadata_json: JSON.stringify(s.metadata),
            data_json: "{}",
            runtime_key: s.runtime_key,
            inference_id: s.inference_id,
          },
        ]),
      );
      await env.DB.batch([previous, insertSnapshot(conv, s, ++offset)]);
    }
    expect(await turnOf(conv)).toEqual(c.expected);
  });
});
