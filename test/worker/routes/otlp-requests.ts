/**
 * OTLP/HTTP trace exports for the Worker tests of POST /v1/traces: spans written as tests think of
 * them (hex ids, attributes as JSON values), encoded as a real exporter sends them — binary protobuf
 * through the generated protobuf-es types, or OTLP JSON (hex ids, AnyValue objects, int64 as
 * strings) — optionally gzipped; and the ExportTraceServiceResponse read back.
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  ExportTraceServiceRequestSchema,
  ExportTraceServiceResponseSchema,
} from "../../../src/otlp/gen/opentelemetry/proto/collector/trace/v1/trace_service_pb";
import type { AnyValueJson, KeyValueJson } from "../../../src/otlp/gen/opentelemetry/proto/common/v1/common_pb";
import { call, type CallOptions } from "../harness";

export interface TestSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name?: string;
  /** End time in ms since the epoch (start: 1 s before). */
  endMs?: number;
  /** Extra nanoseconds within the end millisecond. */
  endNanos?: number;
  flags?: number;
  attributes?: Record<string, unknown>;
}

export const T0 = Date.UTC(2026, 0, 1, 9, 0, 0);

let counter = 0;
const hex = (bytes: number) => {
  counter += 1;
  const seed = `${Date.now().toString(16)}${counter.toString(16).padStart(6, "0")}${Math.floor(Math.random() * 2 ** 32).toString(16)}`;
  return seed.padStart(bytes * 2, "a").slice(-bytes * 2);
};
/** A fresh trace id / span id (32 / 16 lowercase hex). */
export const traceId = () => hex(16);
export const spanId = () => hex(8);

function anyValueJson(value: unknown): AnyValueJson {
  if (typeof value === "string") return { stringValue: value };
  if (typeof value === "boolean") return { boolValue: value };
  if (typeof value === "number") return Number.isInteger(value) ? { intValue: String(value) } : { doubleValue: value };
  if (Array.isArray(value)) return { arrayValue: { values: value.map(anyValueJson) } };
  if (typeof value === "object" && value !== null) {
    return { kvlistValue: { values: Object.entries(value).map(([key, v]): KeyValueJson => ({ key, value: anyValueJson(v) })) } };
  }
  return {};
}

const nanos = (ms: number, extra = 0) => (BigInt(ms) * 1_000_000n + BigInt(extra)).toString();

function spanJson(s: TestSpan) {
  const end = s.endMs ?? T0;
  return {
    traceId: s.traceId,
    spanId: s.spanId,
    ...(s.parentSpanId ? { parentSpanId: s.parentSpanId } : {}),
    ...(s.flags !== undefined ? { flags: s.flags } : {}),
    name: s.name ?? "chat gpt-4o",
    kind: 3,
    startTimeUnixNano: nanos(Math.max(0, end - 1000)),
    endTimeUnixNano: nanos(end, s.endNanos ?? 0),
    attributes: Object.entries(s.attributes ?? {}).map(([key, value]) => ({ key, value: anyValueJson(value) })),
    status: {},
  };
}

/** The export as OTLP JSON (what @opentelemetry/exporter-trace-otlp-http sends). */
export function exportJson(spans: readonly TestSpan[]) {
  return {
    resourceSpans: [
      {
        resource: { attributes: [{ key: "service.name", value: { stringValue: "otlp-test" } }] },
        scopeSpans: [{ scope: { name: "test", version: "1" }, spans: spans.map(spanJson) }],
      },
    ],
  };
}

const bytesOfHex = (h: string) => Uint8Array.from(h.match(/../g) ?? [], (b) => Number.parseInt(b, 16));

function anyValueInit(value: unknown): object {
  if (typeof value === "string") return { value: { case: "stringValue", value } };
  if (typeof value === "boolean") return { value: { case: "boolValue", value } };
  if (typeof value === "number")
    return Number.isInteger(value) ? { value: { case: "intValue", value: BigInt(value) } } : { value: { case: "doubleValue", value } };
  if (Array.isArray(value)) return { value: { case: "arrayValue", value: { values: value.map(anyValueInit) } } };
  if (typeof value === "object" && value !== null) {
    return {
      value: {
        case: "kvlistValue",
        value: { values: Object.entries(value).map(([key, v]) => ({ key, value: anyValueInit(v) })) },
      },
    };
  }
  return {};
}

/** The export as binary protobuf (what @opentelemetry/exporter-trace-otlp-proto sends). */
export function exportProtobuf(spans: readonly TestSpan[]): Uint8Array {
  const request = create(ExportTraceServiceRequestSchema, {
    resourceSpans: [
      {
        resource: { attributes: [{ key: "service.name", value: { value: { case: "stringValue", value: "otlp-test" } } }] },
        scopeSpans: [
          {
            scope: { name: "test", version: "1" },
            spans: spans.map((s) => {
              const end = s.endMs ?? T0;
              return {
                traceId: bytesOfHex(s.traceId),
                spanId: bytesOfHex(s.spanId),
                parentSpanId: s.parentSpanId ? bytesOfHex(s.parentSpanId) : new Uint8Array(),
                flags: s.flags ?? 0,
                name: s.name ?? "chat gpt-4o",
                kind: 3,
                startTimeUnixNano: BigInt(nanos(Math.max(0, end - 1000))),
                endTimeUnixNano: BigInt(nanos(end, s.endNanos ?? 0)),
                attributes: Object.entries(s.attributes ?? {}).map(([key, value]) => ({ key, value: anyValueInit(value) })),
              };
            }),
          },
        ],
      },
    ],
  } as never);
  return toBinary(ExportTraceServiceRequestSchema, request);
}

export async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

export type Encoding = "protobuf" | "json";

export interface ExportOptions extends Omit<CallOptions, "body" | "raw" | "bytes"> {
  encoding?: Encoding;
  gzip?: boolean;
}

/** POST /v1/traces with the spans in `encoding` (default protobuf). */
export async function exportSpans(spans: readonly TestSpan[], options: ExportOptions = {}): Promise<Response> {
  const encoding = options.encoding ?? "protobuf";
  const bytes = encoding === "protobuf" ? exportProtobuf(spans) : new TextEncoder().encode(JSON.stringify(exportJson(spans)));
  return postExport(bytes, encoding, options);
}

/** POST /v1/traces with a body as given. */
export async function postExport(body: Uint8Array, encoding: Encoding, options: ExportOptions = {}): Promise<Response> {
  const headers: Record<string, string> = {
    "content-type": encoding === "protobuf" ? "application/x-protobuf" : "application/json",
    ...options.headers,
  };
  let bytes = body;
  if (options.gzip) {
    bytes = await gzip(bytes);
    headers["content-encoding"] = "gzip";
  }
  return call("POST", "/v1/traces", { ...options, headers, bytes });
}

export interface ExportAnswer {
  rejectedSpans: number;
  errorMessage: string;
  /** The response had no partial_success at all (full success). */
  empty: boolean;
}

/** The ExportTraceServiceResponse of a 200, in the response's encoding. */
export async function exportAnswer(res: Response): Promise<ExportAnswer> {
  const type = res.headers.get("content-type") ?? "";
  if (type.startsWith("application/x-protobuf")) {
    const message = fromBinary(ExportTraceServiceResponseSchema, new Uint8Array(await res.arrayBuffer()));
    const p = message.partialSuccess;
    return { rejectedSpans: Number(p?.rejectedSpans ?? 0n), errorMessage: p?.errorMessage ?? "", empty: p === undefined };
  }
  const json = (await res.json()) as { partialSuccess?: { rejectedSpans?: string; errorMessage?: string } };
  const p = json.partialSuccess;
  return { rejectedSpans: Number(p?.rejectedSpans ?? 0), errorMessage: p?.errorMessage ?? "", empty: p === undefined };
}

// ---- GenAI spans ------------------------------------------------------------------------------

const text = (role: string, content: string) => ({ role, parts: [{ type: "text", content }] });

/**
 * One agent invocation as the AI SDK 7 exports it (semantic conventions): invoke_agent → step → chat
 * per model call, with the conversation id in the runtime context of the agent and step spans and
 * the agent name on invoke_agent; `calls` model calls, each repeating the history so far (a tool loop).
 */
export function agentTrace(options: {
  conv: string;
  agent?: string;
  trace?: string;
  /** Messages before this turn (the conversation so far), in semantic-convention form. */
  history?: unknown[];
  question?: string;
  calls?: number;
  endMs?: number;
  requestModel?: string;
  responseModel?: string;
}): { spans: TestSpan[]; chats: string[]; trace: string } {
  const trace = options.trace ?? traceId();
  const root = spanId();
  const end = options.endMs ?? T0;
  const context = { "ai.settings.context.conversationId": options.conv };
  const spans: TestSpan[] = [];
  const chats: string[] = [];
  const messages: unknown[] = [...(options.history ?? []), text("user", options.question ?? "What is the weather in Zürich?")];
  const calls = options.calls ?? 2;
  for (let i = 0; i < calls; i++) {
    const step = spanId();
    const chat = spanId();
    chats.push(chat);
    const last = i === calls - 1;
    const output = last
      ? text("assistant", `Answer ${i}: it is sunny.`)
      : {
          role: "assistant",
          parts: [{ type: "tool_call", id: `call-${trace.slice(0, 6)}-${i}`, name: "weather", arguments: { city: "Zürich" } }],
        };
    spans.push({
      traceId: trace,
      spanId: chat,
      parentSpanId: step,
      name: "chat mock-model",
      // The same millisecond for every call: a fast tool loop.
      endMs: end,
      endNanos: i,
      attributes: {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "mock-provider",
        "gen_ai.request.model": options.requestModel ?? "mock-model",
        "gen_ai.response.model": options.responseModel ?? options.requestModel ?? "mock-model",
        "gen_ai.response.id": `resp-${chat}`,
        "gen_ai.response.finish_reasons": [last ? "stop" : "tool_call"],
        "gen_ai.usage.input_tokens": 10 + i,
        "gen_ai.usage.output_tokens": 5,
        "gen_ai.input.messages": JSON.stringify(messages),
        "gen_ai.output.messages": JSON.stringify([{ ...output, finish_reason: last ? "stop" : "tool_call" }]),
      },
    });
    if (!last) {
      const tool = spanId();
      spans.push({
        traceId: trace,
        spanId: tool,
        parentSpanId: step,
        name: "execute_tool weather",
        endMs: end,
        attributes: { "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "weather", ...context },
      });
      messages.push(output, {
        role: "tool",
        parts: [{ type: "tool_call_response", id: `call-${trace.slice(0, 6)}-${i}`, response: { sky: "sunny" } }],
      });
    }
    spans.push({
      traceId: trace,
      spanId: step,
      parentSpanId: root,
      name: `step ${i + 1}`,
      endMs: end,
      attributes: { "gen_ai.operation.name": "agent_step", ...context },
    });
  }
  spans.push({
    traceId: trace,
    spanId: root,
    name: "invoke_agent mock-model",
    endMs: end,
    attributes: {
      "gen_ai.operation.name": "invoke_agent",
      "gen_ai.agent.name": options.agent ?? "weather-agent",
      "gen_ai.provider.name": "mock-provider",
      "gen_ai.request.model": options.requestModel ?? "mock-model",
      ...context,
    },
  });
  return { spans, chats, trace };
}
