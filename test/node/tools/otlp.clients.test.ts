/**
 * POST /v1/traces with the real clients, against `wrangler dev` (its own D1 under a temp dir, a free
 * port, stopped by the process group it returns):
 *  - the Vercel AI SDK 7 (`generateText` with a tool, a mock model from `ai/test`, telemetry through
 *    @ai-sdk/otel's OpenTelemetry with runtimeContext, functionId as the runtime), exported by the
 *    OpenTelemetry SDK's BatchSpanProcessor and the protobuf exporter: a tool loop, then a second
 *    turn resending the history, then the first turn's spans exported again;
 *  - hand-built GenAI spans (semantic conventions 1.37+) exported span by span (SimpleSpanProcessor)
 *    as OTLP JSON, and in a batch as gzipped protobuf.
 * The debug API and the exports then show the turns with their runtime, inference ids, models and
 * blocks; the Worker's own log line of each export says what the store wrote.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { OpenTelemetry } from "@ai-sdk/otel";
import { context, SpanKind, trace, type Tracer } from "@opentelemetry/api";
import { OTLPTraceExporter as JsonExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { OTLPTraceExporter as ProtoExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
  type SpanExporter,
} from "@opentelemetry/sdk-trace-base";
import { generateText, stepCountIs, tool, type ModelMessage } from "ai";
import { MockLanguageModelV4 } from "ai/test";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { startDev, type DevServer } from "../../../tools/wrangler-dev";

const INGEST = "otlp-clients-ingest";
const DEBUG = "otlp-clients-debug";
const dir = mkdtempSync(join(tmpdir(), "turnstore-otlp-clients-"));
let server: DevServer;
/** The Worker's log lines of POST /v1/traces (one JSON object per export). */
const exportLogs: Array<Record<string, any>> = [];

beforeAll(async () => {
  server = await startDev({
    persistTo: dir,
    vars: { INGEST_TOKEN: INGEST, DEBUG_TOKEN: DEBUG, RATE_LIMITS: "off" },
    onLine: (line) => {
      const start = line.indexOf("{");
      if (start < 0 || !line.includes('"route":"POST /v1/traces"')) return;
      try {
        exportLogs.push(JSON.parse(line.slice(start)));
      } catch {
        // not a log line of ours
      }
    },
  });
}, 120_000);

afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const debug = async (path: string) => {
  const res = await fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${DEBUG}` } });
  expect(res.status, path).toBe(200);
  return path.includes("/export") ? res.text() : res.json();
};

const exporterOptions = () => ({ url: `${server.url}/v1/traces`, headers: { Authorization: `Bearer ${INGEST}` } });

/** A tracer provider exporting through `exporter` (batched or span by span), also keeping every span in memory. */
function tracing(exporter: SpanExporter, mode: "batch" | "simple") {
  const memory = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    spanProcessors: [
      mode === "batch" ? new BatchSpanProcessor(exporter) : new SimpleSpanProcessor(exporter),
      new SimpleSpanProcessor(memory),
    ],
  });
  return { tracer: provider.getTracer("otlp-clients-test"), provider, memory };
}

/** Waits for the Worker's log lines of `n` more exports than `before`. */
async function logsAfter(before: number, n: number): Promise<Array<Record<string, any>>> {
  const deadline = Date.now() + 20_000;
  while (exportLogs.length < before + n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  return exportLogs.slice(before);
}

// ---- The AI SDK 7 ------------------------------------------------------------------------------

const usage = {
  inputTokens: { total: 12, noCache: 12, cacheRead: undefined, cacheWrite: undefined },
  outputTokens: { total: 6, text: 6, reasoning: undefined },
};

/** A mock model answering with a tool call first (when `toolFirst`), then with text; response ids resp-<tag>-<call>. */
function mockModel(answers: string[], toolFirst: boolean, tag: string) {
  let call = 0;
  return new MockLanguageModelV4({
    provider: "openai.chat",
    modelId: "gpt-4o",
    doGenerate: async () => {
      call += 1;
      const response = { id: `resp-${tag}-${call}`, modelId: "gpt-4o-2024-08-06", timestamp: new Date() };
      if (toolFirst && call === 1) {
        return {
          content: [{ type: "tool-call", toolCallId: "call-1", toolName: "weather", input: JSON.stringify({ city: "Zürich" }) }],
          finishReason: { unified: "tool-calls", raw: "tool_calls" },
          usage,
          warnings: [],
          response,
        };
      }
      return {
        content: [{ type: "text", text: answers.shift()! }],
        finishReason: { unified: "stop", raw: "stop" },
        usage,
        warnings: [],
        response,
      };
    },
  });
}

const weather = tool({
  description: "The weather in a city",
  inputSchema: z.object({ city: z.string() }),
  execute: async ({ city }) => ({ city, sky: "sunny", temp_c: 21 }),
});

async function agentTurn(tracer: Tracer, conv: string, messages: ModelMessage[], answer: string, toolFirst: boolean, tag: string) {
  return generateText({
    model: mockModel([answer], toolFirst, tag),
    instructions: "You are the weather agent.",
    messages,
    tools: { weather },
    stopWhen: stepCountIs(4),
    runtimeContext: { conversationId: conv },
    telemetry: {
      functionId: "weather-agent",
      includeRuntimeContext: { conversationId: true },
      integrations: [new OpenTelemetry({ tracer, runtimeContext: true })],
    },
  });
}

describe("the AI SDK 7 through @ai-sdk/otel, BatchSpanProcessor and the protobuf exporter", () => {
  const conv = "conv-aisdk-7";
  let tracer: Tracer;
  let provider: BasicTracerProvider;
  let memory: InMemorySpanExporter;
  let firstTurn: ReadableSpan[] = [];
  beforeAll(() => {
    ({ tracer, provider, memory } = tracing(new ProtoExporter(exporterOptions()), "batch"));
  });
  afterAll(() => provider?.shutdown());

  it("records a tool loop: one snapshot per model call, with runtime, inference ids, models and blocks as sent", async () => {
    const before = exportLogs.length;
    const question: ModelMessage = { role: "user", content: "What is the weather in Zürich?" };
    const result = await agentTurn(tracer, conv, [question], "It is sunny and 21 °C in Zürich.", true, "t1");
    expect(result.steps.length).toBe(2);
    await provider.forceFlush();
    firstTurn = memory.getFinishedSpans().slice();
    const chats = firstTurn.filter((s) => s.name === "chat gpt-4o");
    expect(chats.length).toBe(2);
    const trace = chats[0]!.spanContext().traceId;

    const [log] = await logsAfter(before, 1);
    expect(log).toMatchObject({ status: 200, refused: 0, held: 0 });

    const page = await debug(`/api/debug/turns?conv_id=${conv}`);
    expect(page.items.map((i: any) => [i.turn_id, i.phase, i.runtime_key, i.inference_id, i.model_mismatch])).toEqual(
      [...chats].reverse().map((chat, k) => [trace, `inference:${chat.spanContext().spanId}`, "weather-agent", `resp-t1-${2 - k}`, true]),
    );
    const detail = await debug(`/api/debug/turn/${conv}/${conv}/${trace}`);
    const newest = detail.items[0].parsed;
    expect(newest.blocks).toEqual([
      { id: "sys.0", kind: "system", role: "system", payload: { text: "You are the weather agent." }, metadata: {} },
      { id: "m0.0", kind: "user", role: "user", payload: { text: "What is the weather in Zürich?" }, metadata: {} },
      {
        id: "m1.0",
        kind: "tool_call",
        role: "assistant",
        payload: { id: "call-1", name: "weather", args: { city: "Zürich" } },
        metadata: {},
      },
      {
        id: "m2.0",
        kind: "tool_use",
        role: "tool",
        payload: { id: "call-1", result: { city: "Zürich", sky: "sunny", temp_c: 21 } },
        metadata: {},
      },
      { id: "m3.0", kind: "llm_text", role: "assistant", payload: { text: "It is sunny and 21 °C in Zürich." }, metadata: {} },
    ]);
    expect(newest.metadata["turnstore.gen_ai@v1"]).toMatchObject({
      operation: "chat",
      provider: "openai",
      request_model: "gpt-4o",
      response_model: "gpt-4o-2024-08-06",
      response_id: "resp-t1-2",
      usage: { input_tokens: 12, output_tokens: 6 },
      finish_reasons: ["stop"],
      trace_id: trace,
      span_id: chats[1]!.spanContext().spanId,
    });
    // The first call's snapshot holds what it saw: the question and its tool call.
    expect(detail.items[1].parsed.blocks.map((b: any) => b.id)).toEqual(["sys.0", "m0.0", "m1.0"]);

    // The history call 2 repeats is stored once: 5 distinct blocks, 5 path nodes.
    expect(log!.nodes_added).toBe(5);
    // Debug pages, the conversation and the transcript show it like any other turn.
    const conversation = await debug(`/api/debug/conversations/${conv}`);
    expect(conversation).toMatchObject({ conv_id: conv, resolved_runtime_key: "weather-agent", turn_count: 1, snapshot_count: 2 });
    const md = await debug(`/api/debug/conversations/${conv}/export?format=markdown`);
    expect(md).toContain(`## Turn \`${trace}\` · runtime \`weather-agent\``);
    expect(md).toContain("model `gpt-4o` → `gpt-4o-2024-08-06` (model mismatch)");
    expect(md).toContain("It is sunny and 21 °C in Zürich.");
  });

  it("a second turn resending the history stores only its new blocks", async () => {
    const before = exportLogs.length;
    memory.reset();
    const firstResult = firstTurn.find((s) => s.name.startsWith("invoke_agent"))!;
    expect(firstResult).toBeDefined();
    // The app passes the conversation so far (as the AI SDK returned it) and a new question.
    const history: ModelMessage[] = [
      { role: "user", content: "What is the weather in Zürich?" },
      { role: "assistant", content: [{ type: "tool-call", toolCallId: "call-1", toolName: "weather", input: { city: "Zürich" } }] },
      {
        role: "tool",
        content: [
          {
            type: "tool-result",
            toolCallId: "call-1",
            toolName: "weather",
            output: { type: "json", value: { city: "Zürich", sky: "sunny", temp_c: 21 } },
          },
        ],
      },
      { role: "assistant", content: [{ type: "text", text: "It is sunny and 21 °C in Zürich." }] },
      { role: "user", content: "And tomorrow?" },
    ];
    await agentTurn(tracer, conv, history, "Tomorrow looks sunny too.", false, "t2");
    await provider.forceFlush();
    const [log] = await logsAfter(before, 1);
    expect(log).toMatchObject({ status: 200, refused: 0 });
    // The new question and the new answer; the five blocks of turn 1 are not stored again.
    expect(log!.nodes_added).toBe(2);
    const page = await debug(`/api/debug/turns?conv_id=${conv}`);
    expect(page.items.length).toBe(3);
    expect(page.items[0]).toMatchObject({ runtime_key: "weather-agent", inference_id: "resp-t2-1" });
    const conversation = await debug(`/api/debug/conversations/${conv}`);
    expect(conversation).toMatchObject({ turn_count: 2, snapshot_count: 3 });
  });

  it("the first turn's spans exported again change nothing", async () => {
    const before = exportLogs.length;
    const pageBefore = await debug(`/api/debug/turns?conv_id=${conv}`);
    const again = new ProtoExporter(exporterOptions());
    const result = await new Promise<{ code: number; error?: Error }>((resolve) => again.export(firstTurn, resolve));
    expect(result.code, String(result.error)).toBe(0);
    await again.shutdown();
    const [log] = await logsAfter(before, 1);
    expect(log!.snapshots.map((s: any) => s.outcome)).toEqual(["unchanged", "unchanged"]);
    expect(log).toMatchObject({ status: 200, rows_written: 0, nodes_added: 0, held: 0 });
    expect(await debug(`/api/debug/turns?conv_id=${conv}`)).toEqual(pageBefore);
  });
});

// ---- Hand-built GenAI spans (semantic conventions 1.37+) ---------------------------------------

/**
 * An agent invocation: invoke_agent with the conversation id and agent name, two chat spans ending in
 * the same ms; `beforeRootEnds` runs between the chat spans' end and the invoke_agent's.
 */
async function handBuiltAgent(
  tracer: Tracer,
  conv: string,
  agent: string,
  endMs: number,
  beforeRootEnds: () => Promise<void> = async () => {},
): Promise<void> {
  // Times given explicitly (an end before the start would be moved to the start by the SDK).
  const root = tracer.startSpan(`invoke_agent ${agent}`, {
    startTime: endMs - 5_000,
    kind: SpanKind.INTERNAL,
    attributes: { "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": agent, "gen_ai.conversation.id": conv },
  });
  // No context manager is registered: the parent is passed explicitly.
  const inRoot = trace.setSpan(context.active(), root);
  const history: unknown[] = [{ role: "user", parts: [{ type: "text", content: "Plan my day" }] }];
  const outputs = [
    {
      role: "assistant",
      parts: [{ type: "tool_call", id: "cal-1", name: "calendar", arguments: { day: "today" } }],
      finish_reason: "tool_call",
    },
    { role: "assistant", parts: [{ type: "text", content: "You have two meetings." }], finish_reason: "stop" },
  ];
  outputs.forEach((output, i) => {
    const chat = tracer.startSpan(
      "chat claude-sonnet-4",
      {
        startTime: endMs - 1_000,
        kind: SpanKind.CLIENT,
        attributes: {
          "gen_ai.operation.name": "chat",
          "gen_ai.provider.name": "anthropic",
          "gen_ai.request.model": "claude-sonnet-4",
          "gen_ai.response.model": "claude-sonnet-4",
          "gen_ai.response.id": `msg-${agent}-${i}`,
          "gen_ai.response.finish_reasons": [i === 0 ? "tool_use" : "end_turn"],
          "gen_ai.usage.input_tokens": 100 + i,
          "gen_ai.usage.output_tokens": 20,
          "gen_ai.system_instructions": JSON.stringify([{ type: "text", content: "You plan days." }]),
          "gen_ai.input.messages": JSON.stringify(history),
          "gen_ai.output.messages": JSON.stringify([output]),
        },
      },
      inRoot,
    );
    chat.end(endMs);
    if (i === 0) history.push(output, { role: "tool", parts: [{ type: "tool_call_response", id: "cal-1", response: ["9:00", "14:00"] }] });
  });
  await beforeRootEnds();
  root.end(endMs + 1);
}

describe("hand-built GenAI spans through the OpenTelemetry SDK", () => {
  it("span by span (SimpleSpanProcessor, OTLP JSON): the chat spans wait for their invoke_agent, then both are recorded", async () => {
    const conv = "conv-handbuilt-simple";
    const before = exportLogs.length;
    const { tracer, provider, memory } = tracing(new JsonExporter(exporterOptions()), "simple");
    const endMs = Date.UTC(2026, 0, 2, 8, 0, 0);
    // The chat spans' exports are answered before the invoke_agent span ends: children first, for sure.
    await handBuiltAgent(tracer, conv, "planner", endMs, () => provider.forceFlush());
    await provider.forceFlush();
    const logs = await logsAfter(before, 3);
    // Children first: each chat span is held, then the invoke_agent resolves both.
    expect(logs.map((l) => [l.held, l.released, l.snapshots.length])).toEqual([
      [1, 0, 0],
      [1, 0, 0],
      [0, 2, 2],
    ]);
    const chats = memory.getFinishedSpans().filter((s) => s.name.startsWith("chat"));
    const trace = chats[0]!.spanContext().traceId;
    const page = await debug(`/api/debug/turns?conv_id=${conv}`);
    expect(new Set(page.items.map((i: any) => i.phase))).toEqual(new Set(chats.map((c) => `inference:${c.spanContext().spanId}`)));
    expect(page.items.map((i: any) => [i.turn_id, i.runtime_key, i.created_at_ms, i.model_mismatch])).toEqual([
      [trace, "planner", endMs, false],
      [trace, "planner", endMs, false],
    ]);
    const detail = await debug(`/api/debug/turn/${conv}/${conv}/${trace}`);
    const full = detail.items.find((i: any) => i.parsed.blocks.length === 5).parsed;
    expect(full.blocks.map((b: any) => [b.id, b.kind])).toEqual([
      ["sys.0", "system"],
      ["m0.0", "user"],
      ["m1.0", "tool_call"],
      ["m2.0", "tool_use"],
      ["m3.0", "llm_text"],
    ]);
    await provider.shutdown();
  });

  it("batched (BatchSpanProcessor, gzipped protobuf): two agent invocations recorded as two turns", async () => {
    const conv = "conv-handbuilt-batch";
    const before = exportLogs.length;
    const { tracer, provider } = tracing(new ProtoExporter({ ...exporterOptions(), compression: "gzip" as never }), "batch");
    await handBuiltAgent(tracer, conv, "planner", Date.UTC(2026, 0, 3, 8, 0, 0));
    await handBuiltAgent(tracer, conv, "reviewer", Date.UTC(2026, 0, 3, 9, 0, 0));
    await provider.forceFlush();
    const [log] = await logsAfter(before, 1);
    expect(log).toMatchObject({ status: 200, spans: 6, held: 0, refused: 0 });
    const page = await debug(`/api/debug/turns?conv_id=${conv}&payload=none`);
    expect(page.items.map((i: any) => i.runtime_key)).toEqual(["reviewer", "reviewer", "planner", "planner"]);
    const conversation = await debug(`/api/debug/conversations/${conv}`);
    expect(conversation).toMatchObject({ resolved_runtime_key: "reviewer", turn_count: 2 });
    const jsonl = (await debug(`/api/debug/conversations/${conv}/export?format=jsonl`)) as string;
    expect(jsonl.trim().split("\n").length).toBe(4);
    await provider.shutdown();
  });
});
