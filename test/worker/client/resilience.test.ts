/**
 * What a page needs of the client module (src/client/turnstore-client.ts) beyond delta posts, against
 * the Worker's real fetch handler and D1: a new token when the old one expires (401 → refreshToken,
 * one refresh for requests refused together), waiting out a real 429 by its Retry-After (bounded),
 * resuming from the latest turn as a delta, and announcing a runtime switch.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import type { z } from "@hono/zod-openapi";
import { describe, expect, it } from "vitest";
import worker from "../../../src/index";
import {
  retryAfterMs,
  TurnstoreClient,
  TurnstoreError,
  type Conversation,
  type LatestTurn,
  type RetryNotice,
  type TokenRefusal,
  type TurnstoreClientOptions,
} from "../../../src/client/turnstore-client";
import type { ConversationSchema } from "../../../src/routes/schemas";
import type { LatestTurnSchema } from "../../../src/routes/resume/resume.routes";
import { mintConversationToken, parseSigningKeys } from "../../../src/tokens/conversation-token";
import { call, freshRateWindow, get, json, post, uid } from "../harness";

// The client's response types are written out (the package must not pull in the server's schemas);
// these fail to compile when a route's answer stops giving what the client promises.
const _latestTurnFits = (answer: z.output<typeof LatestTurnSchema>): LatestTurn => answer;
const _conversationFits = (answer: z.output<typeof ConversationSchema>): Conversation => answer;

const ORIGIN = "https://chat.example.com";

/** The Worker's fetch handler as `fetch`, with a browser's Origin and optional env overrides (rate limits on). */
function workerFetch(overrides: Partial<Env> = {}) {
  return async (input: string, init: RequestInit): Promise<Response> => {
    const request = new Request(input, init);
    request.headers.set("origin", ORIGIN);
    const ctx = createExecutionContext();
    const res = await worker.fetch(request, { ...env, ...overrides } as Env, ctx);
    await waitOnExecutionContext(ctx);
    return res;
  };
}

const client = (options: Omit<TurnstoreClientOptions, "baseUrl" | "fetch">, overrides: Partial<Env> = {}) =>
  new TurnstoreClient({ baseUrl: "https://turnstore.test", fetch: workerFetch(overrides), ...options });

async function mint(convId: string, sessionId?: string): Promise<string> {
  const res = await post("/api/tokens", { conv_id: convId, ...(sessionId ? { session_id: sessionId } : {}) });
  expect(res.status).toBe(201);
  return (await json(res)).token;
}

/** A token that expired a minute ago, signed with the Worker's own key (what a tab left open holds). */
async function expiredToken(convId: string): Promise<string> {
  const keys = parseSigningKeys((env as unknown as Record<string, string>).TOKEN_SIGNING_KEY);
  return (await mintConversationToken(keys, { convId, ttlSeconds: 60, nowMs: Date.now() - 120_000 })).token;
}

/** Turn `n` of a conversation whose every snapshot repeats the history; block ids stay the same across turns. */
function turnOf(n: number, runtimeKey = "inventory") {
  const blocks = [];
  for (let i = 1; i <= n; i++) {
    blocks.push({ id: `turn-${i}:user`, kind: "user", role: "user", payload: { text: `question ${i} ${"q".repeat(400)}` } });
    blocks.push({ id: `turn-${i}:answer`, kind: "llm_text", payload: { text: `answer ${i} ${"a".repeat(400)}` } });
  }
  return { id: `turn-${n}`, blocks, metadata: { "geppetto.runtime@v1": { runtime_key: runtimeKey } } };
}

describe("token refresh", () => {
  it("asks refreshToken for a new token on 401, retries with it and keeps using it", async () => {
    const conv = uid("conv-refresh");
    const refusals: TokenRefusal[] = [];
    const c = client({
      token: await expiredToken(conv),
      refreshToken: async (refused) => {
        refusals.push(refused);
        return mint(conv);
      },
    });
    const first = await c.postSnapshot({ conv_id: conv, session_id: "s", created_at_ms: 1, turn: turnOf(1) });
    expect(first).toMatchObject({ status: 201, attempts: 1 });
    expect(refusals).toEqual([{ status: 401, code: "UNAUTHORIZED", message: expect.stringMatching(/expired/) }]);
    const second = await c.postSnapshot({ conv_id: conv, session_id: "s", created_at_ms: 2, turn: turnOf(2) });
    expect(second).toMatchObject({ status: 201, sent: "delta" });
    expect(await c.getLatestTurn(conv)).toMatchObject({ turn_id: "turn-2" });
    expect(refusals).toHaveLength(1);
  });

  it("refreshes once for requests refused together", async () => {
    const conv = uid("conv-refresh-many");
    let refreshes = 0;
    const c = client({
      token: await expiredToken(conv),
      refreshToken: async () => {
        refreshes += 1;
        return mint(conv);
      },
    });
    const results = await Promise.all(
      [1, 2, 3].map((n) => c.postSnapshot({ conv_id: conv, session_id: "s", created_at_ms: n, turn: { id: `t${n}`, blocks: [] } })),
    );
    expect(results.map((r) => r.status)).toEqual([201, 201, 201]);
    expect(refreshes).toBe(1);
  });

  it("gives the 401 back when refreshToken has no new token, and does not ask twice per request", async () => {
    const conv = uid("conv-refresh-none");
    let refreshes = 0;
    const c = client({
      token: await expiredToken(conv),
      refreshToken: () => {
        refreshes += 1;
        return null;
      },
    });
    const result = await c.postSnapshot({ conv_id: conv, session_id: "s", created_at_ms: 1, turn: turnOf(1) });
    expect(result.status).toBe(401);
    expect(result.requestId).toMatch(/.+/);
    await expect(c.getLatestTurn(conv)).rejects.toMatchObject({ name: "TurnstoreError", status: 401, code: "UNAUTHORIZED" });
    expect(refreshes).toBe(2);
    // A new token that is refused too is not refreshed again: the request answers 401.
    const stubborn = client({ token: await expiredToken(conv), refreshToken: () => expiredToken(conv) });
    expect((await stubborn.postSnapshot({ conv_id: conv, session_id: "s", created_at_ms: 1, turn: turnOf(1) })).status).toBe(401);
  });
});

describe("Retry-After", () => {
  it("reads delta-seconds and HTTP dates", () => {
    const now = Date.UTC(2026, 0, 1, 12, 0, 0);
    expect(retryAfterMs("10", now)).toBe(10_000);
    expect(retryAfterMs(" 0 ", now)).toBe(0);
    expect(retryAfterMs("Thu, 01 Jan 2026 12:00:05 GMT", now)).toBe(5_000);
    expect(retryAfterMs("Thu, 01 Jan 2026 11:00:00 GMT", now)).toBe(0);
    expect(retryAfterMs("soon", now)).toBeNull();
    expect(retryAfterMs(null, now)).toBeNull();
  });

  it("waits out a 429 by its Retry-After, within the attempts and the longest wait it is given", async () => {
    const conv = uid("conv-retry");
    const token = await mint(conv);
    const on = { RATE_LIMITS: "on" } as Partial<Env>;
    await freshRateWindow(8_000);
    // Use up the conversation's budget (100 requests / 10 s) with reads.
    let limited: Response | null = null;
    for (let i = 0; i < 150 && !limited; i++) {
      const res = await call("GET", `/api/conversations/${conv}/turns/latest`, { token, headers: { origin: ORIGIN }, env: on });
      if (res.status === 429) limited = res;
    }
    expect(limited?.status).toBe(429);
    // A page can read how long to wait: the header is exposed to it.
    expect(limited!.headers.get("access-control-allow-origin")).toBe(ORIGIN);
    expect(limited!.headers.get("access-control-expose-headers")).toMatch(/(^|,)\s*Retry-After\s*(,|$)/i);
    expect(limited!.headers.get("retry-after")).toBe("10");

    const snapshot = { conv_id: conv, session_id: "s", created_at_ms: 1, turn: turnOf(1) };
    const notices: RetryNotice[] = [];
    // One attempt only, or a longest wait shorter than Retry-After: the 429 comes back at once.
    const once = await client({ token, retry: { maxAttempts: 1 }, onRetry: (n) => notices.push(n) }, on).postSnapshot(snapshot);
    expect(once).toMatchObject({ status: 429, attempts: 1 });
    const impatient = await client({ token, retry: { maxWaitMs: 5_000 }, onRetry: (n) => notices.push(n) }, on).postSnapshot(snapshot);
    expect(impatient).toMatchObject({ status: 429, attempts: 1 });
    expect(notices).toEqual([]);

    // The default: told, waits (here: until the limiter's real window has passed), sends again.
    const waits: number[] = [];
    const patient = client(
      {
        token,
        onRetry: (n) => notices.push(n),
        sleep: async (ms) => {
          waits.push(ms);
          await new Promise((resolve) => setTimeout(resolve, 10_050 - (Date.now() % 10_000)));
        },
      },
      on,
    );
    expect(await patient.postSnapshot(snapshot)).toMatchObject({ status: 201, attempts: 2 });
    expect(waits).toEqual([10_000]);
    expect(notices).toEqual([{ status: 429, code: "RATE_LIMITED", waitMs: 10_000, attempt: 1, maxAttempts: 3 }]);
  }, 30_000);
});

describe("resume and runtime switches", () => {
  it("getLatestTurn gives the newest snapshot (null before any), and a new client continues with a delta", async () => {
    const conv = uid("conv-resume");
    const token = await mint(conv, "sess-1");
    const before = client({ token });
    expect(await before.getLatestTurn(conv)).toBeNull();
    for (let n = 1; n <= 3; n++) {
      expect((await before.postSnapshot({ conv_id: conv, session_id: "sess-1", created_at_ms: n, turn: turnOf(n) })).status).toBe(201);
    }

    // A reload: a fresh client (nothing known) reads where the conversation is and goes on from there.
    const after = client({ token });
    const latest = await after.getLatestTurn(conv);
    expect(latest).toMatchObject({ conv_id: conv, session_id: "sess-1", turn_id: "turn-3", phase: "final", runtime_key: "inventory" });
    expect(latest!.turn.blocks.map((b) => b.id)).toEqual(turnOf(3).blocks.map((b) => b.id));
    const next = await after.postSnapshot({ conv_id: conv, session_id: "sess-1", created_at_ms: 4, turn: turnOf(4) });
    expect(next).toMatchObject({ status: 201, sent: "delta" });
    expect(next.requestBytes).toBeLessThan(2_000);
    expect((await after.getLatestTurn(conv, { phase: "final", sessionId: "sess-1" }))!.turn_id).toBe("turn-4");
    expect(await after.getLatestTurn(conv, { phase: "pre_inference" })).toBeNull();
  });

  it("switchRuntime moves the conversation's pointer and leaves earlier turns their runtime", async () => {
    const conv = uid("conv-switch");
    const token = await mint(conv, "sess-1");
    const c = client({ token });
    await c.postSnapshot({ conv_id: conv, session_id: "sess-1", created_at_ms: 1_000, turn: turnOf(1, "inventory") });
    const switched = await c.switchRuntime(conv, { runtime_key: "planner", session_id: "sess-1", at_ms: 2_000 });
    expect(switched).toMatchObject({ conv_id: conv, session_id: "sess-1", resolved_runtime_key: "planner", turn_count: 1 });
    await c.postSnapshot({ conv_id: conv, session_id: "sess-1", created_at_ms: 3_000, turn: turnOf(2, "planner") });
    const turns = await json(await get(`/api/debug/turns?conv_id=${conv}`));
    expect(turns.items.map((i) => [i.turn_id, i.runtime_key])).toEqual([
      ["turn-2", "planner"],
      ["turn-1", "inventory"],
    ]);

    // Another conversation's token: a TurnstoreError with the status, code and request id.
    const other = client({ token: await mint(uid("conv-other")) });
    const error = await other.switchRuntime(conv, { runtime_key: "planner" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TurnstoreError);
    expect(error).toMatchObject({ status: 403, code: "FORBIDDEN", requestId: expect.stringMatching(/.+/) });
  });
});
