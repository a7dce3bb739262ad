/**
 * Recording an OTLP trace export (POST /v1/traces) and, later, what it held: the spans are mapped
 * (genai-mapping.ts) against what the store remembers of their traces (store/otlp-spans.ts), and
 * every snapshot goes through the write path of POST /api/turns — the same request schema,
 * readSnapshot, request bounds, hashBlocks and saveSnapshots — so every rule, bound and the
 * replay-is-unchanged idempotency hold for OTLP too. No SQL here.
 *
 * A span whose ancestors could still change its conversation, session or runtime is held (and its
 * trace's span contexts remembered) until they arrive: spans of one trace may come in several
 * requests in any order — a SimpleSpanProcessor exports each span as it ends, children first — and
 * end up as the snapshots the whole trace would give at once. What never resolves is resolved by
 * the scheduled handler after OTLP_HOLD_MS with the context that is known, or dropped — counted and
 * logged — when no conversation is known.
 */
import { ApiError } from "../http/errors";
import { describeIssue } from "../http/validation";
import { SnapshotRequestSchema } from "../routes/ingest/ingest.routes";
import { type RecordingDatabases, rowsWritten } from "../store/d1";
import { StoreError } from "../store/errors";
import {
  expiredHeldSpans,
  forgetTraces,
  heldSpanCount,
  readHeldSpans,
  readTraces,
  releaseHeldSpans,
  runStatements,
  traceMemoryStatements,
  writeTraceMemory,
  type TraceContexts,
} from "../store/otlp-spans";
import { saveSnapshots, type SaveOutcome } from "../store/writes";
import { MAX_BLOCKS_PER_REQUEST, MAX_CONTENT_BYTES_PER_REQUEST, requestCost } from "../turn/limits";
import { utf8BytesOver } from "../turn/text-size";
import { MAX_STORED_ROW_BYTES, hashBlocks, readSnapshot, type PreparedSnapshot, type SnapshotRequest } from "../turn/snapshot";
import { TurnFormatError } from "../turn/turn";
import { contextOf, isGenAiSpan, isInferenceSpan, mapSpans, resolveIdentity, type MappedSpan, type SpanContext } from "./genai-mapping";
import type { SpanRecord } from "./wire";

/** How long a held span waits for its ancestors before the scheduled handler resolves it with what is known. */
export const OTLP_HOLD_MS = 15 * 60_000;
/** How long a trace's span contexts are remembered after its last new span (a child may end after its ancestors). */
export const OTLP_CONTEXT_MS = 60 * 60_000;
/** Inference spans one request may carry (each is a snapshot): beyond, 413. */
export const MAX_INFERENCE_SPANS_PER_REQUEST = 1_000;
/** Spans of one trace that may wait for their ancestors at once: beyond, refused in partial_success. */
export const MAX_HELD_SPANS_PER_TRACE = 1_000;
/** Span contexts remembered per trace (about): beyond, new spans of the trace lend nothing to later requests. */
export const MAX_REMEMBERED_SPANS_PER_TRACE = 5_000;
/** Spans held at once by the ingest token, and per conversation-token scope (its conversation, and session when bound): beyond, 429 with Retry-After. */
export const MAX_HELD_SPANS_INGEST = 20_000;
export const MAX_HELD_SPANS_PER_CONVERSATION = 1_000;
/** Seconds an exporter waits after 429 TOO_MANY_HELD_SPANS (held spans resolve or expire meanwhile). */
export const HELD_SPANS_RETRY_AFTER_SECONDS = 60;
/** Snapshots saved per saveSnapshots call (as a batch request: POST /api/turns/batch takes 100). */
export const SNAPSHOTS_PER_SAVE = 100;

// ---- Who records: the scope of remembered context and held spans -----------------------------

/**
 * The ingest token records anything ("ingest"); a conversation token only its conversation (and
 * session, when bound). Context and held spans are kept per scope, so no caller lends context to
 * another's spans.
 */
export interface RecordingScope {
  key: string;
  convId: string | null;
  sessionId: string | null;
  /** A conversation token's issue time: its conversation deleted since refuses it (CONTRACT §6.3). */
  tokenIssuedAtMs?: number;
}

export const INGEST_SCOPE: RecordingScope = { key: "ingest", convId: null, sessionId: null };

export function conversationScope(convId: string, sessionId: string | null, tokenIssuedAtMs?: number): RecordingScope {
  return { key: `conversation ${JSON.stringify([convId, sessionId])}`, convId, sessionId, tokenIssuedAtMs };
}

/** The scope of a stored key (the scheduled handler resolves held spans of every scope). */
export function scopeOfKey(key: string): RecordingScope {
  if (!key.startsWith("conversation ")) return INGEST_SCOPE;
  const [convId, sessionId] = JSON.parse(key.slice("conversation ".length)) as [string, string | null];
  return conversationScope(convId, sessionId);
}

function scopeProblem(scope: RecordingScope, request: SnapshotRequest): string | null {
  if (scope.convId !== null && request.conv_id !== scope.convId) return "its conversation is not the one this token is for";
  if (scope.sessionId !== null && request.session_id !== scope.sessionId) return "its session is not the one this token is for";
  return null;
}

// ---- Spans → prepared snapshots (the write path of POST /api/turns) ---------------------------

/** A span that was not recorded, and why (partial_success explains it). */
export interface RefusedSpan {
  traceId: string;
  spanId: string;
  reason: string;
}

interface Candidate {
  span: { traceId: string; spanId: string };
  snapshot: PreparedSnapshot;
}

/** A resolved span's snapshot through the route's schema and the turn reader: the rules of POST /api/turns. */
function prepare(
  scope: RecordingScope,
  request: SnapshotRequest,
  options: { nowMs: number; maxClockSkewMs: number },
): { snapshot: PreparedSnapshot } | { reason: string } {
  const parsed = SnapshotRequestSchema.safeParse(request);
  if (!parsed.success) return { reason: describeIssue(parsed.error.issues[0]!).message };
  const outside = scopeProblem(scope, parsed.data);
  if (outside) return { reason: outside };
  try {
    const snapshot = readSnapshot(parsed.data, { ...options, prefix: "" });
    requestCost([snapshot]);
    return { snapshot };
  } catch (error) {
    if (error instanceof TurnFormatError) return { reason: error.message };
    throw error;
  }
}

/** Snapshots in groups within the request bounds of one write (limits.ts), at most SNAPSHOTS_PER_SAVE each. */
function saveGroups(candidates: readonly Candidate[]): Candidate[][] {
  const groups: Candidate[][] = [];
  let group: Candidate[] = [];
  let listed = 0;
  // UTF-16 units of the group's distinct content: at most 3 UTF-8 bytes each (as limits.ts bounds it).
  let units = 0;
  let seen = new Set<string>();
  const costOf = (s: PreparedSnapshot) => {
    let cost = s.metadataJson.length + s.dataJson.length + s.extraJson.length;
    const keys: string[] = [];
    for (const b of s.blocks) {
      const key = `${b.id}\u0000${b.payloadJson}\u0000${b.metadataJson}`;
      if (b.ref || seen.has(key)) continue;
      keys.push(key);
      cost += b.payloadJson.length + b.metadataJson.length;
    }
    return { cost, keys };
  };
  for (const candidate of candidates) {
    const s = candidate.snapshot;
    let { cost, keys } = costOf(s);
    const full =
      group.length >= SNAPSHOTS_PER_SAVE ||
      listed + s.blocks.length > MAX_BLOCKS_PER_REQUEST ||
      (units + cost) * 3 > MAX_CONTENT_BYTES_PER_REQUEST;
    if (full && group.length > 0) {
      groups.push(group);
      group = [];
      listed = 0;
      units = 0;
      seen = new Set();
      ({ cost, keys } = costOf(s));
    }
    group.push(candidate);
    listed += s.blocks.length;
    units += cost;
    for (const key of keys) seen.add(key);
  }
  if (group.length > 0) groups.push(group);
  return groups;
}

/** A store refusal that concerns the snapshots (4xx), not the database's health. */
const isRefusal = (error: unknown): error is StoreError | TurnFormatError =>
  (error instanceof StoreError && error.code !== "UNAVAILABLE") || error instanceof TurnFormatError;

export interface SaveReport {
  saved: Array<{ snapshot: PreparedSnapshot; outcome: SaveOutcome }>;
  refused: Array<RefusedSpan>;
  rowsWritten: number;
  rowsRead: number;
  /** Block path nodes the snapshots added: their new blocks (history they repeat adds none). */
  nodesAdded: number;
  /** Results of the `alongside` statements (run in the first write, or on their own). */
  alongside: D1Result[];
}

/**
 * Saves the candidates group by group (each one saveSnapshots: one batch, all or nothing). A group
 * the store refuses (a conflicting snapshot, a conversation being deleted…) is saved again item by
 * item, so only the spans at fault are refused. A transient failure propagates: the exporter retries,
 * and what was saved already replays unchanged.
 */
async function saveCandidates(
  dbs: RecordingDatabases,
  scope: RecordingScope,
  candidates: readonly Candidate[],
  alongside: readonly D1PreparedStatement[] = [],
): Promise<SaveReport> {
  const report: SaveReport = { saved: [], refused: [], rowsWritten: 0, rowsRead: 0, nodesAdded: 0, alongside: [] };
  // The caller's statements (the trace memory, in the directory database) ride along with the first
  // write that succeeds in that database (see saveSnapshots); else they run on their own.
  let pending = alongside;
  const save = async (group: readonly Candidate[]) => {
    const hashed = await Promise.all(group.map((c) => hashBlocks(c.snapshot)));
    const result = await dbs.write(hashed[0]!.convId, async (db) => {
      const withMemory = pending.length > 0 && db === dbs.memory;
      const saved = await saveSnapshots(db, hashed, { tokenIssuedAtMs: scope.tokenIssuedAtMs, alongside: withMemory ? pending : [] });
      if (withMemory) {
        report.alongside = saved.alongside;
        pending = [];
      }
      return saved;
    });
    report.rowsWritten += result.rowsWritten;
    report.rowsRead += result.rowsRead;
    report.nodesAdded += result.nodesAdded;
    hashed.forEach((snapshot, i) => report.saved.push({ snapshot, outcome: result.outcomes[i]! }));
  };
  // One conversation per save: a conversation lives in one database.
  const byConversation = new Map<string, Candidate[]>();
  for (const c of candidates) byConversation.set(c.snapshot.convId, [...(byConversation.get(c.snapshot.convId) ?? []), c]);
  for (const group of [...byConversation.values()].flatMap(saveGroups)) {
    try {
      await save(group);
    } catch (error) {
      if (!isRefusal(error)) throw error;
      for (const candidate of group) {
        try {
          await save([candidate]);
        } catch (single) {
          if (!isRefusal(single)) throw single;
          report.refused.push({ ...candidate.span, reason: single.message });
        }
      }
    }
  }
  if (pending.length > 0) {
    report.alongside = await runStatements(dbs.memory, pending);
    report.rowsWritten += rowsWritten(report.alongside);
  }
  return report;
}

// ---- One export request -----------------------------------------------------------------------

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

const traceSpanKey = (traceId: string, spanId: string) => `${traceId}/${spanId}`;

/** Logged, since no exporter waits for the answer: a held span that resolved to nothing storable. */
function logHeldRefusal(scope: RecordingScope, refused: RefusedSpan, when: "resolved" | "expired"): void {
  console.warn(
    JSON.stringify({
      level: "warn",
      event: "otlp_held_span_dropped",
      when,
      scope: scope.convId === null ? "ingest" : "conversation",
      conv_id: scope.convId ?? undefined,
      trace_id: refused.traceId,
      span_id: refused.spanId,
      reason: refused.reason,
    }),
  );
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
  options: { nowMs: number; maxClockSkewMs: number },
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
    const ids = { traceId: m.traceId, spanId: m.spanId };
    const outcome = m.outcome === "refused" ? { reason: m.reason } : prepare(scope, m.request, options);
    if ("reason" in outcome) result.refused.push({ ...ids, reason: outcome.reason });
    else candidates.push({ span: ids, snapshot: outcome.snapshot });
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
 * Records `spans` against what the store remembers of their traces (and of `moreTraces`): the
 * request's spans that still wait are held, held spans that now resolve are recorded and released.
 */
async function recordWithMemory(
  dbs: RecordingDatabases,
  scope: RecordingScope,
  spans: readonly SpanRecord[],
  moreTraces: readonly string[],
  options: { nowMs: number; maxClockSkewMs: number },
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
  const heldNow: Array<[string, string]> = [];
  for (const [traceId, trace] of stored) {
    for (const spanId of trace.held) {
      if (requestContexts.has(traceSpanKey(traceId, spanId))) continue;
      const context = trace.contexts[spanId];
      if (context === undefined) continue;
      if (resolveIdentity(context, (id) => known(traceId, id)).kind !== "waiting") heldNow.push([traceId, spanId]);
    }
  }

  // What this request would hold, within the per-trace and per-size bounds.
  const refused: RefusedSpan[] = [];
  const hold: SpanRecord[] = [];
  const spanOf = new Map(spans.map((s) => [traceSpanKey(s.traceId, s.spanId), s]));
  const heldPerTrace = new Map<string, number>();
  for (const m of mapped) {
    if (m.outcome !== "waiting" || stored.get(m.traceId)?.held.has(m.spanId)) continue;
    const span = spanOf.get(traceSpanKey(m.traceId, m.spanId))!;
    const inTrace = (heldPerTrace.get(m.traceId) ?? stored.get(m.traceId)?.held.size ?? 0) + 1;
    if (inTrace > MAX_HELD_SPANS_PER_TRACE) {
      refused.push({ ...m, reason: `more than ${MAX_HELD_SPANS_PER_TRACE} spans of this trace wait for their ancestors` });
      continue;
    }
    if (utf8BytesOver([JSON.stringify(span)], MAX_STORED_ROW_BYTES) !== null) {
      refused.push({
        ...m,
        reason: `the span waits for its ancestors but is larger than ${MAX_STORED_ROW_BYTES} bytes, more than can be held`,
      });
      continue;
    }
    heldPerTrace.set(m.traceId, inTrace);
    hold.push(span);
  }

  // The held spans' content, and room for the new ones (checked before anything is written).
  const limit = scope.convId === null ? MAX_HELD_SPANS_INGEST : MAX_HELD_SPANS_PER_CONVERSATION;
  const second = await readHeldSpans(db, scope.key, heldNow, hold.length > 0 ? limit + 1 : 0);
  if (hold.length > 0 && second.heldInScope + hold.length > limit) {
    throw new ApiError(
      "TOO_MANY_HELD_SPANS",
      `${second.heldInScope} spans already wait for their ancestors and this request would hold ${hold.length} more; at most ${limit} may wait at once — retry after ${HELD_SPANS_RETRY_AFTER_SECONDS} s`,
      { "Retry-After": String(HELD_SPANS_RETRY_AFTER_SECONDS) },
    );
  }
  const released: Array<[string, string]> = [];
  const heldMapped = mapSpans(second.spans, known);
  for (const m of heldMapped) if (m.outcome !== "waiting") released.push([m.traceId, m.spanId]);
  // A held span the request carries again and resolves is released too.
  for (const m of mapped) if (m.outcome !== "waiting" && stored.get(m.traceId)?.held.has(m.spanId)) released.push([m.traceId, m.spanId]);

  // Snapshots: the request's resolved spans (refusals counted) and the released ones (refusals logged).
  const candidates: Candidate[] = [];
  const fromRequest = new Set<string>();
  const consider = (m: MappedSpan, mine: boolean) => {
    if (m.outcome === "waiting") return;
    const ids = { traceId: m.traceId, spanId: m.spanId };
    const outcome = m.outcome === "refused" ? { reason: m.reason } : prepare(scope, m.request, options);
    if ("reason" in outcome) {
      if (mine) refused.push({ ...ids, reason: outcome.reason });
      else logHeldRefusal(scope, { ...ids, reason: outcome.reason }, "resolved");
      return;
    }
    if (mine) fromRequest.add(traceSpanKey(m.traceId, m.spanId));
    candidates.push({ span: ids, snapshot: outcome.snapshot });
  };
  for (const m of mapped) consider(m, true);
  for (const m of heldMapped) consider(m, false);
  const saved = await saveCandidates(dbs, scope, candidates);
  for (const r of saved.refused) {
    if (fromRequest.has(traceSpanKey(r.traceId, r.spanId))) refused.push(r);
    else logHeldRefusal(scope, r, "resolved");
  }

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
  if (again && heldTraces.length > 0) {
    // Did an ancestor arrive between our read and our write? Look once more (only the held traces).
    const more = await recordWithMemory(dbs, scope, [], heldTraces, options, false);
    result.released += more.released;
    result.saved.push(...more.saved);
    result.rowsWritten += more.rowsWritten;
    result.rowsRead += more.rowsRead;
    result.nodesAdded += more.nodesAdded;
    result.held -= Math.min(result.held, more.released);
  }
  return result;
}

// ---- Held spans that expired (the scheduled handler) ----------------------------------------

/** Expired held spans resolved per scheduled run. */
export const HELD_EXPIRY_PER_RUN = 500;
/** Traces forgotten per scheduled run. */
export const TRACES_FORGOTTEN_PER_RUN = 1_000;
/** Held spans counted for the maintenance report (at most). */
export const HELD_COUNT_LIMIT = 100_000;

export interface OtlpMaintenance {
  /** Held spans that expired and were recorded with the context known (or were already stored). */
  expired_recorded: number;
  /** Held spans that expired with no conversation known (or that could not be stored): logged one by one. */
  expired_dropped: number;
  traces_forgotten: number;
  /** Spans waiting for their ancestors after this run (counted up to HELD_COUNT_LIMIT). */
  held_spans: number;
}

/**
 * Held spans older than OTLP_HOLD_MS, oldest first (at most HELD_EXPIRY_PER_RUN): resolved with the
 * context that is known (a missing ancestor counts as the top of the trace), recorded when that names
 * a conversation, otherwise dropped — each drop logged, and counted in the report. Then traces not
 * changed for OTLP_CONTEXT_MS and holding nothing are forgotten.
 */
export async function expireHeldSpans(dbs: RecordingDatabases, env: { nowMs: number; maxClockSkewMs: number }): Promise<OtlpMaintenance> {
  const db = dbs.memory;
  const report: OtlpMaintenance = { expired_recorded: 0, expired_dropped: 0, traces_forgotten: 0, held_spans: 0 };
  const expired = await expiredHeldSpans(db, env.nowMs - OTLP_HOLD_MS, HELD_EXPIRY_PER_RUN);
  const byScope = new Map<string, typeof expired>();
  for (const e of expired) byScope.set(e.scope, [...(byScope.get(e.scope) ?? []), e]);
  for (const [key, items] of byScope) {
    const scope = scopeOfKey(key);
    const candidates: Candidate[] = [];
    for (const { span, contexts } of items) {
      const [m] = mapSpans([span], (_trace, spanId) => contexts[spanId], { cut: true });
      if (!m || m.outcome === "waiting") continue;
      const ids = { traceId: span.traceId, spanId: span.spanId };
      const outcome = m.outcome === "refused" ? { reason: m.reason } : prepare(scope, m.request, env);
      if ("reason" in outcome) {
        logHeldRefusal(scope, { ...ids, reason: outcome.reason }, "expired");
        report.expired_dropped += 1;
      } else {
        candidates.push({ span: ids, snapshot: outcome.snapshot });
      }
    }
    const saved = await saveCandidates(dbs, scope, candidates);
    report.expired_recorded += saved.saved.length;
    for (const r of saved.refused) {
      logHeldRefusal(scope, r, "expired");
      report.expired_dropped += 1;
    }
    await releaseHeldSpans(
      db,
      items.map((e) => [key, e.span.traceId, e.span.spanId] as const),
    );
  }
  report.traces_forgotten = await forgetTraces(db, env.nowMs - OTLP_CONTEXT_MS, TRACES_FORGOTTEN_PER_RUN);
  report.held_spans = await heldSpanCount(db, HELD_COUNT_LIMIT);
  return report;
}
