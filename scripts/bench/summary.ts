/**
 * The headline figures of a run, as one flat JSON object (`--json` prints it on the last line).
 * null where the run did not measure a figure (quick mode skips the million-row databases).
 */
import type { BenchResults } from "./index";
import type { ReadQueryCost } from "./read-cost";
import { round } from "./stats";

/** The Go implementation's benchmark: 200 snapshots of a 2000-snapshot conversation (native SQLite, 8 cores). */
export const GO_ANCHOR_MS = 10.8;

export const TARGETS = {
  writeRatio: 0.7,
  extraRowsPerSnapshot: 4,
  readLatencyRatio: 1.5,
  statementSeconds: 30,
} as const;

export interface Summary {
  mode: "full" | "quick";
  write_ratio: number | null;
  write_ratio_empty_body: number | null;
  snapshots_per_second: number | null;
  baseline_per_second: number | null;
  baseline_empty_body_per_second: number | null;
  write_failures: number | null;
  extra_rows_per_snapshot: number | null;
  extra_table_rows_per_snapshot: number | null;
  rows_written_per_snapshot: number | null;
  write_validate_ms: number | null;
  write_prepare_ms: number | null;
  write_sha256_ms: number | null;
  write_d1_ms: number | null;
  statements_per_write: number | null;
  round_trips_per_write: number | null;
  rows_after_conversation: number | null;
  rows_after_conversation_go_layout: number | null;
  queries_per_debug_read: number | null;
  round_trips_per_debug_read: number | null;
  rows_read_per_debug_read: Record<string, number> | null;
  rows_read_per_turn_detail: Record<string, number> | null;
  debug_read_latency_ms: Record<string, number> | null;
  turn_detail_latency_ms: Record<string, number> | null;
  read_latency_ratio: number | null;
  turn_detail_latency_ratio: number | null;
  go_anchor_ms: number;
  anchor_latency_ms: number | null;
  anchor_sql_ms: number | null;
  anchor_yaml_ms: number | null;
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

const bySize = <T>(rows: T[] | undefined, key: (r: T) => number, value: (r: T) => number | undefined) =>
  rows && rows.length > 0 ? Object.fromEntries(rows.map((r) => [String(key(r)), round(value(r) ?? Number.NaN)!])) : null;

export function summarize(r: BenchResults): Summary {
  const t = r.throughput;
  const w = r.writeCost;
  const reads = r.reads;
  const latency = reads?.latency ?? [];
  const smallest = latency[0];
  const largest = latency.length > 1 ? latency[latency.length - 1] : undefined;
  const page = (costs: ReadQueryCost[]) => costs.find((c) => c.limit === 200 && c.label.startsWith("conversation"));
  const detail = (costs: ReadQueryCost[]) => costs.find((c) => c.label.startsWith("turn detail"));
  const firstPage = reads?.queries[0] ? page(reads.queries[0].costs) : undefined;
  const b = r.backfill;
  return {
    mode: r.config.mode,
    write_ratio: round(t?.ratioSameBody, 3),
    write_ratio_empty_body: round(t?.ratioEmptyBody, 3),
    snapshots_per_second: round(t?.medians.snapshot, 1),
    baseline_per_second: round(t?.medians.baseline_same_body, 1),
    baseline_empty_body_per_second: round(t?.medians.baseline_empty_body, 1),
    write_failures: t ? t.failures : null,
    extra_rows_per_snapshot: round(w?.extraRowsWritten),
    extra_table_rows_per_snapshot: round(w?.extraTableRows),
    rows_written_per_snapshot: round(w?.medianRowsWritten),
    write_validate_ms: round(w?.streamProfile.validateMs),
    write_prepare_ms: round(w?.streamProfile.prepareMs),
    write_sha256_ms: round(w?.streamProfile.sha256Ms),
    write_d1_ms: round(w?.streamProfile.d1Ms),
    statements_per_write: round(w?.statementsPerWrite),
    round_trips_per_write: round(w?.roundTripsPerWrite),
    rows_after_conversation: w ? w.ourTotalRows.total : null,
    rows_after_conversation_go_layout: w ? w.goLayoutRows.total : null,
    queries_per_debug_read: firstPage ? firstPage.statements : null,
    round_trips_per_debug_read: firstPage ? firstPage.roundTrips : null,
    rows_read_per_debug_read: bySize(reads?.queries, (q) => q.snapshots, (q) => page(q.costs)?.rowsRead),
    rows_read_per_turn_detail: bySize(reads?.queries, (q) => q.snapshots, (q) => detail(q.costs)?.rowsRead),
    debug_read_latency_ms: bySize(latency, (l) => l.snapshots, (l) => l.listMedianMs),
    turn_detail_latency_ms: bySize(latency, (l) => l.snapshots, (l) => l.detailMedianMs),
    read_latency_ratio: smallest && largest ? round(largest.listMedianMs / smallest.listMedianMs, 3) : null,
    turn_detail_latency_ratio: smallest && largest ? round(largest.detailMedianMs / smallest.detailMedianMs, 3) : null,
    go_anchor_ms: GO_ANCHOR_MS,
    anchor_latency_ms: smallest ? round(smallest.listMedianMs, 1) : null,
    anchor_sql_ms: firstPage ? round(firstPage.sqlMs, 1) : null,
    anchor_yaml_ms: firstPage ? round(firstPage.yamlMs, 1) : null,
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
