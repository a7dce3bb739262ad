/**
 * A database the Go implementation wrote (its DDL verbatim, foreign keys included, rows saved the way
 * its store saves them: test/fixtures/go-store.ts) upgraded by the real drizzle/ migrations — from
 * scratch, and from where an operator whose upgrade stopped at 0008 stands (0000–0007 applied) — and
 * then every path that changes rows run on it. D1 enforces the foreign keys throughout.
 */
import { applyD1Migrations, reset } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { EXPECTED_MIGRATION } from "../../../src/store/health";
import { runMaintenance } from "../../../src/scheduled";
import { GO_ERA_COUNTS, GO_ERA_RUNTIME_TRUTH, goEraDatabase, goStoreSave, type Statement } from "../../fixtures/go-store";
import { call, get, json, post } from "../harness";

const migrations = env.TEST_MIGRATIONS;

async function run(statements: readonly Statement[]): Promise<void> {
  // The Go store saves a snapshot in one transaction; a batch is one here too.
  await env.DB.batch(statements.map((s) => env.DB.prepare(s.sql).bind(...s.params)));
}

async function buildGoEraDatabase(): Promise<void> {
  await reset();
  for (const statement of await goEraDatabase()) await run([statement]);
}

/** Every column of every row of the Go store's own tables, in a stable order. */
async function goRows(): Promise<string> {
  const queries = [
    "SELECT conv_id, session_id, turn_id, turn_created_at_ms, turn_metadata_json, turn_data_json, updated_at_ms FROM turns ORDER BY 1, 2, 3",
    "SELECT block_id, content_hash, hash_algorithm, kind, role, payload_json, block_metadata_json, first_seen_at_ms FROM blocks ORDER BY 1, 2",
    "SELECT conv_id, session_id, turn_id, phase, snapshot_created_at_ms, ordinal, block_id, content_hash FROM turn_block_membership ORDER BY 1, 2, 3, 4, 5, 6",
  ];
  return JSON.stringify((await env.DB.batch(queries.map((q) => env.DB.prepare(q)))).map((r) => r.results));
}

async function count(table: string): Promise<number> {
  return (await env.DB.prepare(`SELECT count(*) AS n FROM ${table}`).first<{ n: number }>())!.n;
}

/** PRAGMA foreign_key_check (every violation) and quick_check (D1 refuses integrity_check). */
async function integrity(): Promise<{ violations: unknown[]; quickCheck: unknown[] }> {
  const violations = (await env.DB.prepare("PRAGMA foreign_key_check").all()).results;
  const quickCheck = (await env.DB.prepare("PRAGMA quick_check").all()).results.map((r) => Object.values(r)[0]);
  return { violations, quickCheck };
}

const CLEAN = { violations: [], quickCheck: ["ok"] };

describe("a Go-era database (the Go store's DDL, foreign keys on)", () => {
  beforeEach(buildGoEraDatabase);

  it("is what the Go store leaves: shared blocks, a turn deleted by cascade, foreign keys enforced", async () => {
    expect({
      turns: await count("turns"),
      blocks: await count("blocks"),
      turn_block_membership: await count("turn_block_membership"),
    }).toEqual(GO_ERA_COUNTS);
    expect(await integrity()).toEqual(CLEAN);
    // D1 enforces the Go store's foreign keys: a membership row needs its turn and its block.
    await expect(
      env.DB.prepare(
        "INSERT INTO turn_block_membership VALUES ('go-conv-1', 'go-sess-1', 't1', 'final', 1, 9, 'no-such-block', 'h')",
      ).run(),
    ).rejects.toThrow(/FOREIGN KEY constraint failed/);
  });

  it("upgrades with the migrations: nothing lost, runtime truth backfilled, foreign keys valid, reads served", async () => {
    const before = await goRows();
    await applyD1Migrations(env.DB, migrations);
    expect(await integrity()).toEqual(CLEAN);
    expect(await goRows()).toBe(before);
    const truth = await env.DB.prepare("SELECT conv_id, turn_id, runtime_key, inference_id FROM turns ORDER BY conv_id, turn_id").all();
    expect(truth.results).toEqual(GO_ERA_RUNTIME_TRUTH);
    expect(await count("turn_snapshots")).toBe(5);

    const health = await json(await call("GET", "/healthz", { token: null }));
    expect(health).toMatchObject({ ok: true, schema: EXPECTED_MIGRATION });
    const t2 = await json(await get("/api/debug/turn/go-conv-1/go-sess-1/t2"));
    expect(
      t2.items.map((i: { phase: string; runtime_key: string; inference_id: string }) => [i.phase, i.runtime_key, i.inference_id]),
    ).toEqual([["final", "planner", "inf-go-2"]]);
    expect(t2.items[0]!.parsed.blocks.map((b: { id: string }) => b.id)).toEqual(["blk-sys", "blk-u1", "blk-a1", "blk-u2", "blk-a2"]);
    const conversation = await json(await get("/api/debug/conversations/go-conv-1"));
    expect(conversation).toMatchObject({ resolved_runtime_key: "planner", turn_count: 2, snapshot_count: 3 });
  });

  it("upgrades from where a stopped upgrade left it (0000–0007 applied): re-running the migrations completes", async () => {
    const before = await goRows();
    const stoppedAt = migrations.findIndex((m) => m.name === "0008_snapshot_keys.sql");
    await applyD1Migrations(env.DB, migrations.slice(0, stoppedAt));
    await applyD1Migrations(env.DB, migrations);
    expect(await integrity()).toEqual(CLEAN);
    expect(await goRows()).toBe(before);
    const applied = await env.DB.prepare("SELECT name FROM d1_migrations ORDER BY id").all<{ name: string }>();
    expect(applied.results.map((r) => r.name)).toEqual(migrations.map((m) => m.name));
  });

  describe("after the upgrade, every path that changes rows", () => {
    beforeEach(async () => {
      await applyD1Migrations(env.DB, migrations);
    });

    it("ingests new snapshots into an old conversation, repeating the Go-written blocks", async () => {
      const t2 = await json(await get("/api/debug/turn/go-conv-1/go-sess-1/t2"));
      const blocks = [
        ...t2.items[0]!.parsed.blocks,
        { id: "blk-u6", kind: "user", role: "user", payload: { text: "And Saturday?" }, metadata: {} },
      ];
      const res = await post("/api/turns", {
        conv_id: "go-conv-1",
        session_id: "go-sess-1",
        phase: "final",
        runtime_key: "planner",
        created_at_ms: Date.UTC(2026, 10, 3),
        turn: { id: "t6", blocks },
      });
      expect(res.status).toBe(201);
      const t6 = await json(await get("/api/debug/turn/go-conv-1/go-sess-1/t6"));
      expect(t6.items[0]!.parsed.blocks).toEqual(blocks);
      expect(await integrity()).toEqual(CLEAN);
    });

    it("converts the legacy snapshots to block paths (the scheduled run) and reads the same", async () => {
      const reads = JSON.stringify(await json(await get("/api/debug/turns?conv_id=go-conv-2")));
      const report = await runMaintenance(env);
      expect(report).toMatchObject({ converted_snapshots: 5, conversion_remaining: false });
      expect(JSON.stringify(await json(await get("/api/debug/turns?conv_id=go-conv-2")))).toBe(reads);
      expect(await integrity()).toEqual(CLEAN);
    });

    it("deletes a conversation: its turns (membership by cascade) and its own blocks go; blocks another conversation holds stay", async () => {
      const res = await call("DELETE", "/api/conversations/go-conv-1", { token: env.ADMIN_TOKEN });
      expect(res.status).toBe(200);
      expect(await integrity()).toEqual(CLEAN);
      const left = await env.DB.prepare("SELECT DISTINCT conv_id FROM turn_block_membership ORDER BY 1").all<{ conv_id: string }>();
      expect(left.results.map((r) => r.conv_id)).toEqual(["go-conv-2", "go-conv-3"]);
      const blockIds = async () =>
        (await env.DB.prepare("SELECT block_id FROM blocks ORDER BY 1").all<{ block_id: string }>()).results.map((r) => r.block_id);
      // go-conv-1's own blocks are counted 0 now, and collected once no legacy snapshot is left to
      // convert (the scheduled run converts the others, then collects). blk-sys stays: go-conv-2 has
      // it; so does blk-u4 — t4's, deleted by cascade in Go, counted by nobody.
      expect(await runMaintenance(env)).toMatchObject({ conversion_remaining: false, collected_blocks: 4 });
      expect(await blockIds()).toEqual(["blk-a3", "blk-sys", "blk-tc3", "blk-tr3", "blk-u3", "blk-u4", "blk-u5"]);
      expect(await integrity()).toEqual(CLEAN);
      expect((await get("/api/debug/conversations/go-conv-1")).status).toBe(404);
      expect((await json(await get("/api/debug/turn/go-conv-2/go-sess-2/t3"))).items[0]!.parsed.blocks[0]!.id).toBe("blk-sys");
    });

    it("retention deletes idle Go-era conversations in its scheduled run", async () => {
      const report = await runMaintenance({ ...env, RETENTION_DAYS: "1" }, Date.UTC(2026, 10, 20));
      expect(report.deleted_conversations.sort()).toEqual(["go-conv-1", "go-conv-2", "go-conv-3"]);
      expect(await integrity()).toEqual(CLEAN);
      expect({
        turns: await count("turns"),
        turn_block_membership: await count("turn_block_membership"),
        turn_snapshots: await count("turn_snapshots"),
      }).toEqual({
        turns: 0,
        turn_block_membership: 0,
        turn_snapshots: 0,
      });
    });

    it("keeps taking Go-style writes of legacy rows (the import tool's load) under the foreign keys", async () => {
      const statements = await goStoreSave({
        convId: "go-conv-9",
        sessionId: "go-sess-9",
        turnId: "t9",
        phase: "final",
        createdAtMs: Date.UTC(2026, 10, 4),
        blocks: [{ id: "blk-sys", kind: "system", role: "system", payload: { text: "You are the warehouse assistant." } }],
      });
      await run(statements);
      expect(await integrity()).toEqual(CLEAN);
    });
  });
});
