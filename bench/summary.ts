/**
 * The headline figures of a run, as one flat JSON object (`--json` prints it on the last line).
 * null where the run did not measure a figure (quick mode skips the million-row databases).
 */
import type { GrowingVariantResult } from "./growing";
import type { BenchResults } from "./index";
import type { ReadQueryCost } from "./read-cost";
import { round, sum } from "./stats";

/** The Go implementation's benchmark: 200 snapshots of a 2000-snapshot conversation (native SQLite, 8 cores). */
export const GO_ANCHOR_MS = 10.8;

export const TARGETS = {
  /** Issue 17 (issue 7 asked for 0.7). */
  writeRatio: 0.8,
  /** Issue 17: D1's rows_written beyond new blocks, for a later-phase snapshot with about one new block. */
  extraRowsPerSnapshot: 8,
  /** Issue 7: table rows beyond new blocks. */
  extraTableRowsPerSnapshot: 4,
  readLatencyRatio: 1.5,
  statementSeconds: 30,
  /** Issue 17: the page's serialization (YAML + JSON) against its SQL time, and the whole page (a moonshot). */
  serializeSqlRatio: 3,
  anchorPageMs: 33,
  /** Issue 13: at the longest T against the shortest. */
  growingBytesRatio: 1.5,
  growingDeltaRatio: 1.5,
  growingSummaryPageRatio: 1.5,
} as const;

type ByKey = Record<string, number> | null;

export interface Summary {
  mode: "full" | "quick";
  write_ratio: number | null;
  write_ratio_empty_body: number | null;
  /** write_ratio for full posts that never reach a tip the isolate remembers (src/store/known-paths.ts). */
  write_ratio_without_tip_memory: number | null;
  snapshots_per_second: number | null;
  baseline_per_second: number | null;
  baseline_empty_body_per_second: number | null;
  /** CPU of the dev server's workerd processes per request in the throughput run (from /proc), ms. */
  write_workerd_cpu_ms: number | null;
  baseline_workerd_cpu_ms: number | null;
  write_failures: number | null;
  /** Later-phase snapshot (final: 1 new block): meta.rows_written − new blocks. */
  extra_rows_per_snapshot: number | null;
  extra_table_rows_per_snapshot: number | null;
  rows_written_per_snapshot: number | null;
  /** The stage profile of a write (one throughput-stream conversation, medians, ms). */
  write_parse_ms: number | null;
  write_validate_ms: number | null;
  write_read_ms: number | null;
  write_hash_ms: number | null;
  write_chains_ms: number | null;
  /** The write's one D1 round trip, wall time through wrangler's proxy (median). */
  write_d1_write_ms: number | null;
  write_baseline_d1_ms: number | null;
  /** readSnapshot + block hashes + chains (what prepareSnapshot did). */
  write_prepare_ms: number | null;
  write_sha256_ms: number | null;
  /** D1's own time of the write's one batch (meta.duration). */
  write_d1_ms: number | null;
  /** A new snapshot posted in full (the headline), and as a delta: one batch each. */
  statements_per_write: number | null;
  round_trips_per_write: number | null;
  statements_per_delta_write: number | null;
  round_trips_per_delta_write: number | null;
  /** The fallback, measured on a replay: the refused batch + the read batch (wall time through the proxy, both). */
  replay_round_trips: number | null;
  replay_d1_ms: number | null;
  /** meta.rows_read of the last 10 snapshots of the rows-per-write conversation, posted in full and as deltas. */
  rows_read_per_write_full: number | null;
  rows_read_per_write_delta: number | null;
  rows_after_conversation: number | null;
  rows_after_conversation_go_layout: number | null;
  queries_per_debug_read: number | null;
  round_trips_per_debug_read: number | null;
  rows_read_per_debug_read: ByKey;
  rows_read_per_turn_detail: ByKey;
  debug_read_latency_ms: ByKey;
  turn_detail_latency_ms: ByKey;
  read_latency_ratio: number | null;
  turn_detail_latency_ratio: number | null;
  go_anchor_ms: number;
  anchor_latency_ms: number | null;
  anchor_sql_ms: number | null;
  /** The page's serialization as the route does it: YAML per snapshot, then the JSON envelope. */
  anchor_yaml_ms: number | null;
  anchor_yaml_only_ms: number | null;
  /** Rows → turns inside listSnapshots (JSON.parse of stored texts, path walks). */
  anchor_decode_ms: number | null;
  anchor_yaml_sql_ratio: number | null;
  growing_turns: number[] | null;
  /** Short-text variant unless named tool4k; keyed by T. */
  growing_bytes_per_snapshot: ByKey;
  growing_bytes_ratio: number | null;
  growing_tool4k_bytes_per_snapshot: ByKey;
  growing_tool4k_bytes_ratio: number | null;
  growing_full_request_bytes_per_snapshot: ByKey;
  growing_delta_request_bytes_per_snapshot: ByKey;
  growing_delta_ratio: number | null;
  growing_tool4k_delta_request_bytes_per_snapshot: ByKey;
  growing_tool4k_delta_ratio: number | null;
  growing_rows_written_per_snapshot: ByKey;
  growing_summary_page_bytes: ByKey;
  growing_summary_page_ms: ByKey;
  growing_summary_page_ratio: number | null;
  deletion_turns: number | null;
  deletion_complete: boolean | null;
  deletion_statements: number | null;
  deletion_batches: number | null;
  deletion_round_trips: number | null;
  deletion_rows_written: number | null;
  deletion_rows_deleted: number | null;
  deletion_ms: number | null;
  deletion_rows_left: number | null;
  backfill_turns: number | null;
  backfill_seconds: number | null;
  backfill_1m_seconds: number | null;
  backfill_max_statement_seconds: number | null;
  backfill_chunk_rows: number | null;
  bundle_raw_kb: number | null;
  bundle_gzip_kb: number | null;
  startup_cpu_ms: number | null;
  dev_cold_start_ms: number | null;
  load_average_start: number;
  load_average_end: number;
  elapsed_seconds: number;
  errors: number;
}

const bySize = <T>(rows: T[] | undefined, key: (r: T) => number, value: (r: T) => number | undefined, digits = 2): ByKey =>
  rows && rows.length > 0 ? Object.fromEntries(rows.map((r) => [String(key(r)), round(value(r) ?? Number.NaN, digits)!])) : null;

/** The anchor page's cost row (limit 200 on the target conversation) of the smallest database. */
export function anchorCost(r: BenchResults): ReadQueryCost | undefined {
  return r.reads?.queries[0]?.costs.find((c) => c.limit === 200 && c.label.startsWith("conversation"));
}

/** Ratio of a figure at the longest T to the shortest. */
export function growthRatio(
  variant: GrowingVariantResult | undefined,
  value: (p: GrowingVariantResult["points"][number]) => number | undefined,
): number | null {
  if (!variant || variant.points.length < 2) return null;
  const first = value(variant.points[0]!);
  const last = value(variant.points[variant.points.length - 1]!);
  return first && last !== undefined ? last / first : null;
}

export const bytesPerSnapshot = (p: GrowingVariantResult["points"][number]) => p.dataBytes / p.snapshots;

export function summarize(r: BenchResults): Summary {
  const t = r.throughput;
  const w = r.writeCost;
  const p = w?.streamProfile;
  const reads = r.reads;
  const latency = reads?.latency ?? [];
  const smallest = latency[0];
  const largest = latency.length > 1 ? latency[latency.length - 1] : undefined;
  const page = (costs: ReadQueryCost[]) => costs.find((c) => c.limit === 200 && c.label.startsWith("conversation"));
  const detail = (costs: ReadQueryCost[]) => costs.find((c) => c.label.startsWith("turn detail"));
  const anchor = anchorCost(r);
  const short = r.growing?.variants.find((v) => v.key === "short");
  const tool4k = r.growing?.variants.find((v) => v.key === "tool4k");
  const d = r.deletion;
  const b = r.backfill;
  return {
    mode: r.config.mode,
    write_ratio: round(t?.ratioSameBody, 3),
    write_ratio_empty_body: round(t?.ratioEmptyBody, 3),
    write_ratio_without_tip_memory: round(t?.ratioSameBodyNoMemory, 3),
    snapshots_per_second: round(t?.medians.snapshot, 1),
    baseline_per_second: round(t?.medians.baseline_same_body, 1),
    baseline_empty_body_per_second: round(t?.medians.baseline_empty_body, 1),
    write_workerd_cpu_ms: round(t?.cpuMsPerRequest?.snapshot.workerd, 3),
    baseline_workerd_cpu_ms: round(t?.cpuMsPerRequest?.baseline_same_body.workerd, 3),
    write_failures: t ? t.failures : null,
    extra_rows_per_snapshot: round(w?.laterPhase.extraRowsWritten),
    extra_table_rows_per_snapshot: round(w?.laterPhase.extraTableRows),
    rows_written_per_snapshot: round(w?.laterPhase.rowsWritten),
    write_parse_ms: round(p?.parseMs, 3),
    write_validate_ms: round(p?.validateMs, 3),
    write_read_ms: round(p?.readMs, 3),
    write_hash_ms: round(p?.hashMs, 3),
    write_chains_ms: round(p?.chainsMs, 3),
    write_d1_write_ms: round(p?.d1WriteMs, 2),
    write_baseline_d1_ms: round(p?.baselineMs, 2),
    write_prepare_ms: p ? round(p.readMs + p.hashMs + p.chainsMs, 3) : null,
    write_sha256_ms: round(p?.hashMs, 3),
    write_d1_ms: round(p?.d1WriteSqlMs, 2),
    statements_per_write: round(w?.statementsPerWrite),
    round_trips_per_write: round(w?.roundTripsPerWrite),
    statements_per_delta_write: round(w?.statementsPerDeltaWrite),
    round_trips_per_delta_write: round(w?.roundTripsPerDeltaWrite),
    replay_round_trips: p ? p.replay.roundTrips : null,
    replay_d1_ms: p ? round(p.replay.refusedMs + p.replay.readMs, 2) : null,
    rows_read_per_write_full: round(w?.lastTenRowsRead.full),
    rows_read_per_write_delta: round(w?.lastTenRowsRead.delta),
    rows_after_conversation: w ? w.ourTotalRows.total : null,
    rows_after_conversation_go_layout: w ? w.goLayoutRows.total : null,
    queries_per_debug_read: anchor ? anchor.statements : null,
    round_trips_per_debug_read: anchor ? anchor.roundTrips : null,
    rows_read_per_debug_read: bySize(
      reads?.queries,
      (q) => q.snapshots,
      (q) => page(q.costs)?.rowsRead,
    ),
    rows_read_per_turn_detail: bySize(
      reads?.queries,
      (q) => q.snapshots,
      (q) => detail(q.costs)?.rowsRead,
    ),
    debug_read_latency_ms: bySize(
      latency,
      (l) => l.snapshots,
      (l) => l.listMedianMs,
    ),
    turn_detail_latency_ms: bySize(
      latency,
      (l) => l.snapshots,
      (l) => l.detailMedianMs,
    ),
    read_latency_ratio: smallest && largest ? round(largest.listMedianMs / smallest.listMedianMs, 3) : null,
    turn_detail_latency_ratio: smallest && largest ? round(largest.detailMedianMs / smallest.detailMedianMs, 3) : null,
    go_anchor_ms: GO_ANCHOR_MS,
    anchor_latency_ms: smallest ? round(smallest.listMedianMs, 1) : null,
    anchor_sql_ms: anchor ? round(anchor.sqlMs, 1) : null,
    anchor_yaml_ms: anchor ? round(anchor.serializeMs, 1) : null,
    anchor_yaml_only_ms: anchor ? round(anchor.yamlMs, 1) : null,
    anchor_decode_ms: anchor ? round(anchor.decodeMs, 1) : null,
    anchor_yaml_sql_ratio: anchor && anchor.sqlMs > 0 ? round(anchor.serializeMs / anchor.sqlMs, 2) : null,
    growing_turns: r.growing ? r.growing.turns : null,
    growing_bytes_per_snapshot: bySize(short?.points, (x) => x.turns, bytesPerSnapshot, 0),
    growing_bytes_ratio: round(growthRatio(short, bytesPerSnapshot), 3),
    growing_tool4k_bytes_per_snapshot: bySize(tool4k?.points, (x) => x.turns, bytesPerSnapshot, 0),
    growing_tool4k_bytes_ratio: round(growthRatio(tool4k, bytesPerSnapshot), 3),
    growing_full_request_bytes_per_snapshot: bySize(
      short?.points,
      (x) => x.turns,
      (x) => x.fullRequestBytes,
      0,
    ),
    growing_delta_request_bytes_per_snapshot: bySize(
      short?.points,
      (x) => x.turns,
      (x) => x.deltaRequestBytes,
      0,
    ),
    growing_delta_ratio: round(
      growthRatio(short, (x) => x.deltaRequestBytes),
      3,
    ),
    growing_tool4k_delta_request_bytes_per_snapshot: bySize(
      tool4k?.points,
      (x) => x.turns,
      (x) => x.deltaRequestBytes,
      0,
    ),
    growing_tool4k_delta_ratio: round(
      growthRatio(tool4k, (x) => x.deltaRequestBytes),
      3,
    ),
    growing_rows_written_per_snapshot: bySize(
      short?.points,
      (x) => x.turns,
      (x) => x.rowsWritten,
    ),
    growing_summary_page_bytes: bySize(
      short?.points,
      (x) => x.turns,
      (x) => x.summaryPage?.bytes,
      0,
    ),
    growing_summary_page_ms: bySize(
      short?.points,
      (x) => x.turns,
      (x) => x.summaryPage?.medianMs,
    ),
    growing_summary_page_ratio: round(
      growthRatio(short, (x) => x.summaryPage?.medianMs),
      3,
    ),
    deletion_turns: d ? d.turns : null,
    deletion_complete: d ? d.http.complete : null,
    deletion_statements: d ? d.store.statements : null,
    deletion_batches: d ? d.store.budgetBatches : null,
    deletion_round_trips: d ? d.store.roundTrips : null,
    deletion_rows_written: d ? d.store.rowsWritten : null,
    deletion_rows_deleted: d ? sum(Object.values(d.http.deleted)) + d.before.conversations : null,
    deletion_ms: d ? round(d.http.ms, 1) : null,
    deletion_rows_left: d ? sum(Object.values(d.http.after)) : null,
    backfill_turns: b ? b.turns : null,
    backfill_seconds: b ? round(b.chainWallSeconds, 1) : null,
    backfill_1m_seconds: b && b.turns >= 1_000_000 ? round(b.chainWallSeconds, 1) : null,
    backfill_max_statement_seconds: b?.heaviest ? round(b.heaviest.seconds, 2) : null,
    backfill_chunk_rows: b?.chunk ? b.chunk.rowsPerChunk : null,
    bundle_raw_kb: r.bundle ? round(r.bundle.rawBytes / 1024, 1) : null,
    bundle_gzip_kb: r.bundle ? round(r.bundle.gzipBytes / 1024, 1) : null,
    startup_cpu_ms: r.startupCpu ? round(r.startupCpu.cpuMs, 1) : null,
    dev_cold_start_ms: r.devColdStart ? Math.round(r.devColdStart.medianMs) : null,
    load_average_start: r.machine.loadAverageAtStart[0],
    load_average_end: r.loadAverageAtEnd[0],
    elapsed_seconds: Math.round(r.elapsedSeconds),
    errors: r.errors.length,
  };
}
