/**
 * db:convert: an upgraded database whose legacy snapshots are not converted to block paths yet (the
 * legacy rows loaded and backfilled, as `wrangler d1 migrations apply` leaves an old database) is
 * converted by the script at once, reads the same before and after, and a second run converts nothing.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readNormalizedFile } from "../../../scripts/legacy/run-import";
import { withDatabase, type D1Target } from "../../../tools/d1";
import { applyMigrationsLocal } from "../../../tools/wrangler-dev";
import { npmRun, runMain } from "./cli-runs";
import { runBackfill } from "../../../tools/migrations";
import { loadLegacyRows } from "../../../scripts/legacy/legacy-rows";
import { listSnapshots } from "../../../src/store/snapshot-reads";
import { layoutA } from "./import.fixtures";

const dir = mkdtempSync(join(tmpdir(), "turnstore-db-convert-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const args = (persistTo: string) => ["--persist-to", persistTo, "--json"];

const state = (target: D1Target) =>
  withDatabase(target, async (db) => ({
    unconverted: (await db.prepare("SELECT count(*) AS n FROM turn_snapshots WHERE tip_chain IS NULL").first<{ n: number }>())!.n,
    snapshots: (await listSnapshots(db, { limit: 1000 })).records,
  }));

describe("db:convert", () => {
  it("converts every legacy snapshot now, prints how many, and changes nothing a reader sees", async () => {
    const target: D1Target = { remote: false, persistTo: join(dir, "upgraded") };
    applyMigrationsLocal(target.persistTo!); // a migrated database (a copy of one migrated before)
    const source = await readNormalizedFile(layoutA(dir));
    await withDatabase(target, async (db) => {
      await loadLegacyRows(db, source);
      await runBackfill(db);
    });
    const before = await state(target);
    expect(before.unconverted).toBe(6);

    const first = npmRun("db:convert", args(target.persistTo!));
    expect(first.code).toBe(0);
    expect(JSON.parse(first.stdout)).toEqual({ ok: true, target: `local D1 (--persist-to ${target.persistTo})`, converted: 6 });
    const after = await state(target);
    expect(after.unconverted).toBe(0);
    expect(after.snapshots).toEqual(before.snapshots);

    const second = await runMain("db:convert", args(target.persistTo!)); // again, in-process
    expect(JSON.parse(second.stdout)).toMatchObject({ ok: true, converted: 0 });
  });

  it("refuses a database that is not at the current migration: exit 1, saying what to run", async () => {
    const r = await runMain("db:convert", args(join(dir, "empty")));
    expect(r.code).toBe(1);
    expect(r.stderr).toEqual([
      expect.stringMatching(
        /^error: local D1 \(--persist-to .*empty\) is at no recorded migration, not [0-9]{4}_[a-z_]+\.sql: run `npx wrangler d1 migrations apply DB` first$/,
      ),
    ]);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, error: { code: "D1" } });
  });
});
