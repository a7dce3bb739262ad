/**
 * The report: figures as JSON (bench/results/latest.json; otlp.json of `npm run bench:otlp`) and
 * docs/BENCHMARKS.md, the template bench/report.template.md filled in with both. Its tags (mustache's):
 *   {{a.b}}                a value (a list is joined with " / ", a missing one is "—"; `first`/`last` of a list)
 *   {{a.b|2}}              formatted: FORMATS below, or a number of decimals; `{{x|1 ms}}` adds " ms" unless x is missing
 *   {{#a}}…{{/a}}          once per item of a list (then {{.}}, {{@last}}), or once if a is truthy (an object becomes the context)
 *   {{^a}}…{{/a}}          once if a is false, null, 0 or empty;  {{?a}}…{{/a}}  once if it is not
 * A tag alone on its line takes the line with it. A name found nowhere is an error, so a typo fails
 * the render instead of printing "—".
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "../tools/wrangler-dev";
import type { BackfillFigures } from "./backfill";
import type { BundleFigures } from "./bundle";
import type { DeletionFigures } from "./deletion";
import type { describeMachine } from "./machine";
import type { GrowingFigures } from "./growing";
import type { ManyDatabaseFigures } from "./many-databases";
import type { ReadFigures } from "./read-cost";
import { round } from "./stats";
import { GO_ANCHOR_MS, TARGETS } from "./targets";
import type { WriteCostFigures } from "./write-cost";
import type { ThroughputFigures } from "./write-throughput";

export const RESULTS = { latest: join(ROOT, "bench/results/latest.json"), otlp: join(ROOT, "bench/results/otlp.json") };
export const REPORT = join(ROOT, "docs/BENCHMARKS.md");
const TEMPLATE = join(ROOT, "bench/report.template.md");
/** A number with `digits` decimals, grouped; a value that rounds to zero is 0, not -0. */
const num = (v: unknown, digits: number) =>
  typeof v !== "number" || !Number.isFinite(v)
    ? "—"
    : v.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits }).replace(/^-(?=[0.]+$)/, "");

const pair = ([k, v]: [string, unknown]) => `${k}: ${v}`;
// biome-ignore lint/suspicious/noExplicitAny: a format takes whatever the JSON holds at that name.
const FORMATS: Record<string, (value: any, digits?: number) => string> = {
  ...{ kib: (v, d = 1) => `${num(v / 1024, d)} KiB`, mib: (v, d = 0) => `${num(v / 1024 ** 2, d)} MiB` },
  bytes: (v) => (v >= 1024 ** 2 ? FORMATS.mib!(v, 1) : v >= 10 * 1024 ? FORMATS.kib!(v, 1) : `${num(v, 0)} B`),
  mb: (v, d = 2) => `${num(v / 1e6, d)} MB`, // decimal, as the first release's figures are given
  kb: (v, d = 0) => `${num(v / 1e3, d)} KB`,
  s: (v, d = 1) => num(v / 1000, d), // milliseconds as seconds
  size: (n) => (n >= 1e6 ? `${num(n / 1e6, n % 1e6 ? 1 : 0)}M` : `${num(n / 1000, 0)}k`),
  round: (v, d = 0) => String(round(v, d)), // without grouping or trailing zeros (the OTLP section's style)
  json: (v, d) => JSON.stringify(v, null, d),
  join: (list) => list.join(", "),
  code: (list) => list.map((name: string) => `\`${name}\``).join(", "),
  pairs: (o) => Object.entries(o).map(pair).join(", "),
};

function show(value: unknown, spec: string | undefined): string {
  if (spec === undefined) return value === null || value === undefined ? "—" : Array.isArray(value) ? value.join(" / ") : String(value);
  const [, name, digits, suffix] = spec.match(/^(\w+)(?::(\d+))?(?: (.*))?$/) ?? [];
  if (name === "met") return value === true ? "met" : value === false ? "**not met**" : "not measured";
  if (value === null || value === undefined) return "—";
  const format = /^\d+$/.test(name!) ? num(value, Number(name)) : FORMATS[name!]?.(value, digits ? Number(digits) : undefined);
  if (format === undefined) throw new Error(`report template: no format "${spec}"`);
  return suffix ? `${format} ${suffix}` : format;
}

function lookup(stack: unknown[], path: string): unknown {
  if (path === ".") return stack[0];
  const [head, ...rest] = path.split(".");
  const scope = stack.find((c) => typeof c === "object" && c !== null && head! in c) as Record<string, unknown> | undefined;
  if (!scope) throw new Error(`report template: nothing is named ${path}`);
  let value: unknown = scope[head!];
  for (const key of rest) {
    if (value === null || value === undefined) return null;
    const end = Array.isArray(value) && (key === "first" || key === "last");
    value = end ? (value as unknown[]).at(key === "first" ? 0 : -1) : (value as Record<string, unknown>)[key];
  }
  return value;
}

const truthy = (v: unknown) => (typeof v === "object" && v !== null ? Object.keys(v).length > 0 : Boolean(v));
const escapeName = (name: string) => name.replace(/[.@]/g, "\\$&");
function renderPart(text: string, stack: unknown[]): string {
  const tag = /\{\{([#^?/]?)([\w.@]+)(?:\|([^}]*))?\}\}/g;
  let out = "";
  let at = 0;
  for (let m = tag.exec(text); m; m = tag.exec(text)) {
    const [whole, sigil, name, spec] = m as unknown as [string, string, string, string | undefined];
    out += text.slice(at, m.index);
    at = m.index + whole.length;
    if (sigil === "") {
      out += show(lookup(stack, name), spec);
      continue;
    }
    if (sigil === "/") throw new Error(`report template: {{/${name}}} closes nothing`);
    // The matching close: sections of the same name may nest.
    const same = new RegExp(`\\{\\{([#^?/])${escapeName(name)}\\}\\}`, "g");
    same.lastIndex = at;
    let depth = 1;
    let close: RegExpExecArray | null = null;
    while (depth > 0 && (close = same.exec(text))) depth += close[1] === "/" ? -1 : 1;
    if (!close || depth > 0) throw new Error(`report template: {{${sigil}${name}}} is not closed`);
    const body = text.slice(at, close.index);
    const value = lookup(stack, name);
    if (sigil === "^" ? !truthy(value) : sigil === "?" && truthy(value)) out += renderPart(body, stack);
    else if (sigil === "#" && Array.isArray(value))
      value.forEach((item, k) => {
        out += renderPart(body, [item, { "@first": k === 0, "@last": k === value.length - 1 }, ...stack]);
      });
    else if (sigil === "#" && truthy(value)) out += renderPart(body, [value, ...stack]);
    at = close.index + close[0].length;
    tag.lastIndex = at;
  }
  return out + text.slice(at);
}

export function render(template: string, view: object): string {
  return renderPart(template.replace(/^[ \t]*(\{\{[#^?/][\w.@]+\}\})[ \t]*\n/gm, "$1"), [view]);
}

/** docs/BENCHMARKS.md from a run's figures (what spans sections derived again, so older results fit this template) and the OTLP bench's. */
export function renderReport(results: Results, otlp: object | null): string {
  return render(readFileSync(TEMPLATE, "utf8"), { ...figures(results as Measured), otlp });
}

export function readResults(): { results: Results; otlp: object | null } {
  const read = (file: string) => (existsSync(file) ? JSON.parse(readFileSync(file, "utf8")) : null);
  return { results: read(RESULTS.latest), otlp: read(RESULTS.otlp) };
}

export interface Measured {
  mode: "full" | "quick";
  machine: ReturnType<typeof describeMachine> & { loadAverageAtEnd: number[]; minutes: number; sections: SectionTime[] };
  errors: Array<{ section: string; message: string }>;
  throughput: ThroughputFigures | null;
  profile: WriteCostFigures["profile"] | null;
  writes: WriteCostFigures["writes"] | null;
  reads: ReadFigures | null;
  growing: GrowingFigures | null;
  deletion: DeletionFigures | null;
  backfill: BackfillFigures | null;
  bundle: BundleFigures | null;
  /** Issue 26: 1 and 4 databases side by side (absent in results recorded before it). */
  databases?: ManyDatabaseFigures | null;
  startup: { cpuMs: number | null; samples: number | null; devColdStart: { medianMs: number; samplesMs: number[] } | null };
}
type SectionTime = { name: string; seconds: number; loadStart: number; loadEnd: number };
const SECTION_NAMES = Object.entries({
  ...{ throughput: "write throughput", writes: "rows per write", reads: "read cost", growing: "growing conversation" },
  ...{ deletion: "deleting a conversation", backfill: "backfill", bundle: "bundle", databases: "many databases" },
});

/** Where a write's time goes: the stage profile set against the gap between the routes (§1). */
function writeSplit(t: ThroughputFigures, p: WriteCostFigures["profile"]) {
  const gapMs = 1000 / t.medians.snapshot - 1000 / t.medians.baselineSameBody;
  const cpuMs = p.validateMs + p.readMs + p.hashMs + p.chainsMs;
  const sqlMs = Math.max(0, p.d1WriteSqlMs - p.baselineSqlMs);
  const rest = gapMs - cpuMs - sqlMs;
  const top = <T extends [string, number]>(parts: T[]) => parts.reduce((a, b) => (b[1] > a[1] ? b : a));
  const stages: Array<[string, number]> = [
    ["the zod request schema", p.validateMs],
    ["reading the snapshot", p.readMs],
  ];
  const [cpuName, cpuStageMs] = top([...stages, ["hashing blocks", p.hashMs], ["chains", p.chainsMs]]);
  const parts: Array<[string, number]> = [
    ["the Worker's own CPU stages", cpuMs],
    ["D1's execution beyond the baseline's", sqlMs],
  ];
  const [name, ms] = top([...parts, ["the route's other untimed work", rest]]);
  const why = { untimed: name.startsWith("the route"), d1: name.startsWith("D1"), cpu: name.startsWith("the Worker"), cpuName, cpuStageMs };
  const cpu = t.cpu;
  const extraMs = cpu ? (cpu.snapshot.workerd ?? 0) - (cpu.baselineSameBody.workerd ?? 0) : 0;
  const workerMs = extraMs - sqlMs;
  const [viaProxyMs, tripMs] = [Math.max(0, p.d1WriteMs - p.baselineMs), Math.max(0, t.d1RoundTrip.healthMs - t.d1RoundTrip.notFoundMs)];
  return {
    ...{ gapMs, cpuMs, sqlMs, viaProxyMs, ...t.d1RoundTrip, tripMs, untimedMs: rest >= 0 ? rest : null },
    overlapMs: rest < 0 ? -rest : null,
    dominant: { name, ms, why },
    workerd: cpu && {
      ...{ extraMs, snapshotMs: cpu.snapshot.workerd ?? 0, baselineMs: cpu.baselineSameBody.workerd ?? 0 },
      ...{ nodeSnapshotMs: cpu.snapshot.node ?? 0, nodeBaselineMs: cpu.baselineSameBody.node ?? 0 },
      workerMs: workerMs > 0 ? workerMs : null,
      dominant: sqlMs >= workerMs ? "D1's execution of the batch" : "the Worker's own work and the D1 call's plumbing",
    },
  };
}

/** The peer anchor (§8): where the 200-snapshot page's time goes, on the smallest database. */
function anchorFigures(reads: ReadFigures, t: ThroughputFigures | null) {
  const latencyMs = reads.databases[0]!.list.medianMs;
  const cost = reads.queries.find((q) => q.limit === 200 && q.label.startsWith("conversation"));
  if (!cost) return { latencyMs, pageMet: latencyMs <= TARGETS.anchorPageMs, parts: null };
  const sqlMs = cost.sqlMs[0]!;
  const tripMs = t ? Math.max(0, t.d1RoundTrip.healthMs - t.d1RoundTrip.notFoundMs) : null;
  const partsMs = sqlMs + cost.decodeMs + cost.serializeMs + (tripMs ?? 0);
  const restMs = latencyMs - partsMs;
  const ratio = sqlMs > 0 ? cost.serializeMs / sqlMs : null;
  const parts: Array<[string, number]> = [
    ["D1's execution", sqlMs],
    ["the D1 round trip", tripMs ?? 0],
    ["turning rows into turns", cost.decodeMs],
  ];
  parts.push(["serialization (YAML, then JSON)", cost.serializeMs], ["HTTP, `wrangler dev`'s proxy and the rest of the route", restMs]);
  const [name, ms] = parts.reduce((a, b) => (b[1] > a[1] ? b : a));
  const why = { serialization: name.startsWith("serialization"), http: name.startsWith("HTTP") };
  return {
    latencyMs,
    pageMet: latencyMs <= TARGETS.anchorPageMs,
    parts: {
      ...{ sqlMs, decodeMs: cost.decodeMs, yamlMs: cost.yamlMs, serializeMs: cost.serializeMs, records: cost.records, tripMs, partsMs },
      ...{ restMs: restMs >= 0 ? restMs : null, overlapMs: restMs < 0 ? -restMs : null, ratio },
      ...{ ratioMet: (ratio ?? Number.POSITIVE_INFINITY) <= TARGETS.serializeSqlRatio, dominant: { name, ms, why } },
    },
  };
}

/** The headline figures as one flat object (`--json` prints it as the last line); null where the run did not measure one. */
function headline(m: Measured, anchor: ReturnType<typeof anchorFigures> | null) {
  const { throughput: t, profile: p, writes: w, reads: r, growing: g, deletion: d, backfill: b, bundle } = m;
  const parts = anchor?.parts;
  const bySize = <T>(list: T[] | undefined, key: (x: T) => number, value: (x: T, k: number) => number | null | undefined, digits = 2) =>
    list?.length ? Object.fromEntries(list.map((x, k) => [String(key(x)), round(value(x, k), digits)])) : null;
  const byDatabase = (value: (x: ReadFigures["databases"][number], k: number) => number | null | undefined) =>
    bySize(r?.databases, (x) => x.snapshots, value);
  const [short, tool4k] = g?.variants ?? [];
  const points = (v: typeof short, value: (x: NonNullable<typeof short>["points"][number]) => number, digits = 2) =>
    bySize(v?.points, (x) => x.turns, value, digits);
  const detail = r?.queries.find((q) => q.label.startsWith("turn detail"));
  const page = r?.queries.find((q) => q.limit === 200);
  const { machine, startup, databases: n } = m;
  return {
    ...{ mode: m.mode, write_ratio: round(t?.ratio, 3), write_ratio_empty_body: round(t?.ratioEmptyBody, 3) },
    ...{ write_ratio_without_tip_memory: round(t?.ratioNoMemory, 3), snapshots_per_second: round(t?.medians.snapshot, 1) },
    baseline_per_second: round(t?.medians.baselineSameBody, 1),
    ...{ baseline_empty_body_per_second: round(t?.medians.baselineEmptyBody, 1), write_workerd_cpu_ms: round(t?.cpu?.snapshot.workerd, 3) },
    ...{ baseline_workerd_cpu_ms: round(t?.cpu?.baselineSameBody.workerd, 3), write_failures: t ? t.failures : null },
    extra_rows_per_snapshot: round(w?.laterPhase.extraRowsWritten),
    ...{ extra_table_rows_per_snapshot: round(w?.laterPhase.extraTableRows), rows_written_per_snapshot: round(w?.laterPhase.rowsWritten) },
    ...{ write_parse_ms: round(p?.parseMs, 3), write_validate_ms: round(p?.validateMs, 3), write_read_ms: round(p?.readMs, 3) },
    ...{ write_hash_ms: round(p?.hashMs, 3), write_chains_ms: round(p?.chainsMs, 3), write_d1_write_ms: round(p?.d1WriteMs, 2) },
    ...{ write_baseline_d1_ms: round(p?.baselineMs, 2), write_prepare_ms: p ? round(p.readMs + p.hashMs + p.chainsMs, 3) : null },
    ...{ write_sha256_ms: round(p?.hashMs, 3), write_d1_ms: round(p?.d1WriteSqlMs, 2), statements_per_write: round(w?.statementsPerWrite) },
    ...{ round_trips_per_write: round(w?.roundTripsPerWrite), statements_per_delta_write: round(w?.statementsPerDeltaWrite) },
    ...{ round_trips_per_delta_write: round(w?.roundTripsPerDeltaWrite), replay_round_trips: p ? p.replay.roundTrips : null },
    replay_d1_ms: p ? round(p.replay.refusedMs + p.replay.readMs, 2) : null,
    ...{ rows_read_per_write_full: round(w?.rowsRead.full.lastTen), rows_read_per_write_delta: round(w?.rowsRead.delta.lastTen) },
    ...{ rows_after_conversation: w ? w.ourRows.total : null, rows_after_conversation_go_layout: w ? w.goLayoutRows.total : null },
    ...{ queries_per_debug_read: page ? page.statements : null, round_trips_per_debug_read: page ? page.roundTrips : null },
    rows_read_per_debug_read: byDatabase((x) => x.pageRowsRead),
    ...{ rows_read_per_turn_detail: byDatabase((_, k) => detail?.rowsRead[k]), debug_read_latency_ms: byDatabase((x) => x.list.medianMs) },
    ...{ turn_detail_latency_ms: byDatabase((x) => x.detail.medianMs), read_latency_ratio: round(r?.latencyRatio, 3) },
    ...{ turn_detail_latency_ratio: round(r?.detailLatencyRatio, 3), go_anchor_ms: GO_ANCHOR_MS },
    ...{ anchor_latency_ms: round(anchor?.latencyMs, 1), anchor_sql_ms: round(parts?.sqlMs, 1) },
    ...{ anchor_yaml_ms: round(parts?.serializeMs, 1), anchor_yaml_only_ms: round(parts?.yamlMs, 1) },
    ...{ anchor_decode_ms: round(parts?.decodeMs, 1), anchor_yaml_sql_ratio: round(parts?.ratio, 2), growing_turns: g ? g.turns : null },
    ...{ growing_bytes_per_snapshot: points(short, (x) => x.bytesPerSnapshot, 0), growing_bytes_ratio: round(short?.bytesRatio, 3) },
    growing_tool4k_bytes_per_snapshot: points(tool4k, (x) => x.bytesPerSnapshot, 0),
    growing_tool4k_bytes_ratio: round(tool4k?.bytesRatio, 3),
    growing_full_request_bytes_per_snapshot: points(short, (x) => x.fullRequestBytes, 0),
    growing_delta_request_bytes_per_snapshot: points(short, (x) => x.deltaRequestBytes, 0),
    growing_delta_ratio: round(short?.deltaRatio, 3),
    growing_tool4k_delta_request_bytes_per_snapshot: points(tool4k, (x) => x.deltaRequestBytes, 0),
    ...{ growing_tool4k_delta_ratio: round(tool4k?.deltaRatio, 3), growing_rows_written_per_snapshot: points(short, (x) => x.rowsWritten) },
    growing_summary_page_bytes: points(short, (x) => x.summaryPage.bytes, 0),
    ...{ growing_summary_page_ms: points(short, (x) => x.summaryPage.medianMs), growing_summary_page_ratio: round(short?.pageRatio, 3) },
    ...{ deletion_turns: d ? d.turns : null, deletion_complete: d ? d.http.complete : null },
    ...{ deletion_statements: d ? d.store.statements : null, deletion_batches: d ? d.store.budgetBatches : null },
    ...{ deletion_round_trips: d ? d.store.roundTrips : null, deletion_rows_written: d ? d.store.rowsWritten : null },
    ...{ deletion_rows_deleted: d ? d.rowsDeleted : null, deletion_ms: round(d?.http.ms, 1), deletion_rows_left: d ? d.rowsLeft : null },
    ...{ backfill_turns: b ? b.turns : null, backfill_seconds: round(b?.chainWallSeconds, 1) },
    backfill_1m_seconds: b && b.turns >= 1_000_000 ? round(b.chainWallSeconds, 1) : null,
    ...{ backfill_max_statement_seconds: round(b?.heaviest?.seconds, 2), backfill_chunk_rows: b?.chunk ? b.chunk.rowsPerChunk : null },
    bundle_raw_kb: bundle ? round(bundle.rawBytes / 1024, 1) : null,
    ...{ bundle_gzip_kb: bundle ? round(bundle.gzipBytes / 1024, 1) : null, startup_cpu_ms: round(startup.cpuMs, 1) },
    dev_cold_start_ms: startup.devColdStart ? Math.round(startup.devColdStart.medianMs) : null,
    ...{
      many_db_write_ratio: round(n?.throughput.ratio.median, 3),
      many_db_round_trips_first: n ? [n.roundTrips.one.first, n.roundTrips.four.first] : null,
    },
    ...{
      many_db_round_trips_placed: n ? [n.roundTrips.one.placed, n.roundTrips.four.placed] : null,
      placement_skew: round(n?.placement.uuids.maxOverMean, 3),
    },
    ...{
      many_db_conversations_page_ratio: round(n?.pages.conversations.ratio.median, 3),
      many_db_session_page_ratio: round(n?.pages.sessionTurns.ratio.median, 3),
    },
    ...{ move_snapshots_per_second: round(n?.move.perSecond, 1) },
    ...{ load_average_start: machine.loadAverageAtStart[0]!, load_average_end: machine.loadAverageAtEnd[0]! },
    ...{ elapsed_seconds: Math.round(machine.minutes * 60), errors: m.errors.length },
  };
}

/** A run's figures, as bench/results/latest.json holds them and the template reads them. */
export function figures(m: Measured) {
  const anchor = m.reads && anchorFigures(m.reads, m.throughput);
  const h = headline(m, anchor);
  const verdict = (ok: boolean | null | undefined, suffix = "") =>
    ok === null || ok === undefined ? "not measured" : ok ? "met" : `**not met**${suffix}`;
  const within = (value: number | null, target: number) => (value === null ? null : value <= target);
  const [short, tool4k] = m.growing?.variants ?? [];
  const [heaviest, w, r, reads] = [m.backfill?.heaviest, m.writes, m.reads, h.queries_per_debug_read];
  const note = (section: string, error = m.errors.find((e) => e.section === section)) =>
    error ? `_Failed in this run:_ \`${error.message}\`` : `_Not measured in ${m.mode} mode._`;
  const notes = Object.fromEntries(SECTION_NAMES.map(([key, section]) => [key, note(section)]));
  return {
    ...{
      ...m,
      databases: m.databases ?? null,
      profile: m.profile && m.throughput ? { ...m.profile, split: writeSplit(m.throughput, m.profile) } : null,
    },
    anchor,
    targets: TARGETS,
    verdicts: {
      ...{ write: verdict(m.throughput?.met, " (§1: what dominates)"), extraRows: verdict(w?.laterPhase.met, " (§2: what dominates)") },
      ...{ extraTableRows: verdict(w?.laterPhase.tableMet), oneRoundTrip: verdict(w?.oneRoundTrip) },
      independent: verdict(w ? Math.abs(w.rowsWrittenSlope) < 0.01 : null),
      readStatements: verdict(reads === null ? null : reads <= 2 && h.round_trips_per_debug_read === 1),
      readRows: verdict(r?.multipleSizes ? new Set(r.databases.map((d) => d.pageRowsRead)).size === 1 : null),
      ...{ readLatency: verdict(r?.latencyMet), growingBytes: verdict(short?.bytesMet), growingToolBytes: verdict(tool4k?.bytesMet) },
      ...{ growingDelta: verdict(short?.deltaMet), growingToolDelta: verdict(tool4k?.deltaMet), growingPage: verdict(short?.pageMet) },
      deletion: verdict(m.deletion ? m.deletion.rowsLeft === 0 : null),
      backfill: verdict(heaviest ? !heaviest.over : null) + (heaviest && !heaviest.ample ? " → chunk (§6)" : ""),
      ...{ benchOnly: verdict(m.bundle ? m.bundle.benchOnly.length === 0 : null), anchorPage: verdict(anchor?.pageMet) },
      ...{ manyRoundTrips: verdict(m.databases?.roundTrips.met), manyPages: verdict(m.databases?.pages.sessionTurns.met) },
      ...{ manyConversationsPage: verdict(m.databases?.pages.conversations.met), placement: verdict(m.databases?.placement.met) },
      serializeSql: verdict(anchor?.parts ? within(anchor.parts.ratio ?? Number.POSITIVE_INFINITY, TARGETS.serializeSqlRatio) : null),
    },
    notes,
    headline: h,
  };
}

export type Results = ReturnType<typeof figures>;
