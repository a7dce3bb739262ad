/**
 * One table of cases drives both forms of the model_mismatch rule: the TypeScript the exports use,
 * and the SQL expression the debug API computes its items and its model_mismatch filter with (run
 * here in the real miniflare D1).
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import cases from "../../fixtures/model-mismatch-cases.json";
import { modelMismatch, modelMismatchSql } from "../../../src/turn/gen-ai-models";

const CASES = cases.cases;

describe("model_mismatch rule", () => {
  it("has a table of at least 15 cases, both answers among them", () => {
    expect(CASES.length).toBeGreaterThanOrEqual(15);
    expect(new Set(CASES.map((c) => c.model_mismatch))).toEqual(new Set([true, false]));
  });

  it.each(CASES)("TypeScript: $name", (c) => {
    let metadata: unknown;
    try {
      metadata = JSON.parse(c.metadata_json);
    } catch {
      metadata = c.metadata_json;
    }
    expect(modelMismatch(metadata)).toBe(c.model_mismatch);
  });

  it.each(CASES)("SQL: $name", async (c) => {
    const row = await env.DB.prepare(`SELECT ${modelMismatchSql("m")} AS v FROM (SELECT ?1 AS m)`)
      .bind(c.metadata_json)
      .first<{ v: number }>();
    expect(row!.v).toBe(c.model_mismatch ? 1 : 0);
  });
});
