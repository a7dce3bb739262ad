/**
 * The import summary: rows read, written, skipped and not imported per D1 table, what happened to
 * each conversation, and a verification of D1 after writing. Pure: built from the source and the
 * before/after query results.
 */
import { IMPORT_TABLES, type Finding, type ImportTable, type LegacySource } from "./legacy-source";
import type { TimelineRead } from "./timeline";
import { TIMELINE_TABLE } from "./timeline";
import type { ResultRow } from "./wrangler-d1";

export interface TableSummary {
  table: ImportTable;
  /** Rows the source offers for this table. */
  read: number;
  /** New rows in D1 (null in a dry run). */
  written: number | null;
  /** Offered rows that were already in D1 or repeated in the source. */
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
  conversations: { touched: number; created: number; updated: number; unchanged: number } | null;
  /** Runtime coverage of the turns in the imported conversations, as D1 holds them after the import. */
  runtime: { turns: number; withRuntimeKey: number; withInferenceId: number } | null;
  verification: { ok: boolean; conversationsChecked: number; problems: string[] } | null;
  notImported: Finding[];
  warnings: Finding[];
  wranglerCalls: number;
}

export interface SummaryInput {
  turnsPath: string;
  timelinePath: string | null;
  source: LegacySource;
  timeline: TimelineRead | null;
  timelineOtherTables: Array<{ table: string; rows: number }>;
  convIds: readonly string[];
  target: string | null;
  results: { before: ResultRow[][]; after: ResultRow[][]; calls: number } | null;
}

interface ConversationState {
  present: boolean;
  values: string;
  turnsInD1: number;
  snapshotsInD1: number;
  turnCount: number;
  snapshotCount: number;
  withRuntime: number;
  withInference: number;
}

function conversationStates(results: ResultRow[][]): Map<string, ConversationState> {
  const out = new Map<string, ConversationState>();
  for (const rows of results.slice(1)) {
    for (const row of rows) {
      out.set(String(row.conv_id), {
        present: Number(row.present) === 1,
        values: JSON.stringify([
          row.session_id, row.current_runtime_key, row.current_runtime_at_ms, row.created_at_ms,
          row.last_activity_ms, row.turn_count, row.snapshot_count,
        ]),
        turnsInD1: Number(row.turns_in_d1),
        snapshotsInD1: Number(row.snapshots_in_d1),
        turnCount: Number(row.turn_count ?? 0),
        snapshotCount: Number(row.snapshot_count ?? 0),
        withRuntime: Number(row.turns_with_runtime),
        withInference: Number(row.turns_with_inference),
      });
    }
  }
  return out;
}

export function summarizeImport(input: SummaryInput): ImportSummary {
  const { source, timeline, results } = input;
  const notImported = [...source.notImported, ...(timeline?.notImported ?? [])];
  const otherTables = [
    ...source.otherTables.map((t) => ({ file: input.turnsPath, ...t, reason: "not part of the legacy turn layout" })),
    ...input.timelineOtherTables.map((t) => ({ file: input.timelinePath ?? "", ...t, reason: "timeline projections, not turn data" })),
  ];
  const before = results?.before[0]?.[0] ?? {};
  const after = results?.after[0]?.[0] ?? {};
  const tables: TableSummary[] = IMPORT_TABLES.filter((t) => t !== "conversations").map((table) => {
    const read = source.offered[table];
    const rejected = source.rejected[table];
    const written = results ? Number(after[table]) - Number(before[table]) : null;
    return { table, read, written, skipped: written === null ? null : read - rejected - written, rejected };
  });

  let conversations: ImportSummary["conversations"] = null;
  let runtime: ImportSummary["runtime"] = null;
  let verification: ImportSummary["verification"] = null;
  const timelineRejected = timeline?.notImported.length ?? 0;
  let notCreated = 0;
  if (results) {
    const was = conversationStates(results.before);
    const now = conversationStates(results.after);
    const problems: string[] = [];
    let created = 0;
    let updated = 0;
    let unchanged = 0;
    runtime = { turns: 0, withRuntimeKey: 0, withInferenceId: 0 };
    for (const convId of input.convIds) {
      const prior = was.get(convId);
      const state = now.get(convId);
      if (!state) {
        problems.push(`conversation ${JSON.stringify(convId)} is missing from the verification results`);
        continue;
      }
      runtime.turns += state.turnsInD1;
      runtime.withRuntimeKey += state.withRuntime;
      runtime.withInferenceId += state.withInference;
      if (!state.present) {
        notCreated += 1;
        notImported.push({
          table: TIMELINE_TABLE,
          key: { conv_id: convId },
          reason: "the timeline row has no session_id and neither the source nor D1 has turns for it, so there is no session to create the conversation with",
        });
        continue;
      }
      if (!prior?.present) created += 1;
      else if (prior.values !== state.values) updated += 1;
      else unchanged += 1;
      const expectTurns = source.turnsByConv.get(convId) ?? 0;
      const expectSnapshots = source.snapshotsByConv.get(convId) ?? 0;
      if (state.turnsInD1 < expectTurns) problems.push(`${convId}: D1 has ${state.turnsInD1} turns, the source gave ${expectTurns}`);
      if (state.snapshotsInD1 < expectSnapshots) {
        problems.push(`${convId}: D1 has ${state.snapshotsInD1} snapshots, the source gave ${expectSnapshots}`);
      }
      if (state.turnCount !== state.turnsInD1 || state.snapshotCount !== state.snapshotsInD1) {
        problems.push(
          `${convId}: conversation counts (${state.turnCount} turns, ${state.snapshotCount} snapshots) disagree with D1 (${state.turnsInD1}, ${state.snapshotsInD1})`,
        );
      }
    }
    for (const table of IMPORT_TABLES) {
      if (Number(after[table]) < Number(before[table])) problems.push(`${table} lost rows during the import (${before[table]} → ${after[table]})`);
    }
    conversations = { touched: input.convIds.length, created, updated, unchanged };
    verification = { ok: problems.length === 0, conversationsChecked: created + updated + unchanged, problems };
  }
  tables.push({
    table: "conversations",
    read: input.convIds.length + timelineRejected,
    written: conversations ? conversations.created + conversations.updated : null,
    skipped: conversations ? conversations.unchanged : null,
    rejected: timelineRejected + notCreated,
  });

  return {
    ok: verification ? verification.ok : true,
    dryRun: results === null,
    source: {
      turns: input.turnsPath,
      layout: source.layout.id,
      layoutDescription: source.layout.description,
      timeline: input.timelinePath,
      timelineRows: timeline?.read ?? 0,
      otherTables,
    },
    target: input.target,
    tables,
    conversations,
    runtime,
    verification,
    notImported,
    warnings: source.warnings,
    wranglerCalls: results?.calls ?? 0,
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
  if (s.conversations) {
    const c = s.conversations;
    lines.push(`conversations: ${c.touched} touched — ${c.created} created, ${c.updated} updated, ${c.unchanged} unchanged`);
  }
  if (s.runtime) {
    const r = s.runtime;
    lines.push(`runtime: of ${r.turns} turns in these conversations, ${r.withRuntimeKey} have runtime_key and ${r.withInferenceId} have inference_id ('' elsewhere)`);
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
