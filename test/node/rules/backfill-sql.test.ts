import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { generateBackfillSql, probedPaths } from "../../../src/db/backfill-sql";
import { RUNTIME_PROBE } from "../../../src/turn/attribution";

describe("backfill migration", () => {
  it("is exactly what the generator writes from the extraction rule's key lists", () => {
    const committed = readFileSync(new URL("../../../drizzle/0002_backfill.sql", import.meta.url), "utf8");
    expect(committed).toBe(generateBackfillSql());
  });

  it("splits into the same statements for wrangler (migrations apply, d1 execute) as for drizzle's breakpoints", async () => {
    const { unstable_splitSqlQuery } = await import("wrangler");
    const sql = generateBackfillSql();
    const statements = unstable_splitSqlQuery(sql);
    expect(statements).toHaveLength(sql.split("--> statement-breakpoint").length);
    expect(statements.at(-1)).toMatch(/^INSERT INTO conversations/);
  });

  it("probes paths in rule order, parents before children, at most two objects deep", () => {
    const paths = probedPaths(RUNTIME_PROBE);
    expect(paths[0]).toBe('$."geppetto.runtime@v1"');
    expect(paths[1]).toBe('$."geppetto.runtime@v1"."runtime_key"');
    expect(paths[2]).toBe('$."geppetto.runtime@v1"."runtime_key"."runtime_key"');
    expect(paths).toHaveLength(3 * (1 + 5 * (1 + 5)));
    expect(paths.every((p) => p.split('."').length - 1 <= 3)).toBe(true);
  });
});
