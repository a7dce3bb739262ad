/**
 * Held spans: an inference span whose ancestors could still change its conversation, session or
 * runtime waits in the store (store/otlp-spans.ts) until they arrive — within bounds per trace, per
 * span size and per scope — and is recorded once it resolves (recording.ts). What never resolves is
 * resolved by the scheduled handler after OTLP_HOLD_MS with the context that is known, or dropped —
 * counted and logged — when no conversation is known; the same run forgets traces idle for
 * OTLP_CONTEXT_MS (expireHeldSpans). No SQL here.
 */
import { ApiError } from "../http/errors";
import type { D1Handle, RecordingDatabases } from "../store/d1";
import { expiredHeldSpans, forgetTraces, heldSpanCount, readHeldSpans, releaseHeldSpans, type StoredTrace } from "../store/otlp-spans";
import { utf8BytesOver } from "../turn/text-size";
import { MAX_STORED_ROW_BYTES } from "../turn/snapshot";
import { mapSpans, resolveIdentity, type MappedSpan, type SpanContext } from "./genai-mapping";
import { candidateOf, type Candidate, type RefusedSpan, saveCandidates } from "./saving";
import { type RecordingScope, scopeOfKey } from "./scope";
import type { SpanRecord } from "./wire";

/** How long a held span waits for its ancestors before the scheduled handler resolves it with what is known. */
export const OTLP_HOLD_MS = 15 * 60_000;
/** How long a trace's span contexts are remembered after its last new span (a child may end after its ancestors). */
export const OTLP_CONTEXT_MS = 60 * 60_000;
/** Spans of one trace that may wait for their ancestors at once: beyond, refused in partial_success. */
export const MAX_HELD_SPANS_PER_TRACE = 1_000;
/** Spans held at once by the ingest token, and per conversation-token scope (its conversation, and session when bound): beyond, 429 with Retry-After. */
export const MAX_HELD_SPANS_INGEST = 20_000;
export const MAX_HELD_SPANS_PER_CONVERSATION = 1_000;
/** Seconds an exporter waits after 429 TOO_MANY_HELD_SPANS (held spans resolve or expire meanwhile). */
export const HELD_SPANS_RETRY_AFTER_SECONDS = 60;

/** A span's key among a request's and the store's spans: trace id and span id. */
export const traceSpanKey = (traceId: string, spanId: string) => `${traceId}/${spanId}`;

/** Logged, since no exporter waits for the answer: a held span that resolved to nothing storable. */
export function logHeldRefusal(scope: RecordingScope, refused: RefusedSpan, when: "resolved" | "expired"): void {
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

/**
 * The held spans of the stored traces that resolve now that more of their ancestors are known —
 * except those the request carries again (`carried`: its own spans, mapped with it).
 */
export function heldSpansResolvingNow(
  stored: ReadonlyMap<string, StoredTrace>,
  carried: ReadonlyMap<string, SpanContext>,
  known: (traceId: string, spanId: string) => SpanContext | undefined,
): Array<[string, string]> {
  const heldNow: Array<[string, string]> = [];
  for (const [traceId, trace] of stored) {
    for (const spanId of trace.held) {
      if (carried.has(traceSpanKey(traceId, spanId))) continue;
      const context = trace.contexts[spanId];
      if (context === undefined) continue;
      if (resolveIdentity(context, (id) => known(traceId, id)).kind !== "waiting") heldNow.push([traceId, spanId]);
    }
  }
  return heldNow;
}

/** What the request would hold — its waiting spans not held yet — within the per-trace and per-size bounds; the rest refused. */
export function spansToHold(
  mapped: readonly MappedSpan[],
  spans: readonly SpanRecord[],
  stored: ReadonlyMap<string, StoredTrace>,
): { hold: SpanRecord[]; refused: RefusedSpan[] } {
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
  return { hold, refused };
}

/**
 * The held spans' content (`heldNow`), and room for `holding` new ones in the scope — checked before
 * anything is written: beyond, 429 TOO_MANY_HELD_SPANS with Retry-After.
 */
export async function readHeldWithRoom(
  db: D1Handle,
  scope: RecordingScope,
  heldNow: ReadonlyArray<readonly [string, string]>,
  holding: number,
): Promise<{ spans: SpanRecord[]; rowsRead: number }> {
  const limit = scope.convId === null ? MAX_HELD_SPANS_INGEST : MAX_HELD_SPANS_PER_CONVERSATION;
  const second = await readHeldSpans(db, scope.key, heldNow, holding > 0 ? limit + 1 : 0);
  if (holding > 0 && second.heldInScope + holding > limit) {
    throw new ApiError(
      "TOO_MANY_HELD_SPANS",
      `${second.heldInScope} spans already wait for their ancestors and this request would hold ${holding} more; at most ${limit} may wait at once — retry after ${HELD_SPANS_RETRY_AFTER_SECONDS} s`,
      { "Retry-After": String(HELD_SPANS_RETRY_AFTER_SECONDS) },
    );
  }
  return { spans: second.spans, rowsRead: second.rowsRead };
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
      const resolved = candidateOf(scope, m, env);
      if ("refused" in resolved) {
        logHeldRefusal(scope, resolved.refused, "expired");
        report.expired_dropped += 1;
      } else {
        candidates.push(resolved.candidate);
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
