/**
 * POST /v1/traces, hostile and broken exports: every refusal is the JSON error envelope with the
 * documented status (what an exporter reads: the status and Retry-After) and changes nothing; spans
 * that cannot be recorded in an otherwise good export are counted and explained in partial_success.
 */
import { describe, expect, it } from "vitest";
import { attributionProblem } from "../../../src/turn/attribution-value";
import { DIGEST_TABLES, databaseDigest, expectRejected, get, json, ROW_ORDER, rowsEverywhere } from "../harness";
import {
  agentTrace,
  exportAnswer,
  exportProtobuf,
  exportSpans,
  gzip,
  postExport,
  spanId,
  T0,
  traceId,
  type TestSpan,
} from "./otlp-requests";

const utf8 = (text: string) => new TextEncoder().encode(text);

/** A varint, and a length-delimited protobuf field. */
function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}
const field = (no: number, body: Uint8Array | number[]) => Uint8Array.from([(no << 3) | 2, ...varint(body.length), ...body]);

describe("POST /v1/traces — malformed → 400 INVALID_OTLP, nothing stored", () => {
  it.each([
    ["random bytes as protobuf", Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x01, 0x02]), "protobuf"],
    ["a protobuf field that runs past the end", Uint8Array.from([0x0a, 0x40, 0x12, 0x00]), "protobuf"],
    ["JSON with a syntax error", utf8('{"resourceSpans": ['), "json"],
    ["a JSON array", utf8("[]"), "json"],
    ["an empty JSON body", utf8(""), "json"],
    ["JSON that is not UTF-8", Uint8Array.from([0x7b, 0x22, 0xff, 0x22, 0x7d]), "json"],
    [
      "a span id that is neither hex nor base64",
      utf8(JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: [{ spanId: "not an id!" }] }] }] })),
      "json",
    ],
    ["a field of the wrong type", utf8(JSON.stringify({ resourceSpans: [{ scopeSpans: "nope" }] })), "json"],
    [
      // (An unknown enum name is ignored like an unknown field, as proto3 JSON parsers do.)
      "an enum given as an object",
      utf8(JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: [{ kind: { value: 3 } }] }] }] })),
      "json",
    ],
  ] as const)("%s", async (_name, body, encoding) => {
    await expectRejected(() => postExport(body, encoding), 400, "INVALID_OTLP");
  });

  it("nesting deeper than 64 messages (an attribute value of arrays in arrays)", async () => {
    let value: Uint8Array = Uint8Array.from([]);
    for (let i = 0; i < 80; i++) value = field(5, field(1, value)); // AnyValue.array_value → ArrayValue.values
    const keyValue = Uint8Array.from([...field(1, utf8("deep")), ...field(2, value)]);
    const span = Uint8Array.from([...field(9, keyValue)]);
    const body = field(1, field(2, field(2, span)));
    await expectRejected(() => postExport(body, "protobuf"), 400, "INVALID_OTLP", /nested deeper than 64/);
  });

  it("a gzip body that is not gzip", async () => {
    await expectRejected(
      () => postExport(utf8("certainly not gzip"), "protobuf", { headers: { "content-encoding": "gzip" } }),
      400,
      "INVALID_OTLP",
      /not valid gzip/,
    );
  });
});

describe("POST /v1/traces — over budget → 413, nothing stored", () => {
  it("a body over 4 MiB as sent", async () => {
    const big = new Uint8Array(4 * 1024 * 1024 + 10);
    await expectRejected(() => postExport(big, "protobuf"), 413, "PAYLOAD_TOO_LARGE");
  });

  it("a gzip bomb: 64 MiB of zeros in 64 KiB is refused once 4 MiB came out, not inflated whole", async () => {
    const zeros = new Uint8Array(64 * 1024 * 1024);
    const bomb = await gzip(zeros);
    expect(bomb.length).toBeLessThan(128 * 1024);
    const started = performance.now();
    await expectRejected(
      () => postExport(bomb, "protobuf", { headers: { "content-encoding": "gzip" } }),
      413,
      "PAYLOAD_TOO_LARGE",
      /decompressed/,
    );
    // Inflating all 64 MiB would take far longer than cutting it off after 4 MiB.
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it("a compressed body that inflates past 4 MiB of real spans", async () => {
    const conv = `conv-${crypto.randomUUID()}`;
    const filler = "x".repeat(64 * 1024);
    const spans: TestSpan[] = Array.from({ length: 80 }, () => ({
      traceId: traceId(),
      spanId: spanId(),
      attributes: { "gen_ai.operation.name": "chat", "gen_ai.conversation.id": conv, note: filler },
    }));
    await expectRejected(() => exportSpans(spans, { gzip: true }), 413, "PAYLOAD_TOO_LARGE");
  });

  it("more protobuf messages than the bound (one attribute holding 300,000 values)", async () => {
    const value = new Uint8Array(300_000 * 4);
    for (let i = 0; i < 300_000; i++) value.set([0x0a, 0x02, 0x10, 0x01], i * 4); // values: AnyValue{bool_value: true}
    const keyValue = Uint8Array.from([...field(1, utf8("many")), ...field(2, field(5, value))]);
    const body = field(1, field(2, field(2, field(9, keyValue))));
    await expectRejected(() => postExport(body, "protobuf"), 413, "PAYLOAD_TOO_LARGE", /messages/);
  });

  it("more than 1,000 inference spans in one request", async () => {
    const trace = traceId();
    const spans: TestSpan[] = Array.from({ length: 1001 }, () => ({
      traceId: trace,
      spanId: spanId(),
      attributes: { "gen_ai.operation.name": "chat", "gen_ai.conversation.id": "conv-many" },
    }));
    await expectRejected(() => exportSpans(spans), 413, "PAYLOAD_TOO_LARGE", /inference spans/);
  });
});

describe("POST /v1/traces — content type and encoding → 415", () => {
  it.each([["text/plain"], ["application/grpc"], ["application/x-www-form-urlencoded"], [""]])("Content-Type %j", async (type) => {
    await expectRejected(
      () => postExport(exportProtobuf([]), "protobuf", { headers: { "content-type": type } }),
      415,
      "UNSUPPORTED_MEDIA_TYPE",
    );
  });

  it("Content-Encoding other than gzip", async () => {
    await expectRejected(
      () => postExport(exportProtobuf([]), "protobuf", { headers: { "content-encoding": "br" } }),
      415,
      "UNSUPPORTED_MEDIA_TYPE",
      /gzip or identity/,
    );
  });
});

describe("POST /v1/traces — partial_success counts and explains the spans not recorded", () => {
  it("spans without a conversation, without an end time, with bad ids or ids the write API refuses; the others are recorded", async () => {
    const conv = `conv-${crypto.randomUUID()}`;
    const trace = traceId();
    const good = spanId();
    const chat = (id: string, attributes: Record<string, unknown>, extra: Partial<TestSpan> = {}): TestSpan => ({
      traceId: trace,
      spanId: id,
      attributes: { "gen_ai.operation.name": "chat", ...attributes },
      ...extra,
    });
    const [noConv, noEnd, badConv, future] = [spanId(), spanId(), spanId(), spanId()];
    const res = await exportSpans(
      [
        chat(good, { "gen_ai.conversation.id": conv }),
        chat(noConv, {}),
        chat(noEnd, { "gen_ai.conversation.id": conv }, { endMs: 0 }),
        chat(badConv, { "gen_ai.conversation.id": "bad\u200bid" }),
        chat(future, { "gen_ai.conversation.id": conv }, { endMs: Date.now() + 3_600_000 }),
        // Three-byte trace id: unreadable.
        { traceId: "abcdef", spanId: spanId(), attributes: { "gen_ai.operation.name": "chat" } },
      ],
      { encoding: "json" },
    );
    expect(res.status).toBe(200);
    const answer = await exportAnswer(res);
    expect(answer.rejectedSpans).toBe(5);
    expect(answer.errorMessage).toMatch(/^5 spans not recorded: /);
    expect(answer.errorMessage).toContain(`${trace}/${noConv}: no conversation id`);
    expect(answer.errorMessage).toContain(`${trace}/${noEnd}: the span has no end time`);
    expect(answer.errorMessage).toContain(`${trace}/${badConv}: conv_id: conv_id must not contain invisible format characters`);
    expect(answer.errorMessage).toContain(`${trace}/${future}: created_at_ms`);
    expect(answer.errorMessage).toMatch(/trace_id must be 16 bytes, got \d/);
    expect(answer.empty).toBe(false);
  });

  it("a conflicting span (the same span id sent again with other content) is refused alone; the rest of its export is recorded", async () => {
    const conv = `conv-${crypto.randomUUID()}`;
    const { spans, chats } = agentTrace({ conv, calls: 2 });
    const res = await exportSpans(spans);
    expect((await exportAnswer(res)).rejectedSpans).toBe(0);
    const changed = spans.map((s) =>
      s.spanId === chats[0] ? { ...s, attributes: { ...s.attributes, "gen_ai.output.messages": '[{"role":"assistant","parts":[]}]' } } : s,
    );
    const extra = agentTrace({ conv, calls: 1, endMs: T0 + 5_000 });
    const again = await exportSpans([...changed, ...extra.spans]);
    expect(again.status).toBe(200);
    const answer = await exportAnswer(again);
    expect(answer.rejectedSpans).toBe(1);
    expect(answer.errorMessage).toContain(chats[0]!);
    expect(answer.errorMessage).toMatch(/different|already stored/);
    // The new trace was recorded.
    const items = (await json(await get(`/api/debug/turns?conv_id=${conv}&payload=none`))).items;
    expect(items.map((i: any) => i.turn_id)).toContain(extra.trace);
  });
});

describe("POST /v1/traces — runtime keys and inference ids follow the one rule (src/turn/attribution-value.ts)", () => {
  /**
   * Every row of every table but the trace memory (otlp_traces), which remembers a trace's context
   * (its conversation id) for the spans still to come whatever became of these.
   */
  const digestBesideTraceMemory = async () =>
    JSON.stringify(
      await Promise.all(
        DIGEST_TABLES.filter((t) => t !== "otlp_traces").map((t) => rowsEverywhere(`SELECT * FROM ${t} ORDER BY ${ROW_ORDER(t)}`)),
      ),
    );

  const chat = (conv: string, trace: string, id: string, attributes: Record<string, unknown>): TestSpan => ({
    traceId: trace,
    spanId: id,
    attributes: { "gen_ai.operation.name": "chat", "gen_ai.conversation.id": conv, ...attributes },
  });

  it("'planner' + U+200B as turnstore.runtime_key, a NUL in gen_ai.agent.name, a 300-character response id → refused in partial_success with the rule's message, nothing stored", async () => {
    const conv = `conv-${crypto.randomUUID()}`;
    const trace = traceId();
    const [zeroWidth, nul, long] = [spanId(), spanId(), spanId()];
    const before = await digestBesideTraceMemory();
    const res = await exportSpans(
      [
        chat(conv, trace, zeroWidth, { "turnstore.runtime_key": "planner\u200b" }),
        chat(conv, trace, nul, { "gen_ai.agent.name": "plan\u0000ner" }),
        chat(conv, trace, long, { "turnstore.runtime_key": "planner", "gen_ai.response.id": "r".repeat(300) }),
      ],
      { encoding: "json" },
    );
    expect(res.status).toBe(200);
    const answer = await exportAnswer(res);
    expect(answer.rejectedSpans).toBe(3);
    expect(answer.errorMessage).toMatch(/^3 spans not recorded: /);
    // The rule's own words, as the explicit fields of POST /api/turns are refused with them.
    expect(answer.errorMessage).toContain(`${trace}/${zeroWidth}: runtime_key: ${attributionProblem("runtime_key", "planner\u200b")}`);
    expect(answer.errorMessage).toContain(`${trace}/${nul}: runtime_key: ${attributionProblem("runtime_key", "plan\u0000ner")}`);
    expect(answer.errorMessage).toContain(`${trace}/${long}: inference_id: ${attributionProblem("inference_id", "r".repeat(300))}`);
    // No snapshot, turn, block, node, conversation or held span: every row as it was.
    expect(await digestBesideTraceMemory()).toBe(before);
    expect((await get(`/api/debug/conversations/${conv}`)).status).toBe(404);
  });

  it("' planner ' as turnstore.runtime_key and ' resp-1 ' as the response id are stored trimmed: 'planner', 'resp-1'", async () => {
    const conv = `conv-${crypto.randomUUID()}`;
    const trace = traceId();
    const res = await exportSpans([
      chat(conv, trace, spanId(), { "turnstore.runtime_key": " planner ", "gen_ai.response.id": " resp-1 " }),
    ]);
    expect(res.status).toBe(200);
    expect(await exportAnswer(res)).toMatchObject({ rejectedSpans: 0 });
    const items = (await json(await get(`/api/debug/turns?conv_id=${conv}&payload=none`))).items;
    expect(items.map((i: { runtime_key: string; inference_id: string }) => [i.runtime_key, i.inference_id])).toEqual([
      ["planner", "resp-1"],
    ]);
    expect((await json(await get(`/api/debug/conversations/${conv}`))).resolved_runtime_key).toBe("planner");
  });
});

describe("POST /v1/traces — nothing stored by a refused export", () => {
  it("an export refused for one reason leaves every table as it was, even with good spans in it", async () => {
    const conv = `conv-${crypto.randomUUID()}`;
    const { spans } = agentTrace({ conv, calls: 2 });
    const before = await databaseDigest();
    const res = await exportSpans(spans, { headers: { "content-type": "text/plain" } });
    expect(res.status).toBe(415);
    expect(await databaseDigest()).toBe(before);
  });
});
