/**
 * One import: read the legacy files, plan the SQL, bring D1 to the current migration, run the plan,
 * summarize and verify. The CLI (scripts/import-legacy.ts) only parses flags and prints.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { buildImportPlan, migrationStatements } from "./import-plan";
import { summarizeImport, type ImportSummary } from "./import-summary";
import { detectLayout } from "./layout";
import type { LegacySource } from "./legacy-source";
import { normalizedStoreQueries, readNormalizedStore } from "./normalized-store";
import { readSnapshotStore, snapshotStoreQuery } from "./snapshot-store";
import { openSqliteFile } from "./sqlite-file";
import { readTimelineFile, type TimelineRead } from "./timeline";
import { applyMigrations, describeTarget, runPlan, type D1Target } from "./wrangler-d1";

/** The data-only migration step; the import runs it again after loading (it is idempotent). */
export const BACKFILL_FILE = fileURLToPath(new URL("../../drizzle/0002_backfill.sql", import.meta.url));

export interface ImportOptions {
  turns: string;
  timeline?: string;
  target: D1Target;
  dryRun?: boolean;
}

export async function readLegacySource(path: string): Promise<LegacySource> {
  const file = await openSqliteFile(path, "turns database");
  try {
    const layout = detectLayout(file.tables, path);
    let source: LegacySource;
    if (layout.id === "C") {
      source = await readSnapshotStore(layout, file.rows(snapshotStoreQuery(layout)));
    } else {
      const queries = normalizedStoreQueries(layout, file.tables);
      source = readNormalizedStore(layout, {
        turns: file.rows(queries.turns),
        blocks: file.rows(queries.blocks),
        membership: file.rows(queries.membership),
      });
    }
    source.otherTables = [...file.tables.keys()]
      .filter((table) => !layout.tables.includes(table))
      .map((table) => ({ table, rows: file.count(table) }));
    return source;
  } finally {
    file.close();
  }
}

async function readTimeline(path: string): Promise<TimelineRead & { otherTables: Array<{ table: string; rows: number }> }> {
  const file = await openSqliteFile(path, "timeline database");
  try {
    return readTimelineFile(file);
  } finally {
    file.close();
  }
}

export async function runImport(options: ImportOptions): Promise<ImportSummary> {
  const source = await readLegacySource(options.turns);
  const timeline = options.timeline ? await readTimeline(options.timeline) : null;
  const plan = buildImportPlan(source, timeline?.conversations ?? [], migrationStatements(readFileSync(BACKFILL_FILE, "utf8")));
  let results = null;
  if (!options.dryRun) {
    // Brings any D1 — empty, at an older migration, or current — to the schema the plan writes.
    applyMigrations(options.target);
    const run = runPlan(options.target, plan);
    results = { ...run, calls: run.calls + 1 };
  }
  return summarizeImport({
    turnsPath: options.turns,
    timelinePath: options.timeline ?? null,
    source,
    timeline,
    timelineOtherTables: timeline?.otherTables ?? [],
    convIds: plan.convIds,
    target: options.dryRun ? null : describeTarget(options.target),
    results,
  });
}
