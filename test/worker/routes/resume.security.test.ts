/**
 * Who may read the latest turn (CONTRACT §5.3, §5.5): the ingest token (app backends, never from a
 * browser) and a conversation token for that conversation — a session-bound one for its session
 * only. CORS lets a configured browser origin call it; the write routes' CORS keeps working.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { mintConversationToken, parseSigningKeys } from "../../../src/tokens/conversation-token";
import { call, expectError, freshRateWindow, DEBUG_TOKEN, json, post, turnBody, uid } from "../harness";

const ORIGIN = "https://chat.example.com";
const path = (conv: string, query = "") => `/api/conversations/${encodeURIComponent(conv)}/turns/latest${query}`;
const read = (conv: string, options: { token?: string | null; query?: string; origin?: string | null; env?: Partial<Env> } = {}) =>
  call("GET", path(conv, options.query), {
    token: options.token,
    headers: options.origin === null ? {} : { origin: options.origin ?? ORIGIN },
    env: options.env,
  });

async function mint(conv_id: string, session_id?: string) {
  const res = await post("/api/tokens", { conv_id, ...(session_id ? { session_id } : {}) });
  expect(res.status).toBe(201);
  return (await json(res)).token as string;
}

/** s1 then s2, s2 newest. */
async function seed(conv: string) {
  await post("/api/turns/batch", {
    items: [
      turnBody({ conv_id: conv, session_id: "s1", turn_id: "t1", created_at_ms: 100 }),
      turnBody({ conv_id: conv, session_id: "s2", turn_id: "t2", created_at_ms: 200 }),
    ],
  });
}

describe("credentials", () => {
  it("the ingest token (a server, no Origin) reads any conversation", async () => {
    const conv = uid("conv-r-ingest");
    await seed(conv);
    const res = await read(conv, { origin: null });
    expect(res.status).toBe(200);
    expect((await json(res)).turn_id).toBe("t2");
  });

  it("the ingest token from a browser is refused", async () => {
    const conv = uid("conv-r-browser");
    await seed(conv);
    await expectError(await read(conv), 403, "FORBIDDEN", /server credential/);
  });

  it("no token, a wrong token, the debug token → 401", async () => {
    const conv = uid("conv-r-401");
    await seed(conv);
    for (const token of [null, "wrong", DEBUG_TOKEN, ""]) {
      const res = await read(conv, { token, origin: null });
      await expectError(res, 401, "UNAUTHORIZED");
      expect(res.headers.get("www-authenticate")).toMatch(/^Bearer/);
    }
  });

  it("expired and forged conversation tokens → 401", async () => {
    const conv = uid("conv-r-expired");
    await seed(conv);
    const keys = parseSigningKeys(env.TOKEN_SIGNING_KEY);
    const expired = (await mintConversationToken(keys, { convId: conv, ttlSeconds: 1, nowMs: Date.now() - 5_000 })).token;
    const forged = (await mintConversationToken(parseSigningKeys("test-1:another-secret-of-the-same-length-0123456789"), { convId: conv }))
      .token;
    for (const token of [expired, forged]) await expectError(await read(conv, { token }), 401, "UNAUTHORIZED");
  });

  it("fails closed with 503 while INGEST_TOKEN is unset", async () => {
    await expectError(await read("c", { origin: null, env: { INGEST_TOKEN: "" } }), 503, "NOT_CONFIGURED");
  });

  it("checks the token before the parameters", async () => {
    await expectError(await read("c", { token: "wrong", origin: null, query: `?phase=${"p".repeat(300)}` }), 401, "UNAUTHORIZED");
  });
});

describe("a conversation token", () => {
  it("reads its own conversation, any session when unbound", async () => {
    const conv = uid("conv-r-own");
    await seed(conv);
    const token = await mint(conv);
    const res = await read(conv, { token });
    expect(res.status).toBe(200);
    expect((await json(res)).turn_id).toBe("t2");
    expect((await json(await read(conv, { token, query: "?session_id=s1" }))).turn_id).toBe("t1");
  });

  it("a token for another conversation → 403, before the parameters are looked at", async () => {
    const conv = uid("conv-r-a");
    const other = uid("conv-r-b");
    await seed(other);
    const token = await mint(conv);
    await expectError(await read(other, { token }), 403, "FORBIDDEN", /conv_id is not the conversation/);
    await expectError(await read(other, { token, query: `?phase=${"p".repeat(300)}` }), 403, "FORBIDDEN");
  });

  it("a session-bound token reads its session: by default, or named; another session → 403", async () => {
    const conv = uid("conv-r-sess");
    await seed(conv);
    const token = await mint(conv, "s1");
    // s2 has the newer snapshot, but this page's session is s1.
    expect((await json(await read(conv, { token }))).turn_id).toBe("t1");
    expect((await json(await read(conv, { token, query: "?session_id=s1&phase=final" }))).turn_id).toBe("t1");
    expect((await json(await read(conv, { token, query: "?session_id=" }))).turn_id).toBe("t1");
    await expectError(await read(conv, { token, query: "?session_id=s2" }), 403, "FORBIDDEN", /session_id is not the session/);
  });

  it("a bound session with nothing stored yet → 404 (not another session's turn)", async () => {
    const conv = uid("conv-r-empty");
    await seed(conv);
    const token = await mint(conv, "s3");
    await expectError(await read(conv, { token }), 404, "NOT_FOUND", /session "s3"/);
  });

  // Up to 5 s waiting for a fresh rate-limit window, then the burst.
  it("counts against the conversation's rate limit", { timeout: 30_000 }, async () => {
    const conv = uid("conv-r-rate");
    await seed(conv);
    const token = await mint(conv);
    let limited: Response | null = null;
    await freshRateWindow();
    for (let i = 0; i < 150 && !limited; i++) {
      const res = await read(conv, { token, env: { RATE_LIMITS: "on" } as Partial<Env> });
      if (res.status === 429) limited = res;
      else expect(res.status).toBe(200);
    }
    expect(limited).not.toBeNull();
    expect(limited!.headers.get("retry-after")).toBe("10");
    expect((await json(limited!)).error.code).toBe("RATE_LIMITED");
  });
});

describe("CORS", () => {
  const preflight = (origin: string | null, target: string, method: string) =>
    call("OPTIONS", target, {
      token: null,
      headers: {
        ...(origin ? { origin } : {}),
        "access-control-request-method": method,
        "access-control-request-headers": "authorization, x-d1-bookmark",
      },
    });

  it("answers a preflight for the GET from a configured origin, without a token", async () => {
    const res = await preflight(ORIGIN, path("conv-any"), "GET");
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBe(ORIGIN);
    expect(res.headers.get("access-control-allow-methods")).toContain("GET");
    expect(res.headers.get("access-control-allow-headers")?.toLowerCase()).toContain("authorization");
  });

  it("refuses a preflight from another origin", async () => {
    for (const origin of ["https://evil.example.com", null]) {
      const res = await preflight(origin, path("conv-any"), "GET");
      expect(res.status).toBe(403);
      expect(res.headers.get("access-control-allow-origin")).toBeNull();
    }
  });

  it("the write routes' preflights still allow their methods", async () => {
    for (const [target, method] of [
      ["/api/turns", "POST"],
      ["/api/turns/batch", "POST"],
      ["/api/conversations/c/runtime", "PUT"],
    ] as const) {
      const res = await preflight(ORIGIN, target, method);
      expect(res.status, target).toBe(204);
      expect(res.headers.get("access-control-allow-methods")).toContain(method);
    }
  });

  it("the answer (and a refusal) carries CORS headers for a configured origin only", async () => {
    const conv = uid("conv-r-cors");
    await seed(conv);
    const token = await mint(conv);
    const ok = await read(conv, { token, origin: "https://app.example.com" });
    expect(ok.status).toBe(200);
    expect(ok.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
    expect(ok.headers.get("access-control-expose-headers")).toContain("X-D1-Bookmark");
    const missing = await read(conv, { token, origin: "https://app.example.com", query: "?phase=none" });
    expect(missing.status).toBe(404);
    expect(missing.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
    const evil = await read(conv, { token, origin: "https://evil.example.com" });
    expect(evil.headers.get("access-control-allow-origin")).toBeNull();
  });
});
