/**
 * Browser-safe writes (CONTRACT §5.3): conversation tokens, what they grant and refuse, the ingest
 * token from a browser, rate limits and per-request work bounds — through the Worker's fetch
 * handler, with the real Rate Limiting bindings of wrangler.toml. A refused request stores nothing.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { mintConversationToken, parseSigningKeys } from "../../../src/tokens/conversation-token";
import {
  call,
  freshRateWindow,
  DEBUG_TOKEN,
  get,
  json,
  post,
  tableCounts,
  turnBody,
  uid,
  expectRejected,
  countEverywhere,
  rowsEverywhere,
} from "../harness";

const ORIGIN = { origin: "https://chat.example.com" };
const RATE_LIMITS_ON = { RATE_LIMITS: "on" } as Partial<Env>;

async function mint(conv_id: string, extra: Record<string, unknown> = {}) {
  const res = await post("/api/tokens", { conv_id, ...extra });
  expect(res.status).toBe(201);
  return (await json(res)) as { token: string; conv_id: string; session_id: string | null; expires_at_ms: number };
}

const snapshot = (conv_id: string, turn_id = "t", session_id = "s", created_at_ms = 1) =>
  turnBody({ conv_id, session_id, turn_id, created_at_ms });
const put = (conv: string, body: unknown, token: string, headers: Record<string, string> = ORIGIN) =>
  call("PUT", `/api/conversations/${encodeURIComponent(conv)}/runtime`, { body, token, headers });

describe("POST /api/tokens", () => {
  it("mints a token for one conversation, an hour by default, never cached", async () => {
    const before = Date.now();
    const res = await post("/api/tokens", { conv_id: "conv-a" });
    expect(res.status).toBe(201);
    expect(res.headers.get("cache-control")).toBe("no-store");
    const body = await json(res);
    expect(body).toEqual({
      token: expect.stringMatching(/^tsk1\.test-1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/),
      conv_id: "conv-a",
      session_id: null,
      expires_at_ms: expect.any(Number),
    });
    expect(body.expires_at_ms - before).toBeGreaterThanOrEqual(3600_000);
    expect(body.expires_at_ms - Date.now()).toBeLessThanOrEqual(3600_000);
    const bound = await mint("conv-a", { session_id: "sess-1", ttl_seconds: 86_400 });
    expect(bound.session_id).toBe("sess-1");
  });

  it.each([
    ["ttl_seconds 0", { conv_id: "c", ttl_seconds: 0 }],
    ["ttl_seconds over a day", { conv_id: "c", ttl_seconds: 86_401 }],
    ["ttl_seconds fractional", { conv_id: "c", ttl_seconds: 1.5 }],
    ["no conv_id", { session_id: "s" }],
    ["a lookalike conv_id", { conv_id: "c\u200b" }],
    ["an unknown field", { conv_id: "c", scope: "all" }],
  ])("%s → 400", async (_name, body) => {
    await expectRejected(() => post("/api/tokens", body), 400, "INVALID_REQUEST");
  });

  it("is for servers: a conversation token, a browser with the ingest token, the debug token are refused", async () => {
    const { token } = await mint("conv-a");
    await expectRejected(() => post("/api/tokens", { conv_id: "conv-a" }, { token }), 403, "FORBIDDEN", /cannot/);
    await expectRejected(() => post("/api/tokens", { conv_id: "conv-a" }, { headers: ORIGIN }), 403, "FORBIDDEN", /browser/);
    await expectRejected(() => post("/api/tokens", { conv_id: "conv-a" }, { token: DEBUG_TOKEN }), 401, "UNAUTHORIZED");
  });

  it("fails closed without TOKEN_SIGNING_KEY, or with a weak one", async () => {
    await expectRejected(
      () => post("/api/tokens", { conv_id: "c" }, { env: { TOKEN_SIGNING_KEY: "" } as Partial<Env> }),
      503,
      "NOT_CONFIGURED",
      /TOKEN_SIGNING_KEY/,
    );
    await expectRejected(
      () => post("/api/tokens", { conv_id: "c" }, { env: { TOKEN_SIGNING_KEY: "k:short" } as Partial<Env> }),
      503,
      "NOT_CONFIGURED",
      /at least 32/,
    );
  });
});

describe("a conversation token grants its conversation only", () => {
  it("writes, batches and switches its own conversation from a browser", async () => {
    const conv = uid("conv-own");
    const { token } = await mint(conv);
    expect((await call("POST", "/api/turns", { token, body: snapshot(conv, "t1"), headers: ORIGIN })).status).toBe(201);
    expect(
      (await call("POST", "/api/turns/batch", { token, body: { items: [snapshot(conv, "t2"), snapshot(conv, "t3")] }, headers: ORIGIN }))
        .status,
    ).toBe(201);
    const switched = await put(conv, { runtime_key: "planner" }, token);
    expect(switched.status).toBe(200);
    expect((await json(switched)).resolved_runtime_key).toBe("planner");
  });

  it("cannot write, switch or read anything of another conversation", async () => {
    const a = uid("conv-a");
    const b = uid("conv-b");
    await post("/api/turns", snapshot(b, "t-b"));
    const { token } = await mint(a);
    await expectRejected(
      () => call("POST", "/api/turns", { token, body: snapshot(b, "visitor"), headers: ORIGIN }),
      403,
      "FORBIDDEN",
      /conv_id is not the conversation/,
    );
    await expectRejected(
      () => call("POST", "/api/turns/batch", { token, body: { items: [snapshot(a, "ok"), snapshot(b, "visitor")] }, headers: ORIGIN }),
      403,
      "FORBIDDEN",
      /items\[1\]\.conv_id/,
    );
    await expectRejected(() => put(b, { runtime_key: "evil", session_id: "s" }, token), 403, "FORBIDDEN");
    // The same identity a real frontend is about to use stays free for it.
    expect((await post("/api/turns", snapshot(b, "visitor"))).status).toBe(201);
  });

  it("even a malformed item for another conversation is refused as forbidden, before validation", async () => {
    const { token } = await mint("conv-a");
    await expectRejected(
      () => call("POST", "/api/turns", { token, body: { conv_id: "conv-b", session_id: 5 }, headers: ORIGIN }),
      403,
      "FORBIDDEN",
    );
  });

  it("a session-bound token writes its session only", async () => {
    const conv = uid("conv-sess");
    const { token } = await mint(conv, { session_id: "mine" });
    expect((await call("POST", "/api/turns", { token, body: snapshot(conv, "t1", "mine"), headers: ORIGIN })).status).toBe(201);
    await expectRejected(
      () => call("POST", "/api/turns", { token, body: snapshot(conv, "t2", "theirs"), headers: ORIGIN }),
      403,
      "FORBIDDEN",
      /session_id/,
    );
    await expectRejected(() => put(conv, { runtime_key: "planner", session_id: "theirs" }, token), 403, "FORBIDDEN", /session_id/);
    expect((await put(conv, { runtime_key: "planner", session_id: "mine" }, token)).status).toBe(200);
  });

  it("cannot read the debug routes or the viewer's API", async () => {
    const { token } = await mint("conv-a");
    for (const path of [
      "/api/debug/conversations",
      "/api/debug/conversations/conv-a",
      "/api/debug/turns?conv_id=conv-a",
      "/api/debug/turn/conv-a/s/t",
    ]) {
      const res = await call("GET", path, { token });
      expect(res.status, path).toBe(403);
      expect((await json(res)).error.code).toBe("FORBIDDEN");
    }
  });
});

describe("refused credentials", () => {
  const keys = parseSigningKeys(env.TOKEN_SIGNING_KEY);

  it("expired, tampered, wrong-key and rotated-out tokens are 401", async () => {
    const conv = uid("conv-bad");
    const body = snapshot(conv);
    const { token } = await mint(conv);
    const [prefix, kid, payload, signature] = token.split(".") as [string, string, string, string];
    const expired = (await mintConversationToken(keys, { convId: conv, ttlSeconds: 1, nowMs: Date.now() - 5_000 })).token;
    const otherConvPayload = btoa(JSON.stringify({ c: conv, exp: Date.now() + 10 ** 9, iat: Date.now() })).replace(/=+$/, "");
    const tampered = [
      `${prefix}.${kid}.${otherConvPayload}.${signature}`,
      // One character of the signature changed (the second-to-last carries 6 whole bits; a fixed
      // replacement such as "AA" would equal the real signature once in ~1,000 runs).
      `${prefix}.${kid}.${payload}.${signature.slice(0, -2)}${signature.at(-2) === "A" ? "B" : "A"}${signature.at(-1)}`,
      `${prefix}.old-1.${payload}.${signature}`,
      `${prefix}.${kid}.${payload}`,
      `${token}.x`,
    ];
    const wrongKey = (
      await mintConversationToken(parseSigningKeys("test-1:another-secret-of-the-same-length-0123456789"), { convId: conv })
    ).token;
    const retired = (await mintConversationToken(parseSigningKeys("gone-1:a-retired-signing-secret-0123456789abcdef"), { convId: conv }))
      .token;
    for (const bad of [expired, ...tampered, wrongKey, retired]) {
      let res: Response | undefined;
      await expectRejected(
        async () => (res = await call("POST", "/api/turns", { token: bad, body, headers: ORIGIN })),
        401,
        "UNAUTHORIZED",
      );
      expect(res!.headers.get("www-authenticate")).toMatch(/^Bearer/);
    }
  });

  it("during a rotation both keys verify; once a key is removed its tokens are 401", async () => {
    const conv = uid("conv-rot");
    const signedWithOld = (
      await mintConversationToken(parseSigningKeys("old-1:old-token-signing-secret-0123456789abcdef"), { convId: conv })
    ).token;
    expect((await call("POST", "/api/turns", { token: signedWithOld, body: snapshot(conv), headers: ORIGIN })).status).toBe(201);
    await expectRejected(
      () =>
        call("POST", "/api/turns", {
          token: signedWithOld,
          body: snapshot(conv, "t2"),
          headers: ORIGIN,
          env: { TOKEN_SIGNING_KEY: "test-1:test-token-signing-secret-0123456789abcdef" } as Partial<Env>,
        }),
      401,
      "UNAUTHORIZED",
      /not \(or no longer\) configured/,
    );
  });

  /**
   * A token signed offline by the documented format (docs/API.md, "Token format"), independently of
   * the module: base64url without padding of the JSON claims, HMAC-SHA-256 over "tsk1.<kid>.<payload>".
   */
  const TEST_SECRET = "test-token-signing-secret-0123456789abcdef";
  const b64url = (bytes: Uint8Array) =>
    btoa(String.fromCharCode(...bytes))
      .replace(/\+/g, "-")
      .replace(/\//g, "_")
      .replace(/=+$/, "");
  async function signOffline(claims: Record<string, unknown>, spell: { payload?: (p: string) => string } = {}) {
    const payload = (spell.payload ?? ((p) => p))(b64url(new TextEncoder().encode(JSON.stringify(claims))));
    const signed = `tsk1.test-1.${payload}`;
    const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(TEST_SECRET), { name: "HMAC", hash: "SHA-256" }, false, [
      "sign",
    ]);
    return `${signed}.${b64url(new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(signed))))}`;
  }
  const HOUR = 3_600_000;
  const DAY = 24 * HOUR;
  const YEAR = 365 * DAY;
  const writeWith = (token: string, conv: string, env?: Partial<Env>) =>
    call("POST", "/api/turns", { token, body: snapshot(conv), headers: ORIGIN, env });

  it("a token signed offline in the documented format is accepted", async () => {
    const conv = uid("conv-offline");
    const now = Date.now();
    expect((await writeWith(await signOffline({ c: conv, exp: now + HOUR, iat: now }), conv)).status).toBe(201);
    // The longest lifetime the mint route gives (a day), and an issue time a little ahead (within the skew).
    expect((await writeWith(await signOffline({ c: conv, exp: now + 60_000 + DAY, iat: now + 60_000 }), conv)).status).toBe(200);
  });

  it.each<[string, (now: number) => Record<string, unknown>, RegExp]>([
    ["a 10-year expiry issued now", (now) => ({ exp: now + 10 * YEAR, iat: now }), /lifetime/],
    ["a day and a second", (now) => ({ exp: now + DAY + 1000, iat: now }), /lifetime/],
    ["issued a year ahead, an hour's lifetime", (now) => ({ exp: now + YEAR + HOUR, iat: now + YEAR }), /issued in the future/],
    ["a 10-year expiry issued a year ahead", (now) => ({ exp: now + 11 * YEAR, iat: now + YEAR }), /lifetime|issued in the future/],
    [
      "issued 10 minutes ahead (the skew is 5)",
      (now) => ({ exp: now + 10 * 60_000 + HOUR, iat: now + 10 * 60_000 }),
      /issued in the future/,
    ],
    ["expiring before it was issued", (now) => ({ exp: now + HOUR, iat: now + 2 * HOUR }), /issued in the future|lifetime/],
  ])("signed offline with the right key but %s → 401, nothing stored", async (_name, claims, message) => {
    const conv = uid("conv-offline-bad");
    const token = await signOffline({ c: conv, ...claims(Date.now()) });
    await expectRejected(() => writeWith(token, conv), 401, "UNAUTHORIZED", message);
  });

  it("the clock skew allowed for iat is MAX_CLOCK_SKEW_MS", async () => {
    const conv = uid("conv-offline-skew");
    const now = Date.now();
    const token = await signOffline({ c: conv, exp: now + 10 * 60_000 + HOUR, iat: now + 10 * 60_000 });
    await expectRejected(() => writeWith(token, conv), 401, "UNAUTHORIZED", /issued in the future/);
    expect((await writeWith(token, conv, { MAX_CLOCK_SKEW_MS: "900000" } as Partial<Env>)).status).toBe(201);
  });

  it("one token, one spelling: every other spelling of its signature or payload → 401", async () => {
    const conv = uid("conv-spelling");
    const { token } = await mint(conv);
    const [prefix, kid, payload, signature] = token.split(".") as [string, string, string, string];
    // 32 bytes of HMAC are 43 base64url characters: the last one carries 4 bits of the MAC and 2
    // unused bits, so four characters decode to the same bytes. Only the one with zero bits is ours.
    const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const last = ALPHABET.indexOf(signature.at(-1)!);
    expect(signature).toHaveLength(43);
    expect(last & 3).toBe(0);
    const spellings = [1, 2, 3].map((bits) => `${signature.slice(0, -1)}${ALPHABET[last | bits]}`);
    for (const other of [...spellings, `${signature}=`, `${signature.slice(0, -1)}${ALPHABET[last]}A`]) {
      await expectRejected(() => writeWith(`${prefix}.${kid}.${payload}.${other}`, conv), 401, "UNAUTHORIZED");
    }
    // A payload spelled another way and signed with the right key (an offline minter's bug) is refused too.
    const claims = { c: conv, exp: Date.now() + HOUR, iat: Date.now() };
    const json = JSON.stringify(claims);
    const text = b64url(new TextEncoder().encode(json));
    // Pad the claims until their base64url has unused bits in its last character (length % 4 of 2 or 3).
    const padded = { ...claims, pad: "x".repeat(text.length % 4 === 0 ? 1 : 0) };
    const paddedText = b64url(new TextEncoder().encode(JSON.stringify(padded)));
    expect(paddedText.length % 4).not.toBe(0);
    const lastPayload = ALPHABET.indexOf(paddedText.at(-1)!);
    const flipped = await signOffline(padded, { payload: (p) => `${p.slice(0, -1)}${ALPHABET[lastPayload | 1]}` });
    await expectRejected(() => writeWith(flipped, conv), 401, "UNAUTHORIZED", /not spelled canonically|canonical/);
    expect((await writeWith(await signOffline(padded), conv)).status).toBe(201);
  });

  it("the ingest token with an Origin header is refused on every write route", async () => {
    const conv = uid("conv-origin");
    await expectRejected(
      () => call("POST", "/api/turns", { body: snapshot(conv), headers: ORIGIN }),
      403,
      "FORBIDDEN",
      /server credential/,
    );
    await expectRejected(() => call("POST", "/api/turns/batch", { body: { items: [snapshot(conv)] }, headers: ORIGIN }), 403, "FORBIDDEN");
    await expectRejected(
      () => call("PUT", `/api/conversations/${conv}/runtime`, { body: { runtime_key: "p", session_id: "s" }, headers: ORIGIN }),
      403,
      "FORBIDDEN",
    );
    // Without Origin (a server) it works.
    expect((await post("/api/turns", snapshot(conv))).status).toBe(201);
  });
});

describe("work bounds per request (checked before any hashing or write)", () => {
  const tiny = (n: number, salt: string) => Array.from({ length: n }, (_, i) => ({ id: `${salt}-${i}`, kind: "user", payload: {} }));

  it("100 snapshots × 1,000 tiny blocks → 413 TOO_MANY_BLOCKS, nothing stored", async () => {
    const conv = uid("conv-tiny");
    // About 1.6 MiB: each block is {"kind":"user"} and gets the id <turn_id>#<ordinal>.
    const items = Array.from({ length: 100 }, (_, i) => ({
      conv_id: conv,
      session_id: "s",
      created_at_ms: 1,
      turn: { id: `t${i}`, blocks: Array(1_000).fill({ kind: "user" }) },
    }));
    const before = await tableCounts();
    await expectRejected(() => post("/api/turns/batch", { items }), 413, "TOO_MANY_BLOCKS", /more than 50000 blocks/);
    expect(await tableCounts()).toEqual(before);
  });

  it("more than 10,000 distinct new blocks in one request → 413", () =>
    expectRejected(
      () =>
        post("/api/turns/batch", {
          items: [0, 1].map((i) => ({
            conv_id: "conv-many",
            session_id: "s",
            created_at_ms: 1,
            turn: { id: `t${i}`, blocks: tiny(5_001, `t${i}`) },
          })),
        }),
      413,
      "TOO_MANY_BLOCKS",
      /would store 10002 new blocks; at most 10000/,
    ));

  it("a snapshot listing more than 20,000 blocks → 413", () =>
    expectRejected(
      () =>
        post("/api/turns", { conv_id: "conv-many", session_id: "s", created_at_ms: 1, turn: { id: "t", blocks: Array(20_001).fill({}) } }),
      413,
      "TOO_MANY_BLOCKS",
      /at most 20000/,
    ));

  it("content that expands beyond 8 MiB when written → 413", () => {
    // "<" is one byte in the body and six ("\u003c") in the canonical JSON that is stored.
    const blocks = Array.from({ length: 6 }, (_, i) => ({ id: `b${i}`, kind: "user", payload: { text: "<".repeat(250_000) } }));
    return expectRejected(
      () => post("/api/turns", { conv_id: "conv-wide", session_id: "s", created_at_ms: 1, turn: { id: "t", blocks } }),
      413,
      "PAYLOAD_TOO_LARGE",
      /8 MiB/,
    );
  });

  it("repeated blocks are counted once: a long conversation's full snapshot is accepted", async () => {
    const conv = uid("conv-long");
    const history = tiny(3_000, "h");
    expect(
      (await post("/api/turns", { conv_id: conv, session_id: "s", created_at_ms: 1, turn: { id: "t", blocks: [...history, ...history] } }))
        .status,
    ).toBe(201);
    const view = await json(await get(`/api/debug/turns?conv_id=${conv}&payload=none`));
    expect(view.items[0]!.block_count).toBe(6_000);
  });

  it("repeated content counts once toward the 8 MiB bound: 6 items repeating one 1.5 MB block are accepted", async () => {
    const conv = uid("conv-repeat");
    // "<" is stored as "\u003c": 1.5 MB of canonical JSON per copy, 9 MB for the six — stored once.
    // (1.8 MB would not fit D1 as sent — 2.1 MB of JSON once escaped again — and is refused: 422.)
    const big = { id: "big", kind: "tool_use", role: "tool", payload: { text: "<".repeat(250_000) } };
    const items = Array.from({ length: 6 }, (_, i) => ({
      conv_id: conv,
      session_id: "s",
      created_at_ms: 1 + i,
      turn: { id: `t${i}`, blocks: [big] },
    }));
    expect((await post("/api/turns/batch", { items })).status).toBe(201);
    const stored = await rowsEverywhere(
      "SELECT count(*) AS n, max(length(payload_json)) AS bytes FROM blocks WHERE block_id = 'big' AND ref_count = 1",
    );
    expect(stored.filter((r) => r.n !== 0)).toEqual([{ n: 1, bytes: 1_500_011 }]);
  });
});

// Last: its thousands of accepted snapshots would be read again by every "nothing changed" check
// after it (databaseDigest reads every row).
describe("rate limits (wrangler.toml [[ratelimits]])", () => {
  // Each of these may wait up to 5 s for a fresh rate-limit window before its burst.
  it("a burst of 250 writes in 10 s from one conversation token is stopped; refused writes store nothing", {
    timeout: 30_000,
  }, async () => {
    const conv = uid("conv-burst");
    const { token } = await mint(conv);
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    await freshRateWindow();
    for (let i = 0; i < 250; i++) {
      const res = await call("POST", "/api/turns", { token, body: snapshot(conv, `t${i}`), headers: ORIGIN, env: RATE_LIMITS_ON });
      statuses.push(res.status);
      if (res.status === 429) {
        retryAfter ??= res.headers.get("retry-after");
        expect((await json(res)).error.code).toBe("RATE_LIMITED");
      }
    }
    const accepted = statuses.filter((s) => s === 201).length;
    expect(accepted).toBeLessThanOrEqual(100);
    expect(statuses.filter((s) => s === 429).length).toBe(250 - accepted);
    expect(retryAfter).toBe("10");
    expect(await countEverywhere("SELECT count(*) AS n FROM turn_snapshots WHERE conv_id = ?1", conv)).toBe(accepted);
  });

  it("one client address is limited across conversations", { timeout: 30_000 }, async () => {
    const address = { ...ORIGIN, "cf-connecting-ip": "203.0.113.7" };
    let limited: Response | null = null;
    await freshRateWindow();
    for (let i = 0; i < 320 && !limited; i++) {
      const conv = uid("conv-ip");
      const { token } = await mint(conv);
      // Invalid bodies count too: the limit is checked before the body is read.
      const res = await call("POST", "/api/turns", {
        token,
        raw: "{}",
        headers: { ...address, "content-type": "application/json" },
        env: RATE_LIMITS_ON,
      });
      if (res.status === 429) limited = res;
      else expect(res.status).toBe(400);
    }
    expect(limited).not.toBeNull();
    expect(limited!.headers.get("retry-after")).toBe("10");
    expect((await json(limited!)).error.message).toMatch(/client address/);
  });

  it("the ingest token has its own, larger budget, counted in snapshots", { timeout: 60_000 }, async () => {
    let limited: Response | null = null;
    let sent = 0;
    await freshRateWindow();
    // Batches of 100 snapshots: the budget (5,000 a window) counts their snapshots, not the requests.
    const conv = uid("conv-server");
    while (!limited && sent < 10_200) {
      const items = Array.from({ length: 100 }, (_, i) => snapshot(conv, `t${sent + i}`));
      const res = await call("POST", "/api/turns/batch", { body: { items }, env: RATE_LIMITS_ON });
      if (res.status === 429) limited = res;
      else expect(res.status).toBe(201);
      sent += 100;
    }
    expect(sent).toBeGreaterThan(1_000);
    expect(sent).toBeLessThanOrEqual(10_100);
    expect(limited).not.toBeNull();
    expect((await json(limited!)).error.message).toMatch(/ingest token/);
  });

  it("RATE_LIMITS=off switches the checks off", async () => {
    const conv = uid("conv-off");
    const { token } = await mint(conv);
    for (let i = 0; i < 120; i++) {
      expect(
        (
          await call("POST", "/api/turns", {
            token,
            raw: "{}",
            headers: { ...ORIGIN, "content-type": "application/json" },
            env: { RATE_LIMITS: "off" } as Partial<Env>,
          })
        ).status,
      ).toBe(400);
    }
  });
});
