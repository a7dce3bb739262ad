/**
 * The GenAI mapping (src/otlp/genai-mapping.ts) from its case table: spans (with defaults filled
 * in) and remembered ancestors in, each inference span's outcome out — the snapshot's identity,
 * runtime, inference, blocks and model metadata, or why it waits or is refused. Runs in workerd.
 */
import { describe, expect, it } from "vitest";
import cases from "../../fixtures/otlp-mapping-cases.json";
import { contextOf, mapSpans, type MappedSpan, type SpanContext } from "../../../src/otlp/genai-mapping";
import type { Attributes, SpanRecord } from "../../../src/otlp/wire";

interface CaseSpan {
  trace_id?: string;
  span_id: string;
  parent_span_id?: string;
  parent_is_remote?: boolean;
  name?: string;
  end_time_unix_nano?: string;
  status_code?: number;
  attributes?: Record<string, unknown>;
}

interface Expected {
  span_id: string;
  outcome: "snapshot" | "waiting" | "refused";
  ancestor?: string;
  reason?: string;
  conv_id?: string;
  session_id?: string;
  turn_id?: string;
  phase?: string;
  created_at_ms?: number;
  runtime_key?: string;
  inference_id?: string;
  blocks?: unknown[];
  gen_ai?: Record<string, unknown>;
}

interface Case {
  name: string;
  spans: CaseSpan[];
  remembered?: Record<string, [string, 0 | 1, Record<string, string>]>;
  cut?: boolean;
  expect: Expected[];
}

const TRACE = cases.default_trace_id;

function spanRecord(s: CaseSpan): SpanRecord {
  return {
    traceId: s.trace_id ?? TRACE,
    spanId: s.span_id,
    parentSpanId: s.parent_span_id ?? "",
    parentIsRemote: s.parent_is_remote ?? false,
    name: s.name ?? "chat gpt-4o",
    kind: 3,
    startTimeUnixNano: "1767225600000000000",
    endTimeUnixNano: s.end_time_unix_nano ?? cases.default_end_time_unix_nano,
    attributes: (s.attributes ?? {}) as Attributes,
    statusCode: s.status_code ?? 0,
  };
}

/** The outcome in the table's words: only the fields the case names are compared. */
function observed(m: MappedSpan, want: Expected): Record<string, unknown> {
  const got: Record<string, unknown> = { span_id: m.spanId, outcome: m.outcome };
  if (m.outcome === "waiting") got.ancestor = m.ancestor;
  if (m.outcome === "refused") got.reason = m.reason;
  if (m.outcome === "snapshot") {
    const r = m.request;
    const turn = r.turn as { id: string; blocks: unknown[]; metadata: Record<string, unknown> };
    expect(turn.id).toBe(r.turn_id);
    Object.assign(got, {
      conv_id: r.conv_id,
      session_id: r.session_id,
      turn_id: r.turn_id,
      phase: r.phase,
      created_at_ms: r.created_at_ms,
      runtime_key: r.runtime_key,
      inference_id: r.inference_id,
      blocks: turn.blocks,
      gen_ai: turn.metadata["turnstore.gen_ai@v1"],
    });
  }
  return Object.fromEntries(Object.keys(want).map((key) => [key, got[key]]));
}

describe("GenAI span mapping — case table", () => {
  const table = cases.cases as unknown as Case[];

  it("has a table of at least 25 cases", () => {
    expect(table.length).toBeGreaterThanOrEqual(25);
  });

  it.each(table)("$name", (c) => {
    const remembered = (traceId: string, spanId: string): SpanContext | undefined =>
      traceId === TRACE ? c.remembered?.[spanId] : undefined;
    const mapped = mapSpans(c.spans.map(spanRecord), remembered, { cut: c.cut });
    expect(mapped.map((m) => m.spanId)).toEqual(c.expect.map((e) => e.span_id));
    mapped.forEach((m, i) => expect(observed(m, c.expect[i]!)).toEqual(c.expect[i]));
  });
});

describe("GenAI span mapping — arrival order", () => {
  const c = (cases.cases as unknown as Case[]).find((x) => x.name.startsWith("AI SDK 7 tool loop"))!;
  const spans = c.spans.map(spanRecord);
  const whole = mapSpans(spans).filter((m) => m.outcome === "snapshot");

  /** One span per request, in `order`: waiting spans held and offered again, contexts remembered. */
  function spanBySpan(order: readonly SpanRecord[]): Map<string, MappedSpan> {
    const memory = new Map<string, SpanContext>();
    const done = new Map<string, MappedSpan>();
    let held: SpanRecord[] = [];
    for (const span of order) {
      memory.set(span.spanId, contextOf(span));
      const request = [span, ...held];
      held = [];
      for (const m of mapSpans(request, (_trace, id) => memory.get(id))) {
        if (m.outcome === "waiting") held.push(request.find((s) => s.spanId === m.spanId)!);
        else done.set(m.spanId, m);
      }
    }
    expect(held).toEqual([]);
    return done;
  }

  it("the whole trace at once gives both inference snapshots", () => {
    expect(whole.map((m) => m.spanId)).toEqual(c.expect.map((e) => e.span_id));
  });

  it("span by span, children first (a SimpleSpanProcessor), gives the same snapshots", () => {
    const done = spanBySpan(spans);
    expect(whole.map((m) => done.get(m.spanId))).toEqual(whole);
  });

  it("span by span, ancestors first, gives the same snapshots", () => {
    const done = spanBySpan([...spans].reverse());
    expect(whole.map((m) => done.get(m.spanId))).toEqual(whole);
  });
});
