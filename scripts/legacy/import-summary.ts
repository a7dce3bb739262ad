/**
 * The import summary: rows read, written, skipped and not imported per table, what happened to each
 * conversation, and a verification of D1 after writing. Pure: built from what the import counted and
 * from D1's conversation totals before and after (scripts/legacy/legacy-rows.ts conversationTotals).
 */
import type { ConversationTotals } from "./legacy-rows";
import type { Finding } from "./legacy-source";

export interface TableSummary {
  table: string;
  /** Rows the source offers for this table. */
  read: number;
  /** New rows in D1 (null in a dry run). */
  written: number | null;
  /** Offered rows that were already in D1 or repeated in the source (null in a dry run). */
  skipped: number | null;
  /** Rows that cannot be imported; each is named in notImported. */
  rejected: number;
}

export interface ImportSummary {
  ok: boolean;
  dryRun: boolean;
  source: {
    turns: string;
    layout: string;
    layoutDescription: string;
    timeline: string | null;
    timelineRows: number;
    otherTables: Array<{ file: string; table: string; rows: number; reason: string }>;
  };
  target: string | null;
  tables: TableSummary[];
  /** Layouts A/B: legacy snapshots converted to block paths by this run (null in a dry run or for C/G). */
  convertedSnapshots: number | null;
  conversations: { touched: number; created: number; updated: number; unchanged: number } | null;
  /** Runtime coverage of the turns in the imported conversations, as D1 holds them after the import. */
  runtime: { turns: number; withRuntimeKey: number; withInferenceId: number } | null;
  verification: { ok: boolean; conversationsChecked: number; problems: string[] } | null;
  notImported: Finding[];
  warnings: Finding[];
  /** With several databases: the imported conversations each database holds (CONTRACT §6.4). */
  databases?: Record<string, number>;
}

export interface SummaryInput {
  turnsPath: string;
  timelinePath: string | null;
  layout: { id: string; description: string };
  timelineRows: number;
  otherTables: ImportSummary["source"]["otherTables"];
  target: string | null;
  tables: TableSummary[];
  convertedSnapshots: number | null;
  /** Every conversation the import touches (imported turns, timeline rows), sorted. */
  convIds: readonly string[];
  /** What the source gave per conversation (after rejections): D1 must hold at least this. */
  expected: { turns: ReadonlyMap<string, number>; snapshots: ReadonlyMap<string, number> };
  /** Timeline rows that could not be read (their conversation is not in convIds). */
  timelineRejected: number;
  /** null in a dry run. */
  before: ReadonlyMap<string, ConversationTotals> | null;
  after: ReadonlyMap<string, ConversationTotals> | null;
  notImported: Finding[];
  warnings: Finding[];
  databases?: Record<string, number>;
}

const rowValues = (t: ConversationTotals | undefined) => JSON.stringify(t?.row ?? null);

/** New rows D1 holds for these conversations after the import, from the conversation totals. */
export function grownBy(
  convIds: readonly string[],
  before: ReadonlyMap<string, ConversationTotals>,
  after: ReadonlyMap<string, ConversationTotals>,
  field: "turnsStored" | "snapshotsStored",
): number {
  return convIds.reduce((sum, id) => sum + Math.max(0, (after.get(id)?.[field] ?? 0) - (before.get(id)?.[field] ?? 0)), 0);
}

export function summarizeImport(input: SummaryInput): ImportSummary {
  const { before, after } = input;
  let conversations: ImportSummary["conversations"] = null;
  let runtime: ImportSummary["runtime"] = null;
  let verification: ImportSummary["verification"] = null;
  let notCreated = 0;
  if (before && after) {
    let created = 0;
    let updated = 0;
    let unchanged = 0;
    const problems: string[] = [];
    runtime = { turns: 0, withRuntimeKey: 0, withInferenceId: 0 };
    for (const convId of input.convIds) {
      const prior = before.get(convId);
      const state = after.get(convId);
      const expectTurns = input.expected.turns.get(convId) ?? 0;
      const expectSnapshots = input.expected.snapshots.get(convId) ?? 0;
      if (!state?.row) {
        // A timeline row that could not create its conversation is named in notImported already.
        if (expectTurns > 0 || expectSnapshots > 0) problems.push(`${convId}: not in D1 after the import`);
        else notCreated += 1;
        continue;
      }
      runtime.turns += state.turnsStored;
      runtime.withRuntimeKey += state.turnsWithRuntimeKey;
      runtime.withInferenceId += state.turnsWithInferenceId;
      if (!prior?.row) created += 1;
      else if (rowValues(prior) !== rowValues(state)) updated += 1;
      else unchanged += 1;
      if (state.turnsStored < expectTurns) problems.push(`${convId}: D1 has ${state.turnsStored} turns, the source gave ${expectTurns}`);
      if (state.snapshotsStored < expectSnapshots)
        problems.push(`${convId}: D1 has ${state.snapshotsStored} snapshots, the source gave ${expectSnapshots}`);
      if (prior && (state.turnsStored < prior.turnsStored || state.snapshotsStored < prior.snapshotsStored)) {
        problems.push(
          `${convId}: D1 lost rows during the import (turns ${prior.turnsStored} → ${state.turnsStored}, snapshots ${prior.snapshotsStored} → ${state.snapshotsStored})`,
        );
      }
      if (state.row.turnCount !== state.turnsStored || state.row.snapshotCount !== state.snapshotsStored) {
        problems.push(
          `${convId}: conversation counts (${state.row.turnCount} turns, ${state.row.snapshotCount} snapshots) disagree with D1 (${state.turnsStored}, ${state.snapshotsStored})`,
        );
      }
    }
    conversations = { touched: input.convIds.length, created, updated, unchanged };
    verification = { ok: problems.length === 0, conversationsChecked: created + updated + unchanged, problems };
  }
  const tables = [
    ...input.tables,
    {
      table: "conversations",
      read: input.convIds.length + input.timelineRejected,
      written: conversations ? conversations.created + conversations.updated : null,
      skipped: conversations ? conversations.unchanged : null,
      rejected: input.timelineRejected + notCreated,
    },
  ];
  return {
    ok: verification ? verification.ok : true,
    dryRun: before === null,
    source: {
      turns: input.turnsPath,
      layout: input.layout.id,
      layoutDescription: input.layout.description,
      timeline: input.timelinePath,
      timelineRows: input.timelineRows,
      otherTables: input.otherTables,
    },
    target: input.target,
    tables,
    convertedSnapshots: input.convertedSnapshots,
    conversations,
    runtime,
    verification,
    notImported: input.notImported,
    warnings: input.warnings,
    ...(input.databases ? { databases: input.databases } : {}),
  };
}

/** 0 all imported; 1 verification failed; 3 imported, but some rows could not be (they are listed). */
export function exitCodeFor(summary: ImportSummary): number {
  if (!summary.ok) return 1;
  return summary.notImported.length > 0 ? 3 : 0;
}

function formatKey(key: Record<string, string | number>): string {
  const parts = Object.entries(key).map(([k, v]) => `${k}=${typeof v === "string" ? JSON.stringify(v) : v}`);
  return parts.length > 0 ? parts.join(" ") : "(whole table)";
}

export function formatSummary(s: ImportSummary): string {
  const lines: string[] = [];
  lines.push(`${s.dryRun ? "Dry run — nothing was sent to D1" : "Imported"}: ${s.source.turns} (layout ${s.source.layoutDescription})`);
  if (s.source.timeline) lines.push(`timeline: ${s.source.timeline} (${s.source.timelineRows} timeline_conversations rows)`);
  if (s.target) lines.push(`target: ${s.target}`);
  lines.push("");
  const pad = (text: string | number, width: number) => String(text).padStart(width);
  lines.push(`${"table".padEnd(24)}${pad("read", 8)}${pad("written", 9)}${pad("skipped", 9)}${pad("rejected", 10)}`);
  for (const t of s.tables) {
    lines.push(`${t.table.padEnd(24)}${pad(t.read, 8)}${pad(t.written ?? "-", 9)}${pad(t.skipped ?? "-", 9)}${pad(t.rejected, 10)}`);
  }
  lines.push("(skipped = already in D1 or repeated in the source; written = new rows, for conversations created or updated)");
  if (s.convertedSnapshots !== null) lines.push(`legacy snapshots converted to block paths: ${s.convertedSnapshots}`);
  if (s.conversations) {
    const c = s.conversations;
    lines.push(`conversations: ${c.touched} touched — ${c.created} created, ${c.updated} updated, ${c.unchanged} unchanged`);
  }
  if (s.databases)
    lines.push(
      `conversations by database: ${Object.entries(s.databases)
        .map(([binding, n]) => `${binding} ${n}`)
        .join(", ")}`,
    );
  if (s.runtime) {
    const r = s.runtime;
    lines.push(
      `runtime: of ${r.turns} turns in these conversations, ${r.withRuntimeKey} have runtime_key and ${r.withInferenceId} have inference_id ('' elsewhere)`,
    );
  }
  if (s.verification) {
    lines.push(
      s.verification.ok
        ? `verified: the ${s.verification.conversationsChecked} conversations in D1 hold at least the source's turns and snapshots, and their counts match D1`
        : `VERIFICATION FAILED:\n${s.verification.problems.map((p) => `  - ${p}`).join("\n")}`,
    );
  }
  if (s.source.otherTables.length > 0) {
    lines.push("", "tables not imported:");
    for (const t of s.source.otherTables) lines.push(`  ${t.file}: ${t.table} (${t.rows} rows) — ${t.reason}`);
  }
  if (s.notImported.length > 0) {
    lines.push("", `rows not imported (${s.notImported.length}):`);
    for (const f of s.notImported) lines.push(`  ${f.table} ${formatKey(f.key)}: ${f.reason}`);
  }
  if (s.warnings.length > 0) {
    lines.push("", `warnings (${s.warnings.length}; imported as stored):`);
    for (const f of s.warnings) lines.push(`  ${f.table} ${formatKey(f.key)}: ${f.reason}`);
  }
  return lines.join("\n");
}
