/**
 * docs/BENCHMARKS.md from one run's results: every sentence that states a figure or a verdict takes
 * it from the results, so the document cannot drift from what was measured. The sections live in
 * report-writes.ts (§1, §2), report-reads.ts (§3, §8), report-growing.ts (§4, §5) and
 * report-backfill-bundle.ts (§6, §7).
 */
import { CHUNK_BUDGET_SECONDS, D1_STATEMENT_LIMIT_SECONDS } from "./backfill";
import { summaryPath } from "./growing";
import type { BenchResults } from "./index";
import { DETAIL_PATH, LIST_PATH } from "./read-cost";
import { backfillSection, bundleSection } from "./report-backfill-bundle";
import { kib, num, size, table, verdict } from "./report-format";
import { deletionSection, growingSection } from "./report-growing";
import { anchorSection, readSection } from "./report-reads";
import { throughputSection, writeCostSection } from "./report-writes";
import { anchorCost, bytesPerSnapshot, GO_ANCHOR_MS, TARGETS, type Summary } from "./summary";

function summaryTable(r: BenchResults, s: Summary): string {
  const w = r.writeCost;
  const rows: Array<Array<string | number>> = [];
  const ratioRow = (section: string, figure: string, measured: string, ratio: number | null, target: number) =>
    rows.push([section, figure, measured, `≤ ${target}`, verdict(ratio === null ? null : ratio <= target)]);
  rows.push([
    "1",
    "Write throughput: POST /api/turns vs single-row baseline (same bodies)",
    s.write_ratio === null
      ? "—"
      : `${num(s.snapshots_per_second, 1)} vs ${num(s.baseline_per_second, 1)} req/s → **${num(s.write_ratio, 2)}**`,
    `≥ ${TARGETS.writeRatio}`,
    verdict(s.write_ratio === null ? null : s.write_ratio >= TARGETS.writeRatio) +
      (s.write_ratio !== null && s.write_ratio < TARGETS.writeRatio ? " (§1: what dominates)" : ""),
  ]);
  rows.push([
    "1",
    "… full posts that reach no tip the isolate remembers (each looks up its whole history)",
    s.write_ratio_without_tip_memory === null ? "—" : `→ ${num(s.write_ratio_without_tip_memory, 2)}`,
    "(reference)",
    "",
  ]);
  rows.push([
    "1",
    "… against the empty-body baseline (lower bound)",
    s.write_ratio_empty_body === null
      ? "—"
      : `${num(s.snapshots_per_second, 1)} vs ${num(s.baseline_empty_body_per_second, 1)} req/s → ${num(s.write_ratio_empty_body, 2)}`,
    "(reference)",
    "",
  ]);
  rows.push([
    "1",
    "Stage profile of a write (ms): zod / read / hashes / chains; its one D1 batch (D1 time)",
    s.write_validate_ms === null
      ? "—"
      : `${num(s.write_validate_ms, 2)} / ${num(s.write_read_ms, 2)} / ${num(s.write_hash_ms, 2)} / ${num(s.write_chains_ms, 2)}; ${num(s.write_d1_ms, 2)}`,
    "report",
    "",
  ]);
  rows.push([
    "2",
    "Later-phase snapshot (1 new block): D1 rows written beyond new blocks (`meta.rows_written`, index entries included)",
    w ? `**${num(s.extra_rows_per_snapshot)}** (${num(s.rows_written_per_snapshot)} for ${num(w.laterPhase.newBlocks)} new block)` : "—",
    `≤ ${TARGETS.extraRowsPerSnapshot}`,
    verdict(s.extra_rows_per_snapshot === null ? null : s.extra_rows_per_snapshot <= TARGETS.extraRowsPerSnapshot) +
      (w && w.laterPhase.extraRowsWritten > TARGETS.extraRowsPerSnapshot ? " (§2: what dominates)" : ""),
  ]);
  rows.push([
    "2",
    "… in table rows",
    w ? `${num(s.extra_table_rows_per_snapshot)} (${num(w.laterPhase.tableRowsChanged)} rows)` : "—",
    `≤ ${TARGETS.extraTableRowsPerSnapshot}`,
    verdict(s.extra_table_rows_per_snapshot === null ? null : s.extra_table_rows_per_snapshot <= TARGETS.extraTableRowsPerSnapshot),
  ]);
  rows.push([
    "2",
    "D1 statements / round trips per new snapshot: full post; delta; replay (fallback: refused batch + read)",
    w
      ? `**${num(s.statements_per_write)} / ${num(s.round_trips_per_write)}**; ${num(s.statements_per_delta_write)} / ${num(s.round_trips_per_delta_write)}; ${s.replay_round_trips === null ? "—" : `${num(s.replay_round_trips)} round trips`}`
      : "—",
    "1 round trip",
    verdict(w ? s.round_trips_per_write === 1 && s.round_trips_per_delta_write === 1 : null),
  ]);
  rows.push([
    "2",
    "Rows written vs old blocks repeated; rows read per write, last 10 snapshots: full / delta posts",
    w
      ? `${num(w.rowsWrittenSlopePerRepeatedBlock, 3)} per repeated block; ${num(s.rows_read_per_write_full)} / ${num(s.rows_read_per_write_delta)}`
      : "—",
    "independent",
    verdict(w ? Math.abs(w.rowsWrittenSlopePerRepeatedBlock) < 0.01 : null),
  ]);
  rows.push([
    "2",
    w ? `Table rows after ${w.turns} turns × 3 phases: ours vs Go layout` : "Table rows after the conversation: ours vs Go layout",
    w
      ? `${num(w.ourTotalRows.total)} vs ${num(w.goLayoutRows.total)} (${num(w.goLayoutRows.total / w.ourTotalRows.total, 0)}× fewer)`
      : "—",
    "report",
    "",
  ]);
  rows.push([
    "3",
    "D1 statements / round trips per debug read",
    s.queries_per_debug_read === null ? "—" : `${s.queries_per_debug_read} / ${s.round_trips_per_debug_read}`,
    "constant",
    verdict(s.queries_per_debug_read === null ? null : s.queries_per_debug_read <= 2 && s.round_trips_per_debug_read === 1),
  ]);
  const rowsRead = s.rows_read_per_debug_read ? Object.entries(s.rows_read_per_debug_read) : [];
  rows.push([
    "3",
    "Rows read, `limit=200` page, by database size",
    rowsRead.length ? rowsRead.map(([k, v]) => `${size(Number(k))}: ${num(v)}`).join(", ") : "—",
    "∝ page, not database",
    verdict(rowsRead.length > 1 ? new Set(rowsRead.map(([, v]) => v)).size === 1 : null),
  ]);
  const lat = s.debug_read_latency_ms ? Object.entries(s.debug_read_latency_ms) : [];
  ratioRow(
    "3",
    "Median latency of the page, largest / smallest database",
    lat.length
      ? `${lat.map(([k, v]) => `${size(Number(k))}: ${num(v, 1)} ms`).join(", ")}${s.read_latency_ratio !== null ? ` → **${num(s.read_latency_ratio, 2)}**` : ""}`
      : "—",
    s.read_latency_ratio,
    TARGETS.readLatencyRatio,
  );
  const g = r.growing;
  const short = g?.variants.find((v) => v.key === "short");
  const tool4k = g?.variants.find((v) => v.key === "tool4k");
  const span = (v: typeof short, value: (p: NonNullable<typeof short>["points"][number]) => number | undefined, digits = 0, unit = "") =>
    v
      ? `T=${num(v.points[0]!.turns)}: ${num(value(v.points[0]!), digits)}${unit} → T=${num(v.points[v.points.length - 1]!.turns)}: ${num(value(v.points[v.points.length - 1]!), digits)}${unit}`
      : "—";
  const ratioText = (x: number | null) => (x === null ? "" : ` → **${num(x, 2)}×**`);
  ratioRow(
    "4",
    "Growing conversation, short texts: D1 bytes per snapshot",
    span(short, bytesPerSnapshot) + ratioText(s.growing_bytes_ratio),
    s.growing_bytes_ratio,
    TARGETS.growingBytesRatio,
  );
  ratioRow(
    "4",
    "… 4 KB tool results: D1 bytes per snapshot",
    span(tool4k, bytesPerSnapshot) + ratioText(s.growing_tool4k_bytes_ratio),
    s.growing_tool4k_bytes_ratio,
    TARGETS.growingBytesRatio,
  );
  ratioRow(
    "4",
    "Delta request bytes per snapshot, short texts (full posts, for reference: " +
      (short ? `${num(short.points[0]!.fullRequestBytes)} → ${num(short.points[short.points.length - 1]!.fullRequestBytes)}` : "—") +
      ")",
    span(short, (p) => p.deltaRequestBytes) + ratioText(s.growing_delta_ratio),
    s.growing_delta_ratio,
    TARGETS.growingDeltaRatio,
  );
  ratioRow(
    "4",
    "… 4 KB tool results",
    span(tool4k, (p) => p.deltaRequestBytes) + ratioText(s.growing_tool4k_delta_ratio),
    s.growing_tool4k_delta_ratio,
    TARGETS.growingDeltaRatio,
  );
  ratioRow(
    "4",
    "`payload=none` page (limit=200), median latency, short texts",
    span(short, (p) => p.summaryPage?.medianMs, 1, " ms") + ratioText(s.growing_summary_page_ratio),
    s.growing_summary_page_ratio,
    TARGETS.growingSummaryPageRatio,
  );
  rows.push(["4", "D1 rows written per snapshot, short texts", span(short, (p) => p.rowsWritten, 1), "report", ""]);
  const d = r.deletion;
  rows.push([
    "5",
    d ? `Deleting a ${num(d.turns)}-turn conversation (\`DELETE /api/conversations/:conv_id\`)` : "Deleting a conversation",
    d
      ? `${d.http.complete ? "complete in 1 request" : "**incomplete** after 1 request"}: ${num(d.store.statements)} statements, ${num(d.store.roundTrips)} D1 round trips, ${num(s.deletion_rows_deleted)} rows deleted (${num(d.store.rowsWritten)} rows_written), ${num(d.http.ms, 0)} ms; rows left: ${num(s.deletion_rows_left)}`
      : "—",
    "nothing left",
    verdict(d ? s.deletion_rows_left === 0 : null),
  ]);
  const b = r.backfill;
  rows.push([
    "6",
    b ? `Backfill: ${size(b.turns)} legacy turns through \`migrations apply\`` : "Backfill of 1M legacy turns",
    b ? `${num(b.chainWallSeconds, 1)} s wall${b.heaviest ? `; heaviest statement ${num(b.heaviest.seconds, 1)} s` : ""}` : "—",
    `each statement < ${D1_STATEMENT_LIMIT_SECONDS} s`,
    verdict(b?.heaviest ? b.heaviest.seconds < D1_STATEMENT_LIMIT_SECONDS : null) +
      (b?.heaviest && b.heaviest.seconds >= CHUNK_BUDGET_SECONDS ? " → chunk (§6)" : ""),
  ]);
  rows.push([
    "7",
    "Bundle (deploy dry run), raw / gzip",
    r.bundle ? `${kib(r.bundle.rawBytes)} / ${kib(r.bundle.gzipBytes)}` : "—",
    "report",
    "",
  ]);
  const benchCode = r.bundle ? [...r.bundle.benchOnly.inputs, ...r.bundle.benchOnly.modulesWithBaselinePath] : null;
  rows.push([
    "7",
    "… bench-only code in it (`bench/`, the baseline route's path)",
    benchCode === null ? "—" : benchCode.length === 0 ? "none" : `**${benchCode.join(", ")}**`,
    "none",
    verdict(benchCode === null ? null : benchCode.length === 0),
  ]);
  rows.push([
    "7",
    "Start-up: Worker global scope CPU; `wrangler dev` to first 200",
    `${r.startupCpu ? `${num(r.startupCpu.cpuMs, 0)} ms` : "—"}; ${r.devColdStart ? `${num(r.devColdStart.medianMs / 1000, 1)} s` : "—"}`,
    "report",
    "",
  ]);
  rows.push([
    "8",
    "Peer anchor: 200 snapshots of a 2000-snapshot conversation, whole page over HTTP",
    s.anchor_latency_ms === null ? "—" : `**${num(s.anchor_latency_ms, 1)} ms** (wrangler dev) vs Go ${GO_ANCHOR_MS} ms (in-process)`,
    `≤ ${TARGETS.anchorPageMs} ms (moonshot)`,
    verdict(s.anchor_latency_ms === null ? null : s.anchor_latency_ms <= TARGETS.anchorPageMs),
  ]);
  const anchor = anchorCost(r);
  ratioRow(
    "8",
    "… its serialization (YAML + JSON) / SQL time",
    anchor
      ? `${num(s.anchor_yaml_ms, 1)} / ${num(s.anchor_sql_ms, 1)} ms → **${s.anchor_yaml_sql_ratio === null ? "∞" : num(s.anchor_yaml_sql_ratio, 2)}**`
      : "—",
    anchor ? (s.anchor_yaml_sql_ratio ?? Number.POSITIVE_INFINITY) : null,
    TARGETS.serializeSqlRatio,
  );
  return table(["§", "Figure", "Measured", "Target", "Verdict"], rows);
}

function machineSection(r: BenchResults, s: Summary): string {
  const m = r.machine;
  return `## Machine and conditions

- CPU: ${m.cpus} × ${m.cpuModel}; memory ${m.memoryGiB} GiB; ${m.os}
- Node ${m.node}; wrangler ${m.wrangler}; miniflare ${m.miniflare}; ${m.workerd}; Debian sqlite3 ${m.sqlite3Cli} (generating and measuring database files only)
- Commit ${m.commit}; run started ${m.startedAt}, ${r.config.mode} mode, ${num(r.elapsedSeconds / 60, 1)} min in all
- Load average (1/5/15 min) at start: ${m.loadAverageAtStart.join(" / ")}; at end: ${r.loadAverageAtEnd.join(" / ")}
- Section times (1-minute load at start → end): ${Object.entries(r.sectionSeconds)
    .map(([k, v]) => `${k} ${num(v, 0)} s (${r.sectionLoad[k]?.map((x) => num(x, 2)).join(" → ") ?? "—"})`)
    .join(", ")}

Everything runs on this one machine: the load generator, \`wrangler dev\` (its Node proxy and workerd)
and local D1 (SQLite inside workerd, no network) share its ${m.cpus} cores. Absolute numbers are
therefore far from production's; the ratios compare figures measured side by side in this run.
${s.errors > 0 ? `\n**${s.errors} section(s) failed in this run:** ${r.errors.map((e) => `${e.section}: \`${e.message.split("\n")[0]}\``).join("; ")}\n` : ""}`;
}

function reproduceSection(): string {
  return `## Reproduce

\`\`\`sh
npm run bench                 # full run (under 10 min): writes this file
npm run bench -- --quick      # under 2 min, smaller sizes, no million-row databases; prints, writes nothing here
npm run bench -- --json       # (with or without --quick) ends with one JSON line of the headline figures
npm run bench -- --help       # options, defaults, exit codes
\`\`\`

The bench needs Debian's \`sqlite3\` (\`apt-get install -y sqlite3\`) to generate the large databases and
measure database files; its \`wrangler dev\` servers listen on free ports of 127.0.0.1 chosen at start,
and it works in a temporary folder under \`$TMPDIR\`, removed afterwards.
Code: \`bench/\` (one module per section). By hand, each figure comes from:

| § | Figure | By hand |
|---|---|---|
| 1 | throughput | \`wrangler dev bench/worker.ts\` (the bench-only entry: the baseline route, and the production Worker for everything else), then \`npx autocannon -c 4 -d 5 -m POST -H 'authorization: Bearer …' -H 'content-type: application/json' -b @snapshot.json http://127.0.0.1:8787/api/turns\` (and \`/api/bench/baseline\`); the bench varies the body per request, which the CLI cannot |
| 1, 2 | stage profile, rows per write | D1's \`meta\` of the \`db.batch\` call in \`saveSnapshots\` — one for a new snapshot; for a replay the refused batch (no meta) and the read batch (\`rows_written\`, \`rows_read\`, \`changes\`, \`duration\`); \`SELECT count(*)\` per table before and after |
| 3 | read cost | \`curl -H 'authorization: Bearer …' 'http://127.0.0.1:8787${LIST_PATH}'\` and \`…${DETAIL_PATH}\` |
| 4 | growing conversation | \`POST /api/turns\` with the client's bodies (\`src/client/turnstore-client.ts\`), the write log's \`rows_written\`; \`curl … '${summaryPath("CONV")}'\`; \`sqlite3 FILE 'PRAGMA page_count; PRAGMA page_size'\` on the stopped database |
| 5 | deletion | \`curl -X DELETE -H 'authorization: Bearer $ADMIN_TOKEN' http://127.0.0.1:8787/api/conversations/CONV\`, the write log line \`"event":"write"\` of \`DELETE /api/conversations/:conv_id\`; \`SELECT count(*) … WHERE conv_id = 'CONV'\` per table |
| 6 | backfill | \`wrangler d1 migrations apply DB --local --persist-to DIR\` on a legacy database; \`wrangler d1 execute DB --local --persist-to DIR --file drizzle/0002_backfill.sql --json\` gives each statement's \`meta.duration\` |
| 7 | bundle, start-up | \`wrangler deploy --dry-run --outdir DIR --metafile DIR/meta.json\`; \`wrangler check startup\` |
`;
}

export function renderReport(r: BenchResults, s: Summary): string {
  return `# Benchmarks

Generated by \`npm run bench\` (\`bench/\`) — do not edit by hand; re-run it. One ${r.config.mode} run of
${r.machine.startedAt.slice(0, 10)} on the machine below: every ratio compares figures measured side by side in
that run.

${summaryTable(r, s)}

${machineSection(r, s)}
## Method

Each section below says how its figures were measured. Headline figures as JSON
(\`npm run bench -- --json\`, last line):

\`\`\`json
${JSON.stringify(s, null, 2)}
\`\`\`

${reproduceSection()}
${throughputSection(r)}
${writeCostSection(r)}
${readSection(r, s)}
${growingSection(r)}
${deletionSection(r)}
${backfillSection(r)}
${bundleSection(r)}
${anchorSection(r, s)}`;
}
