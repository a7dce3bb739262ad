/**
 * Recording an OTLP trace export (POST /v1/traces) and, later, what it held: the spans are mapped
 * (genai-mapping.ts) against what the store remembers of their traces (store/otlp-spans.ts), and
 * every snapshot goes through the write path of POST /api/turns (saving.ts) — so every rule, bound
 * and the replay-is-unchanged idempotency hold for OTLP too. No SQL here.
 *
 * A span whose ancestors could still change its conversation, session or runtime is held (and its
 * trace's span contexts remembered) until they arrive: spans of one trace may come in several
 * requests in any order — a SimpleSpanProcessor exports each span as it ends, children first — and
 * end up as the snapshots the whole trace would give at once. Holding, its bounds, and what the
 * scheduled handler does with spans that never resolve: held-spans.ts. Who records: scope.ts.
 */
import { ApiError } from "../http/errors";
import type { RecordingDatabases } from "../store/d1";
import { readTraces, traceMemoryStatements, writeTraceMemory, type StoredTrace, type TraceContexts } from "../store/otlp-spans";
import { contextOf, isGenAiSpan, isInferenceSpan, mapSpans, type MappedSpan, type SpanContext } from "./genai-mapping";
import { heldSpansResolvingNow, logHeldRefusal, readHeldWithRoom, spansToHold, traceSpanKey } from "./held-spans";
import { candidateOf, type Candidate, type RefusedSpan, type SaveReport, saveCandidates } from "./saving";
import type { RecordingScope } from "./scope";
import type { SpanRecord } from "./wire";

/** Inference spans one request may carry (each is a snapshot): beyond, 413. */
export const MAX_INFERENCE_SPANS_PER_REQUEST = 1_000;
/** Span contexts remembered per trace (about): beyond, new spans of the trace lend nothing to later requests. */
export const MAX_REMEMBERED_SPANS_PER_TRACE = 5_000;

type RecordOptions = { nowMs: number; maxClockSkewMs: number };

export interface ExportResult {
  saved: SaveReport["saved"];
  /** Spans of the request not recorded: partial_success counts and explains them. */
  refused: RefusedSpan[];
  /** Spans of the request now waiting for their ancestors (accepted: recorded when they resolve). */
  held: number;
  /** Spans held by earlier requests that this one resolved (recorded, or refused and logged). */
  released: number;
  rowsWritten: number;
  rowsRead: number;
  nodesAdded: number;
}

/** The request's span contexts by trace: GenAI traces to remember, the others to merge into known traces. */
function traceContexts(spans: readonly SpanRecord[]): { remember: TraceContexts[]; merge: TraceContexts[] } {
  const byTrace = new Map<string, { genAi: boolean; spans: Record<string, SpanContext> }>();
  for (const span of spans) {
    let trace = byTrace.get(span.traceId);
    if (!trace) byTrace.set(span.traceId, (trace = { genAi: false, spans: {} }));
    trace.genAi ||= isGenAiSpan(span);
    trace.spans[span.spanId] = contextOf(span);
  }
  const remember: TraceContexts[] = [];
  const merge: TraceContexts[] = [];
  for (const [traceId, trace] of byTrace) (trace.genAi ? remember : merge).push({ traceId, spans: trace.spans });
  return { remember, merge };
}

function emptyResult(): ExportResult {
  return { saved: [], refused: [], held: 0, released: 0, rowsWritten: 0, rowsRead: 0, nodesAdded: 0 };
}

function addResult(into: ExportResult, more: ExportResult): void {
  into.saved.push(...more.saved);
  into.refused.push(...more.refused);
  into.held += more.held;
  into.released += more.released;
  into.rowsWritten += more.rowsWritten;
  into.rowsRead += more.rowsRead;
  into.nodesAdded += more.nodesAdded;
}

/**
 * Records an export. When every inference span resolves within the request (a whole trace, or spans
 * that carry their own conversation), nothing needs reading first: the snapshots are saved while,
 * in parallel, the traces' contexts are remembered and probed for spans held by earlier requests;
 * only if some are held (their ancestors just arrived) is the store read to resolve them. Otherwise
 * the store's memory of the request's traces is read first (recordWithMemory).
 */
export async function recordExport(
  dbs: RecordingDatabases,
  scope: RecordingScope,
  spans: readonly SpanRecord[],
  options: RecordOptions,
): Promise<ExportResult> {
  const db = dbs.memory;
  const inferenceCount = spans.filter(isInferenceSpan).length;
  if (inferenceCount > MAX_INFERENCE_SPANS_PER_REQUEST) {
    throw new ApiError(
      "PAYLOAD_TOO_LARGE",
      `the request carries ${inferenceCount} inference spans; at most ${MAX_INFERENCE_SPANS_PER_REQUEST} per request — export smaller batches (BatchSpanProcessor maxExportBatchSize)`,
    );
  }
  const alone = mapSpans(spans);
  if (alone.some((m) => m.outcome === "waiting")) return recordWithMemory(dbs, scope, spans, [], options);

  const result = emptyResult();
  const candidates: Candidate[] = [];
  for (const m of alone) {
    if (m.outcome === "waiting") continue;
    const resolved = candidateOf(scope, m, options);
    if ("refused" in resolved) result.refused.push(resolved.refused);
    else candidates.push(resolved.candidate);
  }
  // The traces' contexts remembered and probed in the snapshots' own batch: one round trip.
  const memoryWrite = traceMemoryStatements(db, {
    scope: scope.key,
    nowMs: options.nowMs,
    ...traceContexts(spans),
    maxSpansPerTrace: MAX_REMEMBERED_SPANS_PER_TRACE,
    probe: [...new Set(spans.map((s) => s.traceId))],
  });
  const saved = await saveCandidates(dbs, scope, candidates, memoryWrite.statements);
  const memory = memoryWrite.outcome(saved.alongside);
  result.saved.push(...saved.saved);
  result.refused.push(...saved.refused);
  result.rowsWritten += saved.rowsWritten;
  result.rowsRead += saved.rowsRead;
  result.nodesAdded += saved.nodesAdded;
  // Spans held by earlier requests in these traces: this request may have brought their ancestors.
  if (memory.holding.size > 0) addResult(result, await recordWithMemory(dbs, scope, [], [...memory.holding], options));
  return result;
}

/**
 * The request's resolved spans and the held spans released now, saved together. Refusals of the
 * request's spans go into `refused` (partial_success answers them); a held span's are logged, as no
 * exporter waits for them. The save's own refusals are sorted the same way.
 */
async function saveResolved(
  dbs: RecordingDatabases,
  scope: RecordingScope,
  mapped: readonly MappedSpan[],
  heldMapped: readonly MappedSpan[],
  options: RecordOptions,
  refused: RefusedSpan[],
): Promise<SaveReport> {
  const candidates: Candidate[] = [];
  const fromRequest = new Set<string>();
  const consider = (m: MappedSpan, mine: boolean) => {
    if (m.outcome === "waiting") return;
    const resolved = candidateOf(scope, m, options);
    if ("refused" in resolved) {
      if (mine) refused.push(resolved.refused);
      else logHeldRefusal(scope, resolved.refused, "resolved");
      return;
    }
    if (mine) fromRequest.add(traceSpanKey(m.traceId, m.spanId));
    candidates.push(resolved.candidate);
  };
  for (const m of mapped) consider(m, true);
  for (const m of heldMapped) consider(m, false);
  const saved = await saveCandidates(dbs, scope, candidates);
  for (const r of saved.refused) {
    if (fromRequest.has(traceSpanKey(r.traceId, r.spanId))) refused.push(r);
    else logHeldRefusal(scope, r, "resolved");
  }
  return saved;
}

/** The held spans to release: those that resolve now, and those the request carries again and resolves. */
function releasedSpans(
  mapped: readonly MappedSpan[],
  heldMapped: readonly MappedSpan[],
  stored: ReadonlyMap<string, StoredTrace>,
): Array<[string, string]> {
  const released: Array<[string, string]> = [];
  for (const m of heldMapped) if (m.outcome !== "waiting") released.push([m.traceId, m.spanId]);
  for (const m of mapped) if (m.outcome !== "waiting" && stored.get(m.traceId)?.held.has(m.spanId)) released.push([m.traceId, m.spanId]);
  return released;
}

/**
 * Records `spans` against what the store remembers of their traces (and of `moreTraces`): the
 * request's spans that still wait are held, held spans that now resolve are recorded and released.
 */
async function recordWithMemory(
  dbs: RecordingDatabases,
  scope: RecordingScope,
  spans: readonly SpanRecord[],
  moreTraces: readonly string[],
  options: RecordOptions,
  again = true,
): Promise<ExportResult> {
  const db = dbs.memory;
  const traceIds = [...new Set([...spans.map((s) => s.traceId), ...moreTraces])];
  const { traces: stored, rowsRead: firstRead } = await readTraces(db, scope.key, traceIds);

  const requestContexts = new Map<string, SpanContext>();
  for (const span of spans) requestContexts.set(traceSpanKey(span.traceId, span.spanId), contextOf(span));
  const known = (traceId: string, spanId: string): SpanContext | undefined =>
    requestContexts.get(traceSpanKey(traceId, spanId)) ?? stored.get(traceId)?.contexts[spanId];

  // The request's inference spans, and the held spans of its traces that may resolve now.
  const mapped = mapSpans(spans, known);
  const heldNow = heldSpansResolvingNow(stored, requestContexts, known);
  // What this request would hold, within the per-trace and per-size bounds; then the held spans'
  // content, and room for the new ones (checked before anything is written).
  const { hold, refused } = spansToHold(mapped, spans, stored);
  const second = await readHeldWithRoom(db, scope, heldNow, hold.length);
  const heldMapped = mapSpans(second.spans, known);
  const released = releasedSpans(mapped, heldMapped, stored);
  const saved = await saveResolved(dbs, scope, mapped, heldMapped, options, refused);

  // Remembered after the snapshots are saved (a released span must be recorded first); the traces
  // that hold spans are probed after the write, so an ancestor written meanwhile by another request
  // is seen (and resolves them below) whichever of the two requests commits second.
  const heldTraces = [...new Set(hold.map((s) => s.traceId))];
  const memory = await writeTraceMemory(db, {
    scope: scope.key,
    nowMs: options.nowMs,
    ...traceContexts(spans),
    maxSpansPerTrace: MAX_REMEMBERED_SPANS_PER_TRACE,
    hold,
    release: released,
    probe: heldTraces,
  });
  const result: ExportResult = {
    saved: saved.saved,
    refused,
    held: hold.length,
    released: released.length,
    rowsWritten: saved.rowsWritten + memory.rowsWritten,
    rowsRead: firstRead + second.rowsRead + saved.rowsRead,
    nodesAdded: saved.nodesAdded,
  };
  if (again && heldTraces.length > 0) await lookAgain(dbs, scope, heldTraces, options, result);
  return result;
}

/** Did an ancestor arrive between our read and our write? Look once more (only the held traces). */
async function lookAgain(
  dbs: RecordingDatabases,
  scope: RecordingScope,
  heldTraces: readonly string[],
  options: RecordOptions,
  result: ExportResult,
): Promise<void> {
  const more = await recordWithMemory(dbs, scope, [], heldTraces, options, false);
  result.released += more.released;
  result.saved.push(...more.saved);
  result.rowsWritten += more.rowsWritten;
  result.rowsRead += more.rowsRead;
  result.nodesAdded += more.nodesAdded;
  result.held -= Math.min(result.held, more.released);
}
