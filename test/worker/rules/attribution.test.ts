/**
 * One table of extraction cases drives both implementations of the rule: the TypeScript used by
 * ingestion, and the backfill SQL run by the real migration on legacy rows.
 */
import { applyD1Migrations, reset } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import cases from "../../fixtures/attribution-cases.json";
import { GO_STORE_DDL } from "../../fixtures/go-store";
import { extractInferenceId, extractRuntimeKey } from "../../../src/turn/attribution";

const CASES = cases.cases;

describe("extraction rule — TypeScript", () => {
  it("has a table of at least 25 cases", () => {
    expect(CASES.length).toBeGreaterThanOrEqual(25);
  });

  it.each(CASES)("$name", (c) => {
    expect(extractRuntimeKey(c.metadata_json)).toBe(c.runtime_key);
    expect(extractInferenceId(c.metadata_json)).toBe(c.inference_id);
    // Ingestion sees the parsed object; it must agree with the text form.
    let parsed: unknown;
    try {
      parsed = JSON.parse(c.metadata_json);
    } catch {
      return;
    }
    expect(extractRuntimeKey(parsed)).toBe(c.runtime_key);
    expect(extractInferenceId(parsed)).toBe(c.inference_id);
  });
});

describe("extraction rule — backfill SQL on legacy rows", () => {
  const backfilled = new Map<string, { runtime_key: string; inference_id: string }>();

  beforeAll(async () => {
    // Start from an empty database the Go store created (its DDL, foreign keys included).
    await reset();
    const migrations = env.TEST_MIGRATIONS;
    for (const statement of GO_STORE_DDL) await env.DB.prepare(statement).run();
    await env.DB.batch(
      CASES.map((c, i) =>
        env.DB.prepare(
          `INSERT INTO turns (conv_id, session_id, turn_id, turn_created_at_ms, turn_metadata_json, turn_data_json, updated_at_ms)
           VALUES ('conv-cases', 'sess-cases', ?1, ?2, ?3, '{}', ?2)`,
        ).bind(`case-${i}`, 1000 + i, c.metadata_json),
      ),
    );
    await applyD1Migrations(env.DB, migrations);
    const { results } = await env.DB.prepare("SELECT turn_id, runtime_key, inference_id FROM turns").all<{
      turn_id: string;
      runtime_key: string;
      inference_id: string;
    }>();
    for (const row of results) backfilled.set(row.turn_id, row);
  });

  it.each(CASES.map((c, i) => ({ ...c, turnId: `case-${i}` })))("$name", (c) => {
    expect(backfilled.get(c.turnId)).toEqual({ turn_id: c.turnId, runtime_key: c.runtime_key, inference_id: c.inference_id });
  });
});
