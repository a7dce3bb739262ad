/**
 * POST /v1/traces, what an exporter relies on: protobuf, OTLP JSON (hex or base64 ids) and gzip all
 * record the same snapshots; tool loops ending in one millisecond, metadata-only spans, model truth
 * and model_mismatch; history stored once; a re-sent export changes nothing; spans arriving over
 * several requests in any order end as the snapshots of one request; held spans expire into
 * snapshots (or are dropped, counted). Through the Worker's fetch handler and a real miniflare D1.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { runMaintenance } from "../../../src/scheduled";
import { call, countEverywhere, databaseDigest, get, json, post } from "../harness";
import { agentTrace, exportAnswer, exportJson, exportSpans, postExport, spanId, T0, traceId, type TestSpan } from "./otlp-requests";

const turnsOf = async (conv: string, query = "") =>
  (await json(await get(`/api/debug/turns?conv_id=${encodeURIComponent(conv)}${query}`))).items;
const turnOf = async (conv: string, session: string, turn: string) =>
  json(await get(`/api/debug/turn/${encodeURIComponent(conv)}/${encodeURIComponent(session)}/${turn}`));
/** A count over every conversation database (the span's conversation lives in one of them). */
const count = (sql: string, ...params: unknown[]) => countEverywhere(sql, ...params);

async function expectFullSuccess(res: Response): Promise<void> {
  expect(res.status, await res.clone().text()).toBe(200);
  expect(await exportAnswer(res)).toEqual({ rejectedSpans: 0, errorMessage: "", empty: true });
}

describe("POST /v1/traces — encodings", () => {
  it("records each inference span of an agent trace as a snapshot: runtime, inference, models, blocks (protobuf)", async () => {
    const conv = `conv-${crypto.randomUUID()}`;
    const { spans, chats, trace } = agentTrace({ conv, calls: 2, agent: "weather-agent" });
    const res = await exportSpans(spans);
    expect(res.headers.get("content-type")).toBe("application/x-protobuf");
    await expectFullSuccess(res);
    const items = await turnsOf(conv);
    // Newest first; both calls ended in the same millisecond, so the later arrival (call 2) is first.
    expect(
      items.map((i: any) => [i.session_id, i.turn_id, i.phase, i.runtime_key, i.inference_id, i.created_at_ms, i.model_mismatch]),
    ).toEqual([...chats].reverse().map((chat) => [conv, trace, `inference:${chat}`, "weather-agent", `resp-${chat}`, T0, false]));
    const detail = await turnOf(conv, conv, trace);
    const second = detail.items.find((i: any) => i.phase === `inference:${chats[1]}`)!;
    expect(second.parsed.blocks.map((b: any) => [b.id, b.kind, b.role])).toEqual([
      ["m0.0", "user", "user"],
      ["m1.0", "tool_call", "assistant"],
      ["m2.0", "tool_use", "tool"],
      ["m3.0", "llm_text", "assistant"],
    ]);
    expect(second.parsed.blocks[1]!.payload).toEqual({ id: `call-${trace.slice(0, 6)}-0`, name: "weather", args: { city: "Zürich" } });
    expect(second.parsed.metadata["turnstore.gen_ai@v1"]).toEqual({
      operation: "chat",
      provider: "mock-provider",
      request_model: "mock-model",
      response_model: "mock-model",
      response_id: `resp-${chats[1]}`,
      usage: { input_tokens: 11, output_tokens: 5 },
      finish_reasons: ["stop"],
      trace_id: trace,
      span_id: chats[1],
      parent_span_id: spans.find((s) => s.spanId === chats[1])!.parentSpanId,
      span_name: "chat mock-model",
    });
  });

  it.each([
    ["OTLP JSON", { encoding: "json" as const }],
    ["gzipped protobuf", { gzip: true }],
    ["gzipped OTLP JSON", { encoding: "json" as const, gzip: true }],
  ])("%s records the same snapshots as protobuf: sent again as protobuf it is a replay that changes nothing", async (_name, options) => {
    const conv = `conv-${crypto.randomUUID()}`;
    const { spans, chats } = agentTrace({ conv, calls: 3 });
    const res = await exportSpans(spans, options);
    expect(res.headers.get("content-type")).toBe("encoding" in options ? "application/json" : "application/x-protobuf");
    await expectFullSuccess(res);
    expect((await turnsOf(conv)).length).toBe(chats.length);
    const before = await databaseDigest();
    await expectFullSuccess(await exportSpans(spans));
    expect(await databaseDigest()).toBe(before);
  });

  it("OTLP JSON as the proto3 JSON mapping writes it also works: base64 ids, enum names, int64 as numbers, unknown fields ignored", async () => {
    const conv = `conv-${crypto.randomUUID()}`;
    const { spans } = agentTrace({ conv, calls: 2 });
    await expectFullSuccess(await exportSpans(spans, { encoding: "json" }));
    const before = await databaseDigest();
    const doc = exportJson(spans) as any;
    const b64 = (hex: string) => btoa(String.fromCharCode(...(hex.match(/../g) ?? []).map((h) => Number.parseInt(h, 16))));
    doc.futureTopLevelField = { anything: [1, 2] };
    doc.resourceSpans[0].schemaUrl = "https://opentelemetry.io/schemas/1.37.0";
    doc.resourceSpans[0].resource.unknownThing = true;
    for (const span of doc.resourceSpans[0].scopeSpans[0].spans) {
      span.traceId = b64(span.traceId);
      span.spanId = b64(span.spanId);
      if (span.parentSpanId) span.parentSpanId = b64(span.parentSpanId);
      span.kind = "SPAN_KIND_CLIENT";
      span.endTimeUnixNano = Number(BigInt(span.endTimeUnixNano) / 1000n) * 1000;
      span.droppedAttributesCount = 0;
      span.someFutureField = "ignored";
    }
    const res = await postExport(new TextEncoder().encode(JSON.stringify(doc)), "json");
    await expectFullSuccess(res);
    expect(await databaseDigest()).toBe(before);
  });

  it("a structured (AnyValue kvlist/array) message history records the same blocks as its JSON-string form", async () => {
    const conv = `conv-${crypto.randomUUID()}`;
    const trace = traceId();
    const messages = [
      { role: "user", parts: [{ type: "text", content: "Hi there" }] },
      { role: "assistant", parts: [{ type: "tool_call", id: "c-1", name: "lookup", arguments: { q: "x", n: 2, ok: true } }] },
    ];
    const chat = (id: string, structured: boolean): TestSpan => ({
      traceId: trace,
      spanId: id,
      attributes: {
        "gen_ai.operation.name": "chat",
        "gen_ai.conversation.id": conv,
        "gen_ai.input.messages": structured ? messages : JSON.stringify(messages),
      },
    });
    const [a, b] = [spanId(), spanId()];
    await expectFullSuccess(await exportSpans([chat(a, false), chat(b, true)]));
    const detail = await turnOf(conv, conv, trace);
    const blocks = (id: string) => detail.items.find((i: any) => i.phase === `inference:${id}`)!.parsed.blocks;
    expect(blocks(b)).toEqual(blocks(a));
    expect(blocks(a)[1]!.payload).toEqual({ id: "c-1", name: "lookup", args: { q: "x", n: 2, ok: true } });
    // Same ids and content: the second span added no block and no path node.
    expect(await count("SELECT count(*) AS n FROM block_nodes WHERE conv_id = ?1", conv)).toBe(2);
  });

  it("an empty export (no spans) is a full success and stores nothing", async () => {
    const before = await databaseDigest();
    await expectFullSuccess(await postExport(new Uint8Array(), "protobuf"));
    await expectFullSuccess(await postExport(new TextEncoder().encode("{}"), "json"));
    expect(await databaseDigest()).toBe(before);
  });
});

describe("POST /v1/traces — what is recorded", () => {
  it("a span without message content is a metadata-only snapshot (no blocks), with its model truth", async () => {
    const conv = `conv-${crypto.randomUUID()}`;
    const trace = traceId();
    const id = spanId();
    await expectFullSuccess(
      await exportSpans([
        {
          traceId: trace,
          spanId: id,
          attributes: {
            "gen_ai.operation.name": "chat",
            "gen_ai.conversation.id": conv,
            "turnstore.runtime_key": "planner",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.input_tokens": 42,
          },
        },
      ]),
    );
    const item = (await turnOf(conv, conv, trace)).items[0]!;
    expect([item.runtime_key, item.inference_id, item.parsed.blocks, item.model_mismatch]).toEqual(["planner", id, [], false]);
    expect(item.parsed.metadata["turnstore.gen_ai@v1"]).toMatchObject({ request_model: "gpt-4o", usage: { input_tokens: 42 } });
  });

  it("model_mismatch: on debug items and their filter, in export items (which still re-import) and in the transcript", async () => {
    const conv = `conv-${crypto.randomUUID()}`;
    const same = agentTrace({ conv, calls: 1, requestModel: "gpt-4o", endMs: T0 });
    const changed = agentTrace({ conv, calls: 1, requestModel: "gpt-4o", responseModel: "gpt-4o-2024-08-06", endMs: T0 + 1000 });
    await expectFullSuccess(await exportSpans([...same.spans, ...changed.spans]));
    expect((await turnsOf(conv)).map((i: any) => [i.turn_id, i.model_mismatch])).toEqual([
      [changed.trace, true],
      [same.trace, false],
    ]);
    expect((await turnsOf(conv, "&model_mismatch=true&payload=none")).map((i: any) => [i.turn_id, i.model_mismatch])).toEqual([
      [changed.trace, true],
    ]);
    expect((await turnsOf(conv, "&model_mismatch=false")).map((i: any) => i.turn_id)).toEqual([same.trace]);
    expect((await turnOf(conv, conv, changed.trace)).items.map((i: any) => i.model_mismatch)).toEqual([true]);

    const jsonl = await (await get(`/api/debug/conversations/${conv}/export?format=jsonl`)).text();
    const items = jsonl
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    expect(items.map((i) => [i.turn_id, i.model_mismatch])).toEqual([
      [same.trace, false],
      [changed.trace, true],
    ]);
    // An export re-imports unchanged through the batch route (model_mismatch is accepted and ignored).
    const before = await databaseDigest();
    const again = await post("/api/turns/batch", { items });
    expect(again.status, await again.clone().text()).toBe(200);
    expect(await databaseDigest()).toBe(before);

    const md = await (await get(`/api/debug/conversations/${conv}/export?format=markdown`)).text();
    expect(md).toContain("model `gpt-4o` → `gpt-4o-2024-08-06` (model mismatch)");
    expect(md).toContain("model `gpt-4o`\n");
  });

  it("history resent by every call, and by the next turn, is stored once: a turn adds only its new blocks", async () => {
    const conv = `conv-${crypto.randomUUID()}`;
    const nodes = () => count("SELECT count(*) AS n FROM block_nodes WHERE conv_id = ?1", conv);
    // Turn 1: three calls (two tool calls, then the answer): user, call, result, call, result, answer.
    const first = agentTrace({ conv, calls: 3, question: `first question ${conv}` });
    await expectFullSuccess(await exportSpans(first.spans));
    expect(await nodes()).toBe(6);
    // Turn 2 resends turn 1's messages (as the AI SDK's response.messages give them) and adds a question.
    const detail = await turnOf(conv, conv, first.trace);
    const last = detail.items[0]!.parsed.blocks as Array<{ kind: string; role: string; payload: any }>;
    const history = last.map((b) =>
      b.kind === "tool_call"
        ? { role: b.role, parts: [{ type: "tool_call", id: b.payload.id, name: b.payload.name, arguments: b.payload.args }] }
        : b.kind === "tool_use"
          ? { role: b.role, parts: [{ type: "tool_call_response", id: b.payload.id, response: b.payload.result }] }
          : { role: b.role, parts: [{ type: "text", content: b.payload.text }] },
    );
    const second = agentTrace({ conv, calls: 1, history, question: `second question ${conv}`, endMs: T0 + 60_000 });
    const res = await exportSpans(second.spans);
    await expectFullSuccess(res);
    // The new question and the new answer: two nodes, whatever the length of the history.
    expect(await nodes()).toBe(8);
    const turn2 = (await turnOf(conv, conv, second.trace)).items[0]!.parsed.blocks;
    expect(turn2.slice(0, 6)).toEqual(last);
  });

  it("the same export sent again changes nothing (an exporter's retry)", async () => {
    const conv = `conv-${crypto.randomUUID()}`;
    const { spans } = agentTrace({ conv, calls: 2 });
    await expectFullSuccess(await exportSpans(spans));
    const before = await databaseDigest();
    for (const options of [{}, { encoding: "json" as const }, { gzip: true }]) {
      await expectFullSuccess(await exportSpans(spans, options));
      expect(await databaseDigest()).toBe(before);
    }
  });
});

describe("POST /v1/traces — spans over several requests", () => {
  /** Send `spans` one request each, in `order`; the database digest after the last. */
  async function spanBySpan(spans: readonly TestSpan[]): Promise<void> {
    for (const span of spans) await expectFullSuccess(await exportSpans([span]));
  }

  it.each([
    ["children first (a SimpleSpanProcessor)", (s: TestSpan[]) => s],
    ["ancestors first", (s: TestSpan[]) => [...s].reverse()],
    // A fixed permutation: every fifth span, wrapping around (9 spans: 0 5 1 6 2 7 3 8 4).
    ["shuffled", (s: TestSpan[]) => s.map((_, i) => s[(i * 5) % s.length]!)],
  ])("spans sent one by one, %s, end as the snapshots of the whole trace in one request", async (_order, order) => {
    const conv = `conv-${crypto.randomUUID()}`;
    const { spans, chats } = agentTrace({ conv, calls: 3 });
    const ordered = order(spans);
    expect(new Set(ordered)).toEqual(new Set(spans));
    await spanBySpan(ordered);
    expect((await turnsOf(conv)).length).toBe(chats.length);
    expect(await count("SELECT count(*) AS n FROM otlp_held_spans WHERE trace_id = ?1", spans[0]!.traceId)).toBe(0);
    // The whole trace in one request is now a replay: the snapshots are the same, nothing changes.
    const before = await databaseDigest();
    await expectFullSuccess(await exportSpans(spans));
    expect(await databaseDigest()).toBe(before);
  });

  it("a chat span whose ancestors have not arrived is held (accepted, not recorded) until they do", async () => {
    const conv = `conv-${crypto.randomUUID()}`;
    const { spans, chats, trace } = agentTrace({ conv, calls: 1 });
    const chat = spans.find((s) => s.spanId === chats[0])!;
    await expectFullSuccess(await exportSpans([chat]));
    expect(await count("SELECT count(*) AS n FROM otlp_held_spans WHERE trace_id = ?1", trace)).toBe(1);
    expect(await count("SELECT count(*) AS n FROM turn_snapshots WHERE conv_id = ?1", conv)).toBe(0);
    // Re-sent while held: still one held span, nothing else changes.
    const before = await databaseDigest();
    await expectFullSuccess(await exportSpans([chat]));
    expect(await databaseDigest()).toBe(before);
    await expectFullSuccess(await exportSpans(spans.filter((s) => s !== chat)));
    expect(await count("SELECT count(*) AS n FROM otlp_held_spans WHERE trace_id = ?1", trace)).toBe(0);
    expect((await turnsOf(conv)).map((i: any) => [i.phase, i.runtime_key])).toEqual([[`inference:${chats[0]}`, "weather-agent"]]);
  });

  it("a held span whose ancestors never come is recorded on expiry with the context known; one with no conversation is dropped and counted", async () => {
    const conv = `conv-${crypto.randomUUID()}`;
    const trace = traceId();
    const [step, kept, lost] = [spanId(), spanId(), spanId()];
    const missingRoot = spanId();
    const spans: TestSpan[] = [
      {
        traceId: trace,
        spanId: step,
        parentSpanId: missingRoot,
        name: "step 1",
        attributes: { "ai.settings.context.conversationId": conv },
      },
      { traceId: trace, spanId: kept, parentSpanId: step, attributes: { "gen_ai.operation.name": "chat", "gen_ai.request.model": "m" } },
    ];
    const orphan: TestSpan = { traceId: traceId(), spanId: lost, parentSpanId: spanId(), attributes: { "gen_ai.operation.name": "chat" } };
    await expectFullSuccess(await exportSpans([...spans, orphan]));
    expect(await count("SELECT count(*) AS n FROM otlp_held_spans WHERE span_id IN (?1, ?2)", kept, lost)).toBe(2);

    // Not yet expired: nothing happens to them.
    const early = await runMaintenance(env, Date.now() + 60_000);
    expect(early.otlp).toMatchObject({ expired_recorded: 0, expired_dropped: 0 });
    expect(early.otlp.held_spans).toBeGreaterThanOrEqual(2);

    const logged: string[] = [];
    const warn = console.warn;
    console.warn = (line: string) => void logged.push(line);
    let report: Awaited<ReturnType<typeof runMaintenance>>;
    try {
      report = await runMaintenance(env, Date.now() + 16 * 60_000);
    } finally {
      console.warn = warn;
    }
    expect(report.otlp.expired_recorded).toBeGreaterThanOrEqual(1);
    expect(report.otlp.expired_dropped).toBeGreaterThanOrEqual(1);
    expect(await count("SELECT count(*) AS n FROM otlp_held_spans WHERE span_id IN (?1, ?2)", kept, lost)).toBe(0);
    expect((await turnsOf(conv)).map((i: any) => [i.phase, i.runtime_key, i.session_id])).toEqual([[`inference:${kept}`, "", conv]]);
    const drop = logged.map((l) => JSON.parse(l)).find((l) => l.span_id === lost);
    expect(drop).toMatchObject({ event: "otlp_held_span_dropped", when: "expired", reason: expect.stringMatching(/^no conversation id/) });

    // An hour later the trace's remembered context is forgotten too.
    const later = await runMaintenance(env, Date.now() + 61 * 60_000);
    expect(later.otlp.traces_forgotten).toBeGreaterThanOrEqual(1);
    expect(await count("SELECT count(*) AS n FROM otlp_traces WHERE trace_id = ?1", trace)).toBe(0);
  });
});

describe("POST /v1/traces — CORS (a browser exporter)", () => {
  it("answers a preflight from a configured origin without a token, allowing Content-Encoding", async () => {
    const res = await call("OPTIONS", "/v1/traces", {
      token: null,
      headers: {
        origin: "https://chat.example.com",
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type, content-encoding",
      },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBe("https://chat.example.com");
    expect(res.headers.get("access-control-allow-headers")?.toLowerCase()).toContain("content-encoding");
  });

  it("refuses a preflight from another origin (403 ORIGIN_NOT_ALLOWED)", async () => {
    const res = await call("OPTIONS", "/v1/traces", {
      token: null,
      headers: { origin: "https://evil.example", "access-control-request-method": "POST" },
    });
    expect(res.status).toBe(403);
    expect((await json(res)).error.code).toBe("ORIGIN_NOT_ALLOWED");
  });
});

describe("POST /v1/traces — the example of docs/API.md", () => {
  it("one OTLP JSON span carrying its own conversation and runtime is the snapshot the guide shows", async () => {
    const body = {
      resourceSpans: [
        {
          scopeSpans: [
            {
              spans: [
                {
                  traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
                  spanId: "00f067aa0ba902b7",
                  name: "chat gpt-4o",
                  kind: 3,
                  startTimeUnixNano: "1767225600000000000",
                  endTimeUnixNano: "1767225601250000000",
                  attributes: [
                    { key: "gen_ai.operation.name", value: { stringValue: "chat" } },
                    { key: "gen_ai.conversation.id", value: { stringValue: "conv-otel" } },
                    { key: "turnstore.runtime_key", value: { stringValue: "planner" } },
                    { key: "gen_ai.request.model", value: { stringValue: "gpt-4o" } },
                    { key: "gen_ai.response.model", value: { stringValue: "gpt-4o-2024-08-06" } },
                    { key: "gen_ai.response.id", value: { stringValue: "chatcmpl-1" } },
                    { key: "gen_ai.input.messages", value: { stringValue: '[{"role":"user","parts":[{"type":"text","content":"Hi"}]}]' } },
                    {
                      key: "gen_ai.output.messages",
                      value: { stringValue: '[{"role":"assistant","parts":[{"type":"text","content":"Hello!"}],"finish_reason":"stop"}]' },
                    },
                  ],
                },
              ],
            },
          ],
        },
      ],
    };
    const res = await postExport(new TextEncoder().encode(JSON.stringify(body)), "json");
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("{}");
    expect((await json(await get("/api/debug/turns?conv_id=conv-otel&payload=none"))).items).toEqual([
      {
        conv_id: "conv-otel",
        session_id: "conv-otel",
        turn_id: "4bf92f3577b34da6a3ce929d0e0e4736",
        phase: "inference:00f067aa0ba902b7",
        runtime_key: "planner",
        inference_id: "chatcmpl-1",
        created_at_ms: 1767225601250,
        model_mismatch: true,
        block_count: 2,
      },
    ]);
  });
});
