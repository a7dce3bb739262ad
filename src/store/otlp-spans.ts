/**
 * What OpenTelemetry ingestion keeps between requests (src/db/schema.ts otlpTraces, otlpHeldSpans):
 * per trace, the context its spans lend to the spans under them; and the inference spans held until
 * their ancestors arrive. Every statement takes its rows from one JSON parameter (json_each), so a
 * request costs a constant number of statements however many traces and spans it carries.
 */
import type { SpanContext } from "../otlp/genai-mapping";
import type { SpanRecord } from "../otlp/wire";
import type { otlpHeldSpans, otlpTraces } from "../db/schema";
import { jsonParameterChunks, rowsRead, rowsWritten, type D1Handle } from "./d1";
import type { Columns } from "./rows";

type TraceRow = Pick<Columns<typeof otlpTraces.$inferSelect>, "scope" | "trace_id" | "spans_json" | "span_count">;
type HeldRow = Pick<Columns<typeof otlpHeldSpans.$inferSelect>, "scope" | "trace_id" | "span_id" | "span_json" | "received_at_ms">;

/** What the store knows of a trace: its remembered span contexts, and which of its spans are held. */
export interface StoredTrace {
  contexts: Record<string, SpanContext>;
  spanCount: number;
  held: Set<string>;
}

const TRACES = `
SELECT trace_id, spans_json, span_count FROM otlp_traces
WHERE scope = ?1 AND trace_id IN (SELECT value FROM json_each(?2))`;

const HELD_IDS = `
SELECT trace_id, span_id FROM otlp_held_spans
WHERE scope = ?1 AND trace_id IN (SELECT value FROM json_each(?2))`;

/** Remembered context and held spans of the request's traces: one batch of two reads. */
export async function readTraces(
  db: D1Handle,
  scope: string,
  traceIds: readonly string[],
): Promise<{ traces: Map<string, StoredTrace>; rowsRead: number }> {
  const ids = JSON.stringify(traceIds);
  const [traceRows, heldRows] = await db.batch<unknown>([db.prepare(TRACES).bind(scope, ids), db.prepare(HELD_IDS).bind(scope, ids)]);
  const traces = new Map<string, StoredTrace>();
  const traceOf = (traceId: string) => {
    let trace = traces.get(traceId);
    if (!trace) traces.set(traceId, (trace = { contexts: {}, spanCount: 0, held: new Set() }));
    return trace;
  };
  for (const row of traceRows!.results as TraceRow[]) {
    const trace = traceOf(row.trace_id);
    trace.contexts = JSON.parse(row.spans_json) as Record<string, SpanContext>;
    trace.spanCount = row.span_count;
  }
  for (const row of heldRows!.results as Pick<HeldRow, "trace_id" | "span_id">[]) traceOf(row.trace_id).held.add(row.span_id);
  return { traces, rowsRead: rowsRead([traceRows!, heldRows!]) };
}

const HELD_SPANS = `
SELECT trace_id, span_id, span_json FROM otlp_held_spans
WHERE scope = ?1 AND (trace_id, span_id) IN (SELECT value ->> 0, value ->> 1 FROM json_each(?2))`;

/** At most `limit` rows: counting stops there, so the read costs at most that many rows. */
const COUNT_HELD = `SELECT count(*) AS held FROM (SELECT 1 FROM otlp_held_spans WHERE scope = ?1 LIMIT ?2)`;

/**
 * The held spans that can now be resolved (their content), and — when the request would hold more —
 * how many the scope holds already, counted up to `countUpTo`. One batch.
 */
export async function readHeldSpans(
  db: D1Handle,
  scope: string,
  spans: ReadonlyArray<readonly [traceId: string, spanId: string]>,
  countUpTo: number,
): Promise<{ spans: SpanRecord[]; heldInScope: number; rowsRead: number }> {
  const statements = [
    ...(spans.length > 0 ? [db.prepare(HELD_SPANS).bind(scope, JSON.stringify(spans))] : []),
    ...(countUpTo > 0 ? [db.prepare(COUNT_HELD).bind(scope, countUpTo)] : []),
  ];
  if (statements.length === 0) return { spans: [], heldInScope: 0, rowsRead: 0 };
  const results = await db.batch<unknown>(statements);
  const rows = spans.length > 0 ? (results[0]!.results as Pick<HeldRow, "span_json">[]) : [];
  const count = countUpTo > 0 ? (results.at(-1)!.results[0] as { held: number }).held : 0;
  return { spans: rows.map((r) => JSON.parse(r.span_json) as SpanRecord), heldInScope: count, rowsRead: rowsRead(results) };
}

/**
 * Span contexts merged into their trace's (json_patch: one entry per span id, replaced whole), with no
 * read before: a trace of GenAI spans is created when new (REMEMBER_TRACES), any other only merged
 * into when the store already knows it (MERGE_KNOWN_TRACES: the app's root span that arrives after
 * its held chat spans). A merge that changes nothing writes nothing — a re-sent export leaves the
 * row, its updated_at_ms included, as it was — and a trace remembering MAX_REMEMBERED spans or more
 * takes no new ones (?4).
 */
const REMEMBER_TRACES = `
INSERT INTO otlp_traces (scope, trace_id, spans_json, span_count, updated_at_ms)
SELECT ?1, value ->> 'trace_id', value -> 'spans', (SELECT count(*) FROM json_each(value -> 'spans')), ?2
FROM json_each(?3) WHERE true
ON CONFLICT (scope, trace_id) DO UPDATE SET
  spans_json = json_patch(otlp_traces.spans_json, excluded.spans_json),
  span_count = (SELECT count(*) FROM json_each(json_patch(otlp_traces.spans_json, excluded.spans_json))),
  updated_at_ms = excluded.updated_at_ms
WHERE json_patch(otlp_traces.spans_json, excluded.spans_json) <> otlp_traces.spans_json AND otlp_traces.span_count < ?4`;

const MERGE_KNOWN_TRACES = `
UPDATE otlp_traces SET
  spans_json = json_patch(otlp_traces.spans_json, n.value -> 'spans'),
  span_count = (SELECT count(*) FROM json_each(json_patch(otlp_traces.spans_json, n.value -> 'spans'))),
  updated_at_ms = ?2
FROM json_each(?3) AS n
WHERE otlp_traces.scope = ?1 AND otlp_traces.trace_id = n.value ->> 'trace_id'
  AND json_patch(otlp_traces.spans_json, n.value -> 'spans') <> otlp_traces.spans_json AND otlp_traces.span_count < ?4`;

/** The request's traces that have spans waiting for their ancestors (read in the same batch as the merge). */
const TRACES_HOLDING = `
SELECT DISTINCT trace_id FROM otlp_held_spans
WHERE scope = ?1 AND trace_id IN (SELECT value FROM json_each(?2))`;

/** A span already held stays as first received (its hold time runs from then). */
const HOLD_SPANS = `
INSERT INTO otlp_held_spans (scope, trace_id, span_id, span_json, received_at_ms)
SELECT ?1, value ->> 0, value ->> 1, value ->> 2, ?2 FROM json_each(?3) WHERE true
ON CONFLICT (scope, trace_id, span_id) DO NOTHING`;

const RELEASE_SPANS = `
DELETE FROM otlp_held_spans
WHERE scope = ?1 AND (trace_id, span_id) IN (SELECT value ->> 0, value ->> 1 FROM json_each(?2))`;

export interface TraceContexts {
  traceId: string;
  spans: Record<string, SpanContext>;
}

export interface TraceMemoryWrite {
  scope: string;
  nowMs: number;
  /** Traces the store should remember (they have GenAI spans), with the request's span contexts. */
  remember: readonly TraceContexts[];
  /** Other traces of the request: their span contexts are merged only into traces the store knows. */
  merge: readonly TraceContexts[];
  /** A trace remembering this many spans takes no new ones. */
  maxSpansPerTrace: number;
  hold?: readonly SpanRecord[];
  /** Held spans resolved (recorded or refused): no longer held. */
  release?: ReadonlyArray<readonly [traceId: string, spanId: string]>;
  /** Traces to probe for held spans (after the merge, in the same batch). */
  probe?: readonly string[];
}

/**
 * The statements of a memory write — contexts remembered, spans held and released, and (probe) which
 * traces hold spans — and how to read their results. The probe runs after the merge, so a held span
 * and the ancestor that resolves it cannot both miss each other: whichever request writes second sees
 * the other. The caller runs them (writeTraceMemory), or has saveSnapshots run them in its batch.
 */
export function traceMemoryStatements(
  db: D1Handle,
  write: TraceMemoryWrite,
): { statements: D1PreparedStatement[]; outcome: (results: readonly D1Result[]) => { rowsWritten: number; holding: Set<string> } } {
  const { scope, nowMs } = write;
  const statements: D1PreparedStatement[] = [];
  const rows = (traces: readonly TraceContexts[]) => traces.map((t) => ({ trace_id: t.traceId, spans: t.spans }));
  for (const chunk of jsonParameterChunks(rows(write.remember))) {
    statements.push(db.prepare(REMEMBER_TRACES).bind(scope, nowMs, chunk, write.maxSpansPerTrace));
  }
  for (const chunk of jsonParameterChunks(rows(write.merge))) {
    statements.push(db.prepare(MERGE_KNOWN_TRACES).bind(scope, nowMs, chunk, write.maxSpansPerTrace));
  }
  for (const chunk of jsonParameterChunks((write.hold ?? []).map((s) => [s.traceId, s.spanId, JSON.stringify(s)]))) {
    statements.push(db.prepare(HOLD_SPANS).bind(scope, nowMs, chunk));
  }
  for (const chunk of jsonParameterChunks(write.release ?? [])) statements.push(db.prepare(RELEASE_SPANS).bind(scope, chunk));
  const probe = write.probe !== undefined && write.probe.length > 0;
  if (probe) statements.push(db.prepare(TRACES_HOLDING).bind(scope, JSON.stringify(write.probe)));
  return {
    statements,
    outcome: (results) => ({
      rowsWritten: rowsWritten(results),
      holding: new Set(probe ? (results.at(-1)!.results as Array<{ trace_id: string }>).map((r) => r.trace_id) : []),
    }),
  };
}

/** Statements of traceMemoryStatements that no snapshot write carried: one batch of their own. */
export async function runStatements(db: D1Handle, statements: readonly D1PreparedStatement[]): Promise<D1Result[]> {
  return statements.length === 0 ? [] : db.batch([...statements]);
}

/** A memory write on its own: one batch (nothing when there is nothing to write). */
export async function writeTraceMemory(db: D1Handle, write: TraceMemoryWrite): Promise<{ rowsWritten: number; holding: Set<string> }> {
  const { statements, outcome } = traceMemoryStatements(db, write);
  return outcome(statements.length === 0 ? [] : await db.batch(statements));
}

// ---- Maintenance (src/scheduled.ts) ------------------------------------------------------------

const EXPIRED_HELD = `
SELECT scope, trace_id, span_id, span_json, received_at_ms FROM otlp_held_spans INDEXED BY otlp_held_spans_by_received
WHERE received_at_ms < ?1 ORDER BY received_at_ms LIMIT ?2`;

const TRACE_CONTEXTS = `
SELECT scope, trace_id, spans_json FROM otlp_traces
WHERE (scope, trace_id) IN (SELECT value ->> 0, value ->> 1 FROM json_each(?1))`;

export interface ExpiredSpan {
  scope: string;
  span: SpanRecord;
  receivedAtMs: number;
  /** The remembered contexts of its trace ({} when none). */
  contexts: Record<string, SpanContext>;
}

/** The oldest held spans received before `beforeMs` (at most `limit`), with their traces' contexts. */
export async function expiredHeldSpans(db: D1Handle, beforeMs: number, limit: number): Promise<ExpiredSpan[]> {
  const held = (await db.prepare(EXPIRED_HELD).bind(beforeMs, limit).all<HeldRow>()).results;
  if (held.length === 0) return [];
  const keys = [...new Set(held.map((h) => JSON.stringify([h.scope, h.trace_id])))].map((k) => JSON.parse(k) as [string, string]);
  const traces = (await db.prepare(TRACE_CONTEXTS).bind(JSON.stringify(keys)).all<Pick<TraceRow, "scope" | "trace_id" | "spans_json">>())
    .results;
  const contexts = new Map(
    traces.map((t) => [JSON.stringify([t.scope, t.trace_id]), JSON.parse(t.spans_json) as Record<string, SpanContext>]),
  );
  return held.map((h) => ({
    scope: h.scope,
    span: JSON.parse(h.span_json) as SpanRecord,
    receivedAtMs: h.received_at_ms,
    contexts: contexts.get(JSON.stringify([h.scope, h.trace_id])) ?? {},
  }));
}

/** Held spans of any scope, by [scope, trace_id, span_id]. */
const RELEASE_SCOPED = `
DELETE FROM otlp_held_spans
WHERE (scope, trace_id, span_id) IN (SELECT value ->> 0, value ->> 1, value ->> 2 FROM json_each(?1))`;

export async function releaseHeldSpans(db: D1Handle, spans: ReadonlyArray<readonly [string, string, string]>): Promise<void> {
  const statements = jsonParameterChunks(spans).map((chunk) => db.prepare(RELEASE_SCOPED).bind(chunk));
  if (statements.length > 0) await db.batch(statements);
}

/** Traces not changed since `beforeMs` and holding no span any more: at most `limit` forgotten per call. */
const FORGET_TRACES = `
DELETE FROM otlp_traces WHERE (scope, trace_id) IN (
  SELECT t.scope, t.trace_id FROM otlp_traces AS t INDEXED BY otlp_traces_by_updated
  WHERE t.updated_at_ms < ?1
    AND NOT EXISTS (SELECT 1 FROM otlp_held_spans AS h WHERE h.scope = t.scope AND h.trace_id = t.trace_id)
  ORDER BY t.updated_at_ms LIMIT ?2)`;

export async function forgetTraces(db: D1Handle, beforeMs: number, limit: number): Promise<number> {
  const result = await db.prepare(FORGET_TRACES).bind(beforeMs, limit).run();
  return result.meta.changes ?? 0;
}

/** Held spans now, counted up to `limit` (for the maintenance report). */
export async function heldSpanCount(db: D1Handle, limit: number): Promise<number> {
  const row = await db
    .prepare("SELECT count(*) AS held FROM (SELECT 1 FROM otlp_held_spans LIMIT ?1)")
    .bind(limit)
    .first<{ held: number }>();
  return row?.held ?? 0;
}
