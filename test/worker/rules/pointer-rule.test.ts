/**
 * One table of pointer-rule cases (test/fixtures/pointer-rule-cases.json) drives both forms of the
 * rule: the store's UPSERT_CONVERSATION_EVENTS, applied snapshot by snapshot through the Worker's
 * write route, and the backfill SQL's derivation of conversations from legacy turns, run by the real
 * migration chain on a database at the baseline layout.
 */
import { applyD1Migrations, reset } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import cases from "../../fixtures/pointer-rule-cases.json";
import { json, post } from "../harness";

interface CaseSnapshot {
  session_id: string;
  turn_id: string;
  phase?: string;
  at_ms: number;
  runtime_key: string;
}
interface Expected {
  current_runtime_key: string;
  current_runtime_at_ms: number;
  session_id: string;
}
interface Case {
  name: string;
  snapshots: CaseSnapshot[];
  expected: Expected;
  expected_backfill?: Expected;
}

const CASES = (cases.cases as Case[]).map((c, i) => ({ ...c, convId: `conv-pointer-${i}` }));

const SELECT_POINTER = "SELECT current_runtime_key, current_runtime_at_ms, session_id FROM conversations WHERE conv_id = ?1";

describe("pointer rule — the store, snapshot by snapshot", () => {
  it("has a table that covers ties and both directions of arrival", () => {
    expect(CASES.length).toBeGreaterThanOrEqual(10);
    expect(CASES.some((c) => c.expected_backfill)).toBe(true);
  });

  it.each(CASES)("$name", async (c) => {
    for (const s of c.snapshots) {
      const res = await post("/api/turns", {
        conv_id: c.convId,
        session_id: s.session_id,
        phase: s.phase ?? "final",
        created_at_ms: s.at_ms,
        runtime_key: s.runtime_key,
        turn: { id: s.turn_id, blocks: [{ kind: "user", payload: { text: `${s.turn_id} ${s.phase ?? "final"}` } }] },
      });
      expect(res.status, JSON.stringify(await json(res.clone()))).toBe(201);
    }
    expect(await env.DB.prepare(SELECT_POINTER).bind(c.convId).first()).toEqual(c.expected);
  });
});

describe("pointer rule — the backfill on the legacy turns the same snapshots left", () => {
  beforeAll(async () => {
    await reset();
    const migrations = env.TEST_MIGRATIONS;
    await applyD1Migrations(env.DB, migrations.slice(0, 1));
    const statements: D1PreparedStatement[] = [];
    for (const c of CASES) {
      // The pre-cutover store kept one row per turn: oldest and newest snapshot time, newest metadata.
      const turns = new Map<string, { session: string; created: number; updated: number; runtime: string }>();
      for (const s of c.snapshots) {
        const key = `${s.session_id}\u0000${s.turn_id}`;
        const turn = turns.get(key);
        if (!turn) turns.set(key, { session: s.session_id, created: s.at_ms, updated: s.at_ms, runtime: s.runtime_key });
        else {
          turn.created = Math.min(turn.created, s.at_ms);
          if (s.at_ms >= turn.updated) Object.assign(turn, { updated: s.at_ms, runtime: s.runtime_key });
        }
      }
      for (const [key, t] of turns) {
        const metadata = t.runtime === "" ? {} : { "geppetto.runtime@v1": { runtime_key: t.runtime } };
        statements.push(
          env.DB.prepare(
            `INSERT INTO turns (conv_id, session_id, turn_id, turn_created_at_ms, turn_metadata_json, turn_data_json, updated_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, '{}', ?6)`,
          ).bind(c.convId, t.session, key.split("\u0000")[1], t.created, JSON.stringify(metadata), t.updated),
        );
      }
    }
    await env.DB.batch(statements);
    await applyD1Migrations(env.DB, migrations);
  });

  it.each(CASES)("$name", async (c) => {
    expect(await env.DB.prepare(SELECT_POINTER).bind(c.convId).first()).toEqual(c.expected_backfill ?? c.expected);
  });
});
