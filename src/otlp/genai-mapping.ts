/**
 * OpenTelemetry GenAI spans → turn snapshots (CONTRACT §6.5). Pure; no I/O: every rule of the
 * mapping is here or in genai-attributes.ts (what a span's attributes hold), tested by the case table
 * test/fixtures/otlp-mapping-cases.json.
 *
 * Which spans: an inference span — gen_ai.operation.name chat, generate_content or text_completion
 * (the AI SDK 7's `chat {model}` spans), or the legacy AI SDK's ai.generateText.doGenerate /
 * ai.streamText.doStream — becomes one snapshot. Every other span only lends its context (below) to
 * the spans under it.
 *
 * Identity: conv_id, session_id and runtime_key come from the span and its ancestors (resolveIdentity);
 * turn_id is the trace id (one turn per agent invocation); created_at_ms the span's end time (ms);
 * phase `inference:<span id>` — the span id is what tells two inference spans of one trace apart,
 * also when they end in the same millisecond, so every inference span is its own snapshot and a
 * re-sent span is the same snapshot (a replay). inference_id: gen_ai.response.id (AI SDK:
 * ai.response.id), else the span id.
 *
 * Blocks and model truth are read from the span's attributes by genai-attributes.ts.
 */
import type { SnapshotRequest } from "../turn/snapshot";
import { GEN_AI_METADATA_KEY } from "../turn/gen-ai-models";
import { blocksOf, EDGE_SPACE, genAiMetadataOf, text } from "./genai-attributes";
import type { AttributeValue, SpanRecord } from "./wire";

// ---- Which spans ---------------------------------------------------------------------------

const INFERENCE_OPERATIONS: ReadonlySet<string> = new Set(["chat", "generate_content", "text_completion"]);
const LEGACY_INFERENCE_OPERATIONS: ReadonlySet<string> = new Set(["ai.generateText.doGenerate", "ai.streamText.doStream"]);

/** A span that becomes a snapshot. */
export function isInferenceSpan(span: Pick<SpanRecord, "name" | "attributes">): boolean {
  const operation = text(span.attributes["gen_ai.operation.name"]);
  if (operation !== undefined && INFERENCE_OPERATIONS.has(operation.trim())) return true;
  const legacy = text(span.attributes["ai.operationId"]) ?? span.name;
  return LEGACY_INFERENCE_OPERATIONS.has(legacy);
}

/** A span of GenAI instrumentation (semantic conventions or the AI SDK): its trace is worth remembering. */
export function isGenAiSpan(span: Pick<SpanRecord, "name" | "attributes">): boolean {
  if (span.name.startsWith("ai.")) return true;
  for (const key of Object.keys(span.attributes)) if (key.startsWith("gen_ai.") || key.startsWith("ai.")) return true;
  return false;
}

// ---- Context: what a span lends to the spans under it ---------------------------------------

/** conv_id: the first of these keys found on the span or its nearest ancestor that has it. */
export const CONVERSATION_KEYS = [
  "gen_ai.conversation.id",
  "session.id",
  // @ai-sdk/otel OpenTelemetry with runtimeContext: true (the AI SDK 7), then LegacyOpenTelemetry, then AI SDK ≤ 5.
  "ai.settings.context.conversationId",
  "ai.settings.runtimeContext.conversationId",
  "ai.telemetry.metadata.conversationId",
] as const;
/** session_id: session.id, else the conv_id. */
export const SESSION_KEYS = ["session.id"] as const;
/** runtime_key: turnstore.runtime_key, else the enclosing agent's name, else the AI SDK's functionId; else ''. */
export const RUNTIME_KEYS = ["turnstore.runtime_key", "gen_ai.agent.name", "ai.telemetry.functionId"] as const;

const CONTEXT_KEYS: readonly string[] = [...new Set<string>([...CONVERSATION_KEYS, ...SESSION_KEYS, ...RUNTIME_KEYS])];

/**
 * A span's place in its trace and the context keys it carries: all a descendant needs of it. JSON,
 * as remembered per trace by the store: [parent span id, parent is remote (0/1), {key: value}].
 */
export type SpanContext = [parent: string, remote: 0 | 1, keys: Record<string, string>];

/** A context value: a string (trimmed) or an integer's decimal text; '' and anything else count as absent. */
function contextValue(value: AttributeValue | undefined): string | undefined {
  if (typeof value === "string") {
    const trimmed = value.replace(EDGE_SPACE, "");
    return trimmed === "" ? undefined : trimmed;
  }
  if (typeof value === "number" && Number.isSafeInteger(value)) return String(value);
  return undefined;
}

export function contextOf(span: SpanRecord): SpanContext {
  const keys: Record<string, string> = {};
  for (const key of CONTEXT_KEYS) {
    const value = contextValue(span.attributes[key]);
    if (value !== undefined) keys[key] = value;
  }
  return [span.parentSpanId, span.parentIsRemote ? 1 : 0, keys];
}

// ---- Resolution: conv_id, session_id, runtime_key from the span and its ancestors ------------

export type Resolution =
  | { kind: "resolved"; convId: string; sessionId: string; runtimeKey: string }
  /** An ancestor that could still change the answer is not known yet: hold the span. */
  | { kind: "waiting"; ancestor: string }
  /** The chain is complete (or cut) and names no conversation: never guessed. */
  | { kind: "no_conversation" };

/** Ancestors walked at most (a deeper chain, or a cycle, counts as complete where it stops). */
export const MAX_ANCESTORS = 256;

export interface ResolveOptions {
  /**
   * Treat a missing ancestor as the top of the trace (a held span that expired: resolved with the
   * context that is known). Otherwise a missing ancestor that could change the answer means waiting.
   */
  cut?: boolean;
}

/**
 * Each field takes the first of its keys, in priority order, found on the span or its nearest
 * ancestor that has it (a key of higher priority on any ancestor wins over a lower one on the span).
 * The chain ends at the root, at a parent flagged remote, or — only with `cut` — at the first
 * ancestor not known. While an ancestor is missing, a key not found yet could still be on it: the
 * answer waits, so that the snapshot is the same whatever order a trace's spans arrive in.
 */
export function resolveIdentity(
  span: SpanContext,
  ancestor: (spanId: string) => SpanContext | undefined,
  options: ResolveOptions = {},
): Resolution {
  const chain: SpanContext[] = [span];
  const seen = new Set<string>();
  let missing = "";
  for (let current = span; current[0] !== "" && current[1] === 0 && chain.length <= MAX_ANCESTORS && !seen.has(current[0]); ) {
    seen.add(current[0]);
    const parent = ancestor(current[0]);
    if (parent === undefined) {
      missing = current[0];
      break;
    }
    chain.push(parent);
    current = parent;
  }
  const complete = missing === "" || options.cut === true;
  let undecided = false;
  const pick = (keys: readonly string[]): string | undefined => {
    for (const key of keys) {
      for (const [, , values] of chain) if (values[key] !== undefined) return values[key];
      if (!complete) {
        undecided = true;
        return undefined;
      }
    }
    return undefined;
  };
  const convId = pick(CONVERSATION_KEYS);
  const sessionId = pick(SESSION_KEYS);
  const runtimeKey = pick(RUNTIME_KEYS);
  if (undecided) return { kind: "waiting", ancestor: missing };
  if (convId === undefined) return { kind: "no_conversation" };
  return { kind: "resolved", convId, sessionId: sessionId ?? convId, runtimeKey: runtimeKey ?? "" };
}

export const NO_CONVERSATION_REASON = `no conversation id: none of ${CONVERSATION_KEYS.join(", ")} is on the span or its ancestors`;

// ---- The snapshot ---------------------------------------------------------------------------------

export const PHASE_PREFIX = "inference:";

const NANOS_PER_MS = 1_000_000n;

/** The span's end time in ms (floor), or null when it has none. */
export function endTimeMs(span: Pick<SpanRecord, "endTimeUnixNano">): number | null {
  let nanos: bigint;
  try {
    nanos = BigInt(span.endTimeUnixNano);
  } catch {
    return null;
  }
  const ms = Number(nanos / NANOS_PER_MS);
  return ms > 0 && Number.isSafeInteger(ms) ? ms : null;
}

export type SnapshotOutcome = { kind: "snapshot"; request: SnapshotRequest } | { kind: "refused"; reason: string };

/** The snapshot of a resolved inference span (a POST /api/turns item), or why it cannot be one. */
export function snapshotOf(span: SpanRecord, identity: Extract<Resolution, { kind: "resolved" }>): SnapshotOutcome {
  const createdAtMs = endTimeMs(span);
  if (createdAtMs === null) return { kind: "refused", reason: "the span has no end time (end_time_unix_nano)" };
  const metadata = genAiMetadataOf(span);
  return {
    kind: "snapshot",
    request: {
      conv_id: identity.convId,
      session_id: identity.sessionId,
      turn_id: span.traceId,
      phase: `${PHASE_PREFIX}${span.spanId}`,
      created_at_ms: createdAtMs,
      runtime_key: identity.runtimeKey,
      inference_id: (metadata.response_id as string | undefined) ?? span.spanId,
      turn: { id: span.traceId, blocks: blocksOf(span.attributes), metadata: { [GEN_AI_METADATA_KEY]: metadata } },
    },
  };
}

// ---- A request's spans, together ----------------------------------------------------------------

export type MappedSpan = { traceId: string; spanId: string } & (
  | { outcome: "snapshot"; request: SnapshotRequest }
  | { outcome: "waiting"; ancestor: string }
  | { outcome: "refused"; reason: string }
);

/**
 * Every inference span of `spans`, resolved against the other spans (the request's, by trace) and
 * `remembered` ancestors (the store's); in request order.
 */
export function mapSpans(
  spans: readonly SpanRecord[],
  remembered: (traceId: string, spanId: string) => SpanContext | undefined = () => undefined,
  options: ResolveOptions = {},
): MappedSpan[] {
  const known = new Map<string, SpanContext>();
  for (const span of spans) known.set(`${span.traceId}/${span.spanId}`, contextOf(span));
  return spans.filter(isInferenceSpan).map((span): MappedSpan => {
    const ids = { traceId: span.traceId, spanId: span.spanId };
    const resolution = resolveIdentity(
      known.get(`${span.traceId}/${span.spanId}`)!,
      (spanId) => known.get(`${span.traceId}/${spanId}`) ?? remembered(span.traceId, spanId),
      options,
    );
    if (resolution.kind === "waiting") return { ...ids, outcome: "waiting", ancestor: resolution.ancestor };
    if (resolution.kind === "no_conversation") return { ...ids, outcome: "refused", reason: NO_CONVERSATION_REASON };
    const snapshot = snapshotOf(span, resolution);
    return snapshot.kind === "snapshot"
      ? { ...ids, outcome: "snapshot", request: snapshot.request }
      : { ...ids, outcome: "refused", reason: snapshot.reason };
  });
}
