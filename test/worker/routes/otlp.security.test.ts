/**
 * POST /v1/traces and its credentials: the token before the body; the ingest token never from a
 * browser; a conversation token records only its conversation (and session) — other spans are
 * refused in partial_success — and can neither lend context to nor take context from anyone else's
 * spans; rate limits and the bound on held spans answer 429 with Retry-After and store nothing.
 */
import { describe, expect, it } from "vitest";
import { databaseDigest, DEBUG_TOKEN, expectRejected, freshRateWindow, get, json, post } from "../harness";
import { agentTrace, exportAnswer, exportSpans, postExport, spanId, traceId, type TestSpan } from "./otlp-requests";

async function conversationToken(convId: string, sessionId?: string): Promise<string> {
  const res = await post("/api/tokens", { conv_id: convId, ...(sessionId ? { session_id: sessionId } : {}) });
  expect(res.status).toBe(201);
  return (await json(res)).token as string;
}

const turnIds = async (conv: string) =>
  ((await json(await get(`/api/debug/turns?conv_id=${encodeURIComponent(conv)}&payload=none`))).items as Array<{ turn_id: string }>).map(
    (i) => i.turn_id,
  );

const chat = (trace: string, attributes: Record<string, unknown>, extra: Partial<TestSpan> = {}): TestSpan => ({
  traceId: trace,
  spanId: spanId(),
  attributes: { "gen_ai.operation.name": "chat", ...attributes },
  ...extra,
});

describe("POST /v1/traces — credentials", () => {
  const { spans } = agentTrace({ conv: "conv-auth", calls: 1 });

  it.each([
    ["no token", null],
    ["a wrong token", "wrong"],
    ["the debug token", DEBUG_TOKEN],
    ["an empty token", ""],
  ])("%s → 401, nothing stored", async (_name, token) => {
    await expectRejected(() => exportSpans(spans, { token }), 401, "UNAUTHORIZED");
  });

  it("checks the token before the body (garbage with a wrong token is 401, not 400)", async () => {
    await expectRejected(() => postExport(Uint8Array.from([0xff, 0x00]), "protobuf", { token: "wrong" }), 401, "UNAUTHORIZED");
  });

  it("fails closed with 503 NOT_CONFIGURED when INGEST_TOKEN is unset", async () => {
    await expectRejected(() => exportSpans(spans, { env: { INGEST_TOKEN: "" } }), 503, "NOT_CONFIGURED");
  });

  it("refuses the ingest token from a browser (Origin header): 403", async () => {
    await expectRejected(() => exportSpans(spans, { headers: { origin: "https://chat.example.com" } }), 403, "FORBIDDEN");
  });
});

describe("POST /v1/traces — a conversation token records only its conversation", () => {
  it("records its conversation's spans; another conversation's spans are refused in partial_success and stored nowhere", async () => {
    const mine = `conv-${crypto.randomUUID()}`;
    const other = `conv-${crypto.randomUUID()}`;
    const token = await conversationToken(mine);
    const a = agentTrace({ conv: mine, calls: 2 });
    const b = agentTrace({ conv: other, calls: 1 });
    const res = await exportSpans([...a.spans, ...b.spans], { token, headers: { origin: "https://chat.example.com" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-origin")).toBe("https://chat.example.com");
    const answer = await exportAnswer(res);
    expect(answer.rejectedSpans).toBe(1);
    expect(answer.errorMessage).toContain(`${b.trace}/${b.chats[0]}: its conversation is not the one this token is for`);
    expect(await turnIds(mine)).toEqual([a.trace, a.trace]);
    expect(await turnIds(other)).toEqual([]);
  });

  it("a session-bound token records only its session", async () => {
    const conv = `conv-${crypto.randomUUID()}`;
    const token = await conversationToken(conv, "sess-mine");
    const trace = traceId();
    const res = await exportSpans(
      [
        chat(trace, { "gen_ai.conversation.id": conv, "session.id": "sess-mine" }),
        chat(trace, { "gen_ai.conversation.id": conv, "session.id": "sess-other" }),
      ],
      { token },
    );
    const answer = await exportAnswer(res);
    expect(answer.rejectedSpans).toBe(1);
    expect(answer.errorMessage).toContain("its session is not the one this token is for");
    expect(await turnIds(conv)).toEqual([trace]);
  });

  it("context lent by one caller never resolves another caller's held spans (scopes are apart)", async () => {
    const victim = `conv-${crypto.randomUUID()}`;
    const attacker = `conv-${crypto.randomUUID()}`;
    const token = await conversationToken(attacker);
    const trace = traceId();
    const parent = spanId();
    // The server's chat span waits for its parent…
    const held = chat(trace, { "gen_ai.request.model": "m" }, { parentSpanId: parent });
    expect((await exportAnswer(await exportSpans([held]))).rejectedSpans).toBe(0);
    // …which a browser holding a token for another conversation claims, naming its own conversation.
    const forged: TestSpan = { traceId: trace, spanId: parent, name: "invoke_agent", attributes: { "gen_ai.conversation.id": attacker } };
    expect((await exportSpans([forged], { token })).status).toBe(200);
    expect(await turnIds(attacker)).toEqual([]);
    // The real parent, from the server, resolves it into the victim's conversation.
    const real: TestSpan = { traceId: trace, spanId: parent, name: "invoke_agent", attributes: { "gen_ai.conversation.id": victim } };
    expect((await exportAnswer(await exportSpans([real]))).rejectedSpans).toBe(0);
    expect(await turnIds(victim)).toEqual([trace]);
    expect(await turnIds(attacker)).toEqual([]);
  });
});

describe("POST /v1/traces — budgets → 429 with Retry-After, nothing stored", () => {
  it("the conversation token's rate limit", async () => {
    const conv = `conv-${crypto.randomUUID()}`;
    const token = await conversationToken(conv);
    await freshRateWindow();
    let refused: Response | null = null;
    for (let i = 0; i < 120 && refused === null; i++) {
      const res = await postExport(new Uint8Array(), "protobuf", { token, env: { RATE_LIMITS: "on" } as Partial<Env> });
      if (res.status === 429) refused = res;
      else expect(res.status).toBe(200);
    }
    expect(refused).not.toBeNull();
    expect(refused!.headers.get("retry-after")).toBe("10");
    expect((await json(refused!)).error.code).toBe("RATE_LIMITED");
    const before = await databaseDigest();
    const again = await exportSpans(agentTrace({ conv, calls: 1 }).spans, { token, env: { RATE_LIMITS: "on" } as Partial<Env> });
    expect(again.status).toBe(429);
    expect(await databaseDigest()).toBe(before);
  });

  it("too many spans waiting for their ancestors in one conversation: 429 TOO_MANY_HELD_SPANS", async () => {
    const conv = `conv-${crypto.randomUUID()}`;
    const token = await conversationToken(conv);
    const waiting = (n: number) => {
      const trace = traceId();
      return Array.from({ length: n }, () => chat(trace, {}, { parentSpanId: spanId() }));
    };
    expect((await exportAnswer(await exportSpans(waiting(600), { token }))).rejectedSpans).toBe(0);
    await expectRejected(() => exportSpans(waiting(401), { token }), 429, "TOO_MANY_HELD_SPANS", /at most 1000 may wait/);
    const res = await exportSpans(waiting(401), { token });
    expect(res.headers.get("retry-after")).toBe("60");
  });

  it("more than 1,000 spans of one trace waiting: the excess is refused in partial_success", async () => {
    const trace = traceId();
    const waiting = (n: number) => Array.from({ length: n }, () => chat(trace, {}, { parentSpanId: spanId() }));
    expect((await exportAnswer(await exportSpans(waiting(600)))).rejectedSpans).toBe(0);
    const answer = await exportAnswer(await exportSpans(waiting(401)));
    expect(answer.rejectedSpans).toBe(1);
    expect(answer.errorMessage).toContain("more than 1000 spans of this trace wait for their ancestors");
  });
});
