/**
 * Security: the token on every protected route and method, the debug surface switched off, nothing
 * secret in logs or error bodies, CORS only for configured origins, and hostile input stored and
 * queried literally (or refused with the error envelope — never a crash, never a partial write).
 * ingest.security.test.ts covers the basic token and CORS cases; this file goes wider.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import worker from "../../../src/index";
import {
  call,
  databaseDigest,
  debugRoutes,
  DEBUG_TOKEN,
  expectRejected,
  get,
  INGEST_TOKEN,
  json,
  post,
  tableCounts,
  turnBody,
  uid,
  writeRoutes,
} from "../harness";

const JSON_TYPE = { "content-type": "application/json" };
const METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] as const;

const WRITE_ROUTES = writeRoutes("conv-sec2");
const DEBUG_ROUTES = debugRoutes("conv-sec2");
const validSnapshot = WRITE_ROUTES[0]!.body;

/** Wrong tokens for `token`: same length (first / last character changed), prefix, extension, case, the other route's token. */
function wrongTokens(token: string, other: string): string[] {
  const flip = (ch: string) => (ch === "a" ? "b" : "a");
  return [
    flip(token[0]!) + token.slice(1),
    token.slice(0, -1) + flip(token.at(-1)!),
    token.slice(0, -1),
    `${token}x`,
    token.toUpperCase(),
    other,
    "x",
  ];
}

async function expectUnauthorized(res: Response, method: string) {
  expect(res.status).toBe(401);
  expect(res.headers.get("www-authenticate")).toMatch(/^Bearer/);
  if (method !== "HEAD") expect((await json(res)).error.code).toBe("UNAUTHORIZED");
}

describe("tokens on every protected route and method", () => {
  // Hono's bearer-auth compares with timingSafeEqual (SHA-256 of both sides, then a full-length XOR
  // loop), so a wrong token costs the same whether it differs early, late, or in length. Timing is
  // not asserted here (no timed assertions in tests); what is asserted is that every one of those
  // near-misses is refused the same way.
  it.each([...WRITE_ROUTES, ...DEBUG_ROUTES])("$method $path: no token or any wrong token → 401", async (route) => {
    const before = await databaseDigest();
    const other = route.token === INGEST_TOKEN ? DEBUG_TOKEN : INGEST_TOKEN;
    const methods = route.method === "GET" ? ["GET", "HEAD"] : [route.method];
    for (const method of methods) {
      await expectUnauthorized(await call(method, route.path, { body: route.body, token: null }), method);
      for (const token of wrongTokens(route.token, other)) {
        await expectUnauthorized(await call(method, route.path, { body: route.body, token }), method);
      }
      // Right token, wrong scheme or shape.
      for (const authorization of [
        `Basic ${route.token}`,
        `Token ${route.token}`,
        `Bearer`,
        `Bearer  `,
        `${route.token}`,
        `Bearer ${route.token} extra`,
      ]) {
        await expectUnauthorized(await call(method, route.path, { body: route.body, token: null, headers: { authorization } }), method);
      }
      // A very long header is just another wrong token.
      await expectUnauthorized(await call(method, route.path, { body: route.body, token: "A".repeat(64 * 1024) }), method);
    }
    expect(await databaseDigest()).toBe(before);
  });

  it.each([...WRITE_ROUTES, ...DEBUG_ROUTES])("$method $path: other methods → 405 with Allow, without a token", async (route) => {
    const before = await databaseDigest();
    const own = route.method === "GET" ? ["GET", "HEAD"] : [route.method];
    const isWrite = route.token === INGEST_TOKEN;
    for (const method of METHODS.filter((m) => !own.includes(m))) {
      for (const token of [null, "wrong"]) {
        const res = await call(method, route.path, { body: method === "GET" || method === "HEAD" ? undefined : route.body, token });
        if (method === "OPTIONS" && isWrite) {
          // A CORS preflight with no (configured) Origin: refused before any token check.
          expect(res.status).toBe(403);
          continue;
        }
        expect(res.status).toBe(405);
        expect(res.headers.get("allow")).toContain(route.method);
        if (method !== "HEAD") expect((await json(res)).error.code).toBe("METHOD_NOT_ALLOWED");
      }
    }
    expect(await databaseDigest()).toBe(before);
  });

  it("the right token works on its own routes only", async () => {
    // The sanity half of the tests above: with the right token the same requests succeed, and each
    // token is refused on the other surface.
    for (const route of WRITE_ROUTES) {
      expect((await call(route.method, route.path, { body: route.body, token: route.token })).status).toBeLessThan(300);
      expect((await call(route.method, route.path, { body: route.body, token: DEBUG_TOKEN })).status).toBe(401);
    }
    for (const route of DEBUG_ROUTES) {
      expect((await call(route.method, route.path, { token: route.token })).status).toBe(200);
      expect((await call(route.method, route.path, { token: INGEST_TOKEN })).status).toBe(401);
      // The scheme name is case-insensitive (RFC 7235); the token is not.
      expect((await call(route.method, route.path, { token: null, headers: { authorization: `bearer ${route.token}` } })).status).toBe(200);
    }
  });

  it("debug disabled (DEBUG_TOKEN unset) → 404 on every debug route and method, whatever the token", async () => {
    const paths = [...DEBUG_ROUTES.map((r) => r.path), "/api/debug", "/api/debug/", "/api/debug/nope", "/api/debug/turn/a/b"];
    for (const path of paths) {
      for (const method of METHODS) {
        for (const token of [null, DEBUG_TOKEN, "wrong", ""]) {
          const res = await call(method, path, { token, env: { DEBUG_TOKEN: "" } });
          expect(res.status, `${method} ${path}`).toBe(404);
          expect(res.headers.get("www-authenticate")).toBeNull();
          if (method !== "HEAD") expect((await json(res)).error.code).toBe("NOT_FOUND");
        }
      }
    }
  });
});

describe("no token and no payload text in logs or error bodies", () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("holds for writes, reads, every kind of rejection and an internal error", async () => {
    const SECRET = "PAYLOAD-SECRET-7f3a";
    const stolenToken = "tok-STOLEN-9c1e";
    const lines: string[] = [];
    for (const level of ["log", "info", "warn", "error", "debug"] as const) {
      vi.spyOn(console, level).mockImplementation((...args: unknown[]) => {
        lines.push(args.map((a) => (typeof a === "string" ? a : (JSON.stringify(a) ?? String(a)))).join(" "));
      });
    }
    // An injected failure for one conversation, to see what a 500 logs (a real D1 constraint error).
    await env.DB.prepare(
      "CREATE TRIGGER IF NOT EXISTS refuse_conv_boom BEFORE INSERT ON turns WHEN NEW.conv_id = 'conv-boom' BEGIN SELECT RAISE(ABORT, 'injected failure'); END",
    ).run();

    const conv = uid("conv-logs");
    const secretTurn = (turnId: string, createdAt: number, text = SECRET) =>
      turnBody({
        conv_id: conv,
        session_id: "s",
        turn_id: turnId,
        created_at_ms: createdAt,
        runtime_key: "planner",
        metadata: { note: `${text} in metadata` },
        blocks: [{ kind: "user", payload: { text: `${text} in a block` } }],
      });
    const errorBodies: string[] = [];
    const send = async (res: Response, status: number) => {
      const text = await res.text();
      expect(res.status, text).toBe(status);
      if (status >= 400) errorBodies.push(text);
    };

    // Accepted writes and reads.
    await send(await post("/api/turns", secretTurn("t1", 10)), 201);
    await send(await post("/api/turns/batch", { items: [secretTurn("t2", 20), secretTurn("t3", 30)] }), 201);
    await send(
      await post("/api/turns", {
        conv_id: conv,
        session_id: "s",
        created_at_ms: 40,
        payload: `id: t4\nblocks:\n  - kind: user\n    payload: {text: "${SECRET}"}\n`,
      }),
      201,
    );
    await send(await call("PUT", `/api/conversations/${conv}/runtime`, { body: { runtime_key: "research", at_ms: 50 } }), 200);
    await send(await get(`/api/debug/turn/${conv}/s/t1`), 200);
    await send(await get(`/api/debug/turns?conv_id=${conv}`), 200);

    // Rejections that carry the secret somewhere in the request.
    await send(await post("/api/turns", secretTurn("t1", 10, `${SECRET} changed`)), 409);
    await send(await post("/api/turns", secretTurn("t5", 60), { token: stolenToken }), 401);
    await send(await get(`/api/debug/turns?conv_id=${conv}`, { token: stolenToken }), 401);
    await send(await call("POST", "/api/turns", { raw: SECRET, headers: JSON_TYPE }), 400);
    await send(await call("POST", "/api/turns", { raw: `{"conv_id": "${SECRET}" oops}`, headers: JSON_TYPE }), 400);
    await send(await call("POST", "/api/turns", { raw: `{"conv_id": "c", "session_id": ${SECRET}}`, headers: JSON_TYPE }), 400);
    await send(await post("/api/turns", { ...secretTurn("t5", 60), turn_id: 7 }), 400);
    await send(await post("/api/turns", { ...secretTurn("t5", 60), created_at_ms: SECRET }), 400);
    for (const payload of [
      `id: t\nblocks: []\nmetadata: *${SECRET}\n`, // unresolved alias (yaml names it in its message)
      `id: t\nblocks: []\nmetadata: {a: "\\q${SECRET}"}\n`, // bad escape
      `id: t\nblocks: [${SECRET}\n`,
      `id: t\nid: ${SECRET}\n`,
      `- ${SECRET}\n`,
      `${SECRET}`,
    ]) {
      const res = await post("/api/turns", { conv_id: conv, session_id: "s", created_at_ms: 70, payload });
      expect(res.status).toBe(422);
      errorBodies.push(await res.text());
    }
    await send(
      await post("/api/turns", {
        ...secretTurn("t5", 60),
        turn: { id: "t5", blocks: [{ kind: "user", payload: { deep: JSON.parse(`${"[".repeat(80)}"${SECRET}"${"]".repeat(80)}`) } }] },
      }),
      422,
    );
    await send(
      await post("/api/turns", { ...secretTurn("t5", 60), turn: { id: "t5", blocks: [], data: { big: SECRET.repeat(200_000) } } }),
      422,
    );
    await send(await call("POST", "/api/turns", { raw: JSON.stringify({ pad: SECRET.repeat(300_000) }), headers: JSON_TYPE }), 413);

    // An internal error: the client gets the request id, the log gets the cause — neither the payload.
    const boom = await post("/api/turns", { ...secretTurn("t6", 80), conv_id: "conv-boom" });
    const boomBody = await boom.text();
    expect(boom.status).toBe(500);
    expect(JSON.parse(boomBody).error.code).toBe("INTERNAL");
    expect(boomBody).not.toMatch(/injected failure|SQLITE|D1_ERROR/);
    errorBodies.push(boomBody);
    const requestId = boom.headers.get("x-request-id")!;
    expect(lines.some((line) => line.includes(requestId) && line.includes("injected failure"))).toBe(true);

    // The spies saw the write log lines (so the checks below are not vacuous)...
    expect(lines.filter((line) => line.includes('"event":"write"')).length).toBeGreaterThanOrEqual(3);
    expect(lines.some((line) => line.includes(conv))).toBe(true);
    // ...and no line and no error body holds a token or any payload text.
    for (const text of [...lines, ...errorBodies]) {
      for (const secret of [SECRET, INGEST_TOKEN, DEBUG_TOKEN, stolenToken]) expect(text).not.toContain(secret);
    }
    expect(errorBodies.length).toBeGreaterThan(15);
    for (const body of errorBodies)
      expect(JSON.parse(body)).toEqual({ error: { code: expect.stringMatching(/^[A-Z_]+$/), message: expect.any(String) } });
  });
});

describe("CORS only for configured origins", () => {
  const preflight = (origin: string, path = "/api/turns", extraEnv: Partial<Env> = {}) =>
    call("OPTIONS", path, { token: null, env: extraEnv, headers: { origin, "access-control-request-method": "POST" } });

  it("matches origins exactly: scheme, case, port, trailing slash and suffixes are other origins", async () => {
    for (const origin of [
      "http://chat.example.com",
      "https://CHAT.EXAMPLE.COM",
      "https://chat.example.com:8443",
      "https://chat.example.com/",
      "https://evil.chat.example.com",
      "https://chat.example.co",
      "*",
    ]) {
      const res = await preflight(origin);
      expect(res.status, origin).toBe(403);
      expect(res.headers.get("access-control-allow-origin")).toBeNull();
      const real = await post("/api/turns", { nope: 1 }, { headers: { origin } });
      expect(real.headers.get("access-control-allow-origin"), origin).toBeNull();
    }
  });

  it("never answers with a wildcard, and tells caches the answer depends on Origin", async () => {
    const res = await preflight("https://app.example.com", "/api/turns/batch");
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
    expect(res.headers.get("vary")).toMatch(/Origin/i);
    expect(res.headers.get("access-control-allow-credentials")).toBeNull();
  });

  it("a configured origin can read a 401 (CORS headers on errors too); another origin cannot", async () => {
    const ok = await post("/api/turns", validSnapshot, { token: "wrong", headers: { origin: "https://chat.example.com" } });
    expect(ok.status).toBe(401);
    expect(ok.headers.get("access-control-allow-origin")).toBe("https://chat.example.com");
    const other = await post("/api/turns", validSnapshot, { token: "wrong", headers: { origin: "https://evil.example.com" } });
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("with CORS_ORIGINS unset every preflight is refused and no response carries CORS headers", async () => {
    const res = await preflight("https://chat.example.com", "/api/turns", { CORS_ORIGINS: "" });
    expect(res.status).toBe(403);
    const real = await post("/api/turns", { nope: 1 }, { env: { CORS_ORIGINS: "" }, headers: { origin: "https://chat.example.com" } });
    expect(real.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("the debug surface has no CORS at all (it is not for browsers of other origins)", async () => {
    for (const route of DEBUG_ROUTES) {
      const res = await call("GET", route.path, { headers: { origin: "https://chat.example.com" } });
      expect(res.status).toBe(200);
      expect(res.headers.get("access-control-allow-origin")).toBeNull();
      const pre = await call("OPTIONS", route.path, {
        token: null,
        headers: { origin: "https://chat.example.com", "access-control-request-method": "GET" },
      });
      expect(pre.status).toBe(405);
      expect(pre.headers.get("access-control-allow-origin")).toBeNull();
    }
  });
});

const SQL_INJECTIONS = [
  "' OR '1'='1",
  "x'); DROP TABLE turns; --",
  '"; DELETE FROM turn_snapshots; --',
  "%' OR conv_id LIKE '%",
  "%",
  "_",
  "*",
  "\\",
  "?1",
  ":conv_id",
  "$1",
  "') UNION SELECT sql,1,1,1,1,1,1,1,1,1,1 FROM sqlite_master--",
  "1; PRAGMA writable_schema = 1",
  "json_each(?1)",
  "->> '$'",
];

describe("hostile input is stored and queried literally", () => {
  it("SQL-injection strings in every identifier are stored and returned exactly; filters match only themselves", async () => {
    const schema = async () => (await env.DB.prepare("SELECT type, name, sql FROM sqlite_master ORDER BY name").all()).results;
    const schemaBefore = await schema();
    const conv = uid("conv-sqli");
    // All in one conversation, each string used as session, turn, phase, runtime and inference id.
    const items = SQL_INJECTIONS.map((s, i) =>
      turnBody({ conv_id: conv, session_id: s, turn_id: s, phase: s, created_at_ms: 100 + i, runtime_key: s, inference_id: s }),
    );
    const countsBefore = await tableCounts();
    const res = await post("/api/turns/batch", { items });
    expect(res.status).toBe(201);
    expect((await json(res)).items.map((i: { turn_id: string }) => i.turn_id)).toEqual(SQL_INJECTIONS);
    const countsAfter = await tableCounts();
    expect(countsAfter.turn_snapshots! - countsBefore.turn_snapshots!).toBe(SQL_INJECTIONS.length);
    expect(countsAfter.turns! - countsBefore.turns!).toBe(SQL_INJECTIONS.length);

    for (const s of SQL_INJECTIONS) {
      const e = encodeURIComponent(s);
      const detail = await get(`/api/debug/turn/${encodeURIComponent(conv)}/${e}/${e}`);
      expect(detail.status, s).toBe(200);
      const body = await json(detail);
      expect({ conv: body.conv_id, session: body.session_id, turn: body.turn_id, n: body.items.length }).toEqual({
        conv,
        session: s,
        turn: s,
        n: 1,
      });
      expect(body.items[0]).toMatchObject({ phase: s, runtime_key: s, inference_id: s });
      for (const filter of [
        `session_id=${e}`,
        `conv_id=${encodeURIComponent(conv)}&phase=${e}`,
        `conv_id=${encodeURIComponent(conv)}&runtime_key=${e}`,
        `conv_id=${encodeURIComponent(conv)}&inference_id=${e}`,
      ]) {
        const page = await json(await get(`/api/debug/turns?${filter}`));
        expect(
          page.items.map((i: { turn_id: string }) => i.turn_id),
          `${filter}`,
        ).toEqual([s]);
      }
      // As a conversation id that does not exist: nothing, not everything.
      const none = await json(await get(`/api/debug/turns?conv_id=${e}`));
      expect(none.items).toEqual([]);
      expect((await get(`/api/debug/conversations/${e}`)).status).toBe(404);
    }
    // A runtime switch with such a conversation id touches only that conversation.
    const injected = SQL_INJECTIONS[1]!;
    const sw = await call("PUT", `/api/conversations/${encodeURIComponent(injected)}/runtime`, {
      body: { runtime_key: injected, session_id: injected, at_ms: 5 },
    });
    expect(sw.status).toBe(200);
    expect(await json(sw)).toMatchObject({ conv_id: injected, session_id: injected, resolved_runtime_key: injected });
    expect((await tableCounts()).conversations).toBe(countsAfter.conversations! + 1);
    expect(await schema()).toEqual(schemaBefore);
  });

  it("__proto__, constructor and prototype keys are stored and returned as data, with no prototype pollution", async () => {
    const conv = uid("conv-proto");
    // Raw text: JSON.parse makes "__proto__" an own data property; an object literal would not.
    const hostile = `{"__proto__": {"polluted": "yes", "runtime_key": "evil"}, "constructor": {"prototype": {"polluted": "yes"}}, "prototype": {"polluted": "yes"}, "nested": {"__proto__": {"polluted": "yes"}}, "text": "ok"}`;
    const raw = `{"conv_id": "${conv}", "session_id": "s", "created_at_ms": 5, "turn": {"id": "t", "blocks": [{"kind": "user", "payload": ${hostile}, "metadata": ${hostile}}], "metadata": ${hostile}, "data": ${hostile}}}`;
    const res = await call("POST", "/api/turns", { raw, headers: JSON_TYPE });
    expect(res.status).toBe(201);
    // The extraction rule reads own keys only: a runtime_key under __proto__ or constructor is not one.
    expect(await json(res)).toMatchObject({ runtime_key: "", inference_id: "" });

    const expected = JSON.parse(hostile);
    const detail = await json(await get(`/api/debug/turn/${conv}/s/t`));
    const parsed = detail.items[0]!.parsed;
    for (const value of [parsed.metadata, parsed.data, parsed.blocks[0]!.payload, parsed.blocks[0]!.metadata]) {
      // Stored as canonical JSON: keys come back in UTF-8 byte order, as Go writes them.
      expect(Object.keys(value)).toEqual(["__proto__", "constructor", "nested", "prototype", "text"]);
      expect(value).toEqual(expected);
      expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
      expect(Object.hasOwn(value, "__proto__")).toBe(true);
    }
    // The same through the YAML rendering of the list endpoint.
    const list = await json(await get(`/api/debug/turns?conv_id=${conv}`));
    expect(list.items[0]!.payload).toContain("__proto__:");
    // Replaying the same text is identical (200), so the key took part in hashing and fingerprints.
    expect((await call("POST", "/api/turns", { raw, headers: JSON_TYPE })).status).toBe(200);
    // Without the __proto__ key the content differs: a different snapshot under the same identity.
    const without = raw.replaceAll(`"__proto__": {"polluted": "yes", "runtime_key": "evil"}, `, "");
    expect((await call("POST", "/api/turns", { raw: without, headers: JSON_TYPE })).status).toBe(409);

    // And as YAML.
    const yaml = `id: t\nblocks: []\nmetadata:\n  __proto__:\n    runtime_key: evil\n  constructor: {prototype: {polluted: "yes"}}\n`;
    const yamlRes = await post("/api/turns", { conv_id: conv, session_id: "s", created_at_ms: 6, payload: yaml });
    expect(yamlRes.status).toBe(201);
    expect((await json(yamlRes)).runtime_key).toBe("");
    const yamlDetail = await json(await get(`/api/debug/turns?conv_id=${conv}&since_ms=6`));
    expect(yamlDetail.items[0]!.payload).toContain("__proto__:");

    for (const probe of [{}, [], Object.create(null) as object, new Map()])
      expect((probe as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.keys(Object.prototype)).toEqual([]);
  });

  it("nesting is bounded at 64 levels: 64 is stored, 65 and far deeper are refused with 422, not a crash", async () => {
    const conv = uid("conv-deep");
    const nested = (levels: number): unknown => {
      let value: unknown = "leaf";
      for (let i = 0; i < levels; i++) value = [value];
      return value;
    };
    // The turn is level 1 and data level 2, so data.x holding k nested arrays is k + 2 levels deep.
    const at = (levels: number, createdAt: number) => ({
      conv_id: conv,
      session_id: "s",
      created_at_ms: createdAt,
      turn: { id: "t", blocks: [], data: { x: nested(levels - 2) } },
    });
    expect((await post("/api/turns", at(64, 1))).status).toBe(201);
    await expectRejected(() => post("/api/turns", at(65, 2)), 422, "NESTING_TOO_DEEP");
    // 100,000 levels of objects and of arrays in raw JSON, in a batch item (named by index).
    const deepObject = `${'{"a":'.repeat(100_000)}1${"}".repeat(100_000)}`;
    const deepArray = "[".repeat(100_000) + "]".repeat(100_000);
    for (const deep of [deepObject, deepArray]) {
      const rawItem = `{"conv_id":"${conv}","session_id":"s","created_at_ms":3,"turn":{"id":"t","blocks":[{"kind":"user","payload":{"x":${deep}}}]}}`;
      await expectRejected(() => call("POST", "/api/turns", { raw: rawItem, headers: JSON_TYPE }), 422, "NESTING_TOO_DEEP");
      await expectRejected(
        () => call("POST", "/api/turns/batch", { raw: `{"items":[${JSON.stringify(at(3, 4))},${rawItem}]}`, headers: JSON_TYPE }),
        422,
        "NESTING_TOO_DEEP",
        /items\[1\]/,
      );
    }
    // YAML past 64 levels is NESTING_TOO_DEEP however deep, well-formed or not, flow or block: the
    // depth is read from the document as written, before yaml composes it (recursively: a deep
    // document exhausted its stack, answered "resource exhaustion" or, where the isolate had
    // optimized yaml's code, whatever else was wrong with the document).
    const postYaml = (data: string) => () =>
      post("/api/turns", { conv_id: conv, session_id: "s", created_at_ms: 5, payload: `id: t\nblocks: []\ndata:${data}\n` });
    for (const depth of [65, 1_000, 20_000, 200_000]) {
      for (const closing of ["]".repeat(depth), ""]) {
        await expectRejected(postYaml(` {x: ${"[".repeat(depth)}${closing}}`), 422, "NESTING_TOO_DEEP");
      }
    }
    // Within the bound, the same brackets left open are invalid YAML.
    await expectRejected(postYaml(` {x: ${"[".repeat(10)}}`), 422, "INVALID_PAYLOAD", /is not valid YAML/);
    // Block mappings 100 and 1,200 deep, each a line indented one more space (720 KB of YAML).
    for (const depth of [100, 1_200]) {
      const lines = Array.from({ length: depth }, (_, i) => `\n${" ".repeat(i + 1)}k:`).join("");
      await expectRejected(postYaml(`${lines}\n${" ".repeat(depth + 1)}v`), 422, "NESTING_TOO_DEEP");
    }
  });

  it("huge input: bodies over 4 MiB → 413 (with or without Content-Length); huge ids and parameters → 400", async () => {
    const conv = uid("conv-huge");
    const big = JSON.stringify({
      ...turnBody({ conv_id: conv, session_id: "s", turn_id: "t", created_at_ms: 1 }),
      pad: "x".repeat(4 * 1024 * 1024),
    });
    await expectRejected(() => call("POST", "/api/turns/batch", { raw: big, headers: JSON_TYPE }), 413, "PAYLOAD_TOO_LARGE");
    await expectRejected(
      () => call("PUT", `/api/conversations/${conv}/runtime`, { raw: big, headers: JSON_TYPE }),
      413,
      "PAYLOAD_TOO_LARGE",
    );
    // Streamed, so the size is only known while reading: the limit still holds (413, not 400 or 500).
    await expectRejected(
      async () => {
        const bytes = new TextEncoder().encode(big);
        const stream = new ReadableStream<Uint8Array>({
          start(controller) {
            for (let i = 0; i < bytes.length; i += 64 * 1024) controller.enqueue(bytes.subarray(i, i + 64 * 1024));
            controller.close();
          },
        });
        const request = new Request("https://turnstore.test/api/turns", {
          method: "POST",
          headers: { ...JSON_TYPE, authorization: `Bearer ${INGEST_TOKEN}` },
          body: stream,
          // @ts-expect-error -- workerd needs duplex for a streamed request body (not in every lib.dom).
          duplex: "half",
        });
        expect(request.headers.get("content-length")).toBeNull();
        const ctx = createExecutionContext();
        const res = await worker.fetch(request, env, ctx);
        await waitOnExecutionContext(ctx);
        return res;
      },
      413,
      "PAYLOAD_TOO_LARGE",
    );
    const long = "x".repeat(100_000);
    await expectRejected(
      () => post("/api/turns", turnBody({ conv_id: long, session_id: "s", turn_id: "t", created_at_ms: 1 })),
      400,
      "INVALID_REQUEST",
      /conv_id must be at most 256/,
    );
    await expectRejected(
      () => post("/api/turns", { ...turnBody({ conv_id: conv, session_id: "s", turn_id: "t", created_at_ms: 1 }), runtime_key: long }),
      400,
      "INVALID_REQUEST",
      /runtime_key must be at most 256/,
    );
    expect((await get(`/api/debug/turns?conv_id=${long}`)).status).toBe(400);
    // A huge path segment is simply an unknown turn (ids are at most 256 characters, so none matches).
    const path = await get(`/api/debug/turn/${long}/s/t`);
    expect(path.status).toBe(404);
    expect((await json(path)).error.code).toBe("NOT_FOUND");
  });

  it.each([
    ["a lone continuation byte", [0x80]],
    ["0xFF", [0xff]],
    ["an overlong '/' (C0 AF)", [0xc0, 0xaf]],
    ["a UTF-8-encoded surrogate (ED A0 80)", [0xed, 0xa0, 0x80]],
    ["a truncated 3-byte sequence", [0xe2, 0x82]],
    ["a code point above U+10FFFF (F4 90 80 80)", [0xf4, 0x90, 0x80, 0x80]],
  ])("invalid UTF-8 in the body (%s) → 400 INVALID_JSON on every write route", async (_name, bad) => {
    const encode = (text: string) => new TextEncoder().encode(text);
    const withBad = (before: string, after: string) => new Uint8Array([...encode(before), ...bad, ...encode(after)]);
    const snapshot = withBad(
      '{"conv_id":"conv-utf8","session_id":"s","turn":{"id":"t","blocks":[{"kind":"user","payload":{"text":"',
      '"}}]}}',
    );
    for (const [method, path, bytes] of [
      ["POST", "/api/turns", snapshot],
      ["POST", "/api/turns/batch", withBad('{"items":[{"conv_id":"conv-utf8","session_id":"s","turn":{"id":"', '","blocks":[]}}]}')],
      ["PUT", "/api/conversations/conv-utf8/runtime", withBad('{"runtime_key":"', '","session_id":"s"}')],
    ] as const) {
      await expectRejected(() => call(method, path, { bytes, headers: JSON_TYPE }), 400, "INVALID_JSON", /not valid UTF-8/);
    }
  });

  it("lone surrogates: refused where they would reach a TEXT column, kept exactly inside JSON content", async () => {
    const conv = uid("conv-surrogate");
    const base = { conv_id: conv, session_id: "s", turn_id: "t", created_at_ms: 1 };
    // Written as \ud800 escapes in the JSON text, which is how a client would send them.
    const raw = (body: unknown) => call("POST", "/api/turns", { raw: JSON.stringify(body), headers: JSON_TYPE });
    for (const field of ["conv_id", "session_id", "turn_id", "phase", "runtime_key", "inference_id"]) {
      await expectRejected(() => raw({ ...turnBody(base), [field]: "a\ud800b" }), 400, "INVALID_REQUEST", /lone surrogate/);
    }
    await expectRejected(
      () => call("PUT", `/api/conversations/${conv}/runtime`, { body: { runtime_key: "\udc00", session_id: "s" } }),
      400,
      "INVALID_REQUEST",
      /lone surrogate/,
    );
    // In turn.id, a block id, a block role, and the runtime / inference id found in metadata.
    const { turn_id: _omit, ...withoutTurnId } = base;
    for (const [turn, where] of [
      [{ id: "t\ud800", blocks: [] }, /turn\.id/],
      [{ id: "t", blocks: [{ id: "b\udfff", kind: "user" }] }, /blocks\[0\]\.id/],
      [{ id: "t", blocks: [{ kind: "user", role: "\ud800" }] }, /blocks\[0\]\.role/],
      [{ id: "t", blocks: [], metadata: { "geppetto.runtime@v1": { runtime_key: "p\ud800" } } }, /runtime_key/],
      [{ id: "t", blocks: [], metadata: { inference_id: "\udc00" } }, /inference_id/],
    ] as const) {
      await expectRejected(() => raw({ ...withoutTurnId, turn }), 422, "INVALID_TURN", where);
    }
    await expectRejected(
      () => post("/api/turns", { conv_id: conv, session_id: "s", payload: 'id: "t\\ud800"\nblocks: []\n' }),
      422,
      "INVALID_PAYLOAD",
      /payload\.id/,
    );

    // Inside JSON content (payload, metadata, data) they are data: stored and returned exactly.
    const content = {
      id: "t",
      blocks: [{ kind: "user", payload: { text: "a\ud800b\udc00" } }],
      metadata: { note: "\udfff" },
      data: { "\ud800key": "v" },
    };
    const ok = await raw({ ...base, turn: content });
    expect(ok.status).toBe(201);
    const parsed = (await json(await get(`/api/debug/turn/${conv}/s/t`))).items[0]!.parsed;
    expect(parsed.blocks[0]!.payload.text).toBe("a\ud800b\udc00");
    expect(parsed.metadata).toEqual({ note: "\udfff" });
    expect(parsed.data).toEqual({ "\ud800key": "v" });
    expect((await raw({ ...base, turn: content })).status).toBe(200);
  });

  it("path segments are decoded exactly once (%252F stays %2F)", async () => {
    const tag = uid("dbl");
    const ids = { slash: `${tag}/x`, encoded: `${tag}%2Fx`, twice: `${tag}%252Fx` };
    for (const [i, id] of Object.values(ids).entries()) {
      expect(
        (await post("/api/turns", turnBody({ conv_id: id, session_id: id, turn_id: id, created_at_ms: 10 + i, runtime_key: `rk-${i}` })))
          .status,
      ).toBe(201);
    }
    // Each id is reached by encoding it once; the raw %2F form reaches the id with a slash.
    for (const id of Object.values(ids)) {
      const e = encodeURIComponent(id);
      const detail = await json(await get(`/api/debug/turn/${e}/${e}/${e}`));
      expect({ conv: detail.conv_id, session: detail.session_id, turn: detail.turn_id }).toEqual({ conv: id, session: id, turn: id });
      expect((await json(await get(`/api/debug/conversations/${e}`))).conv_id).toBe(id);
      expect((await json(await get(`/api/debug/turns?conv_id=${e}`))).items.map((x: { conv_id: string }) => x.conv_id)).toEqual([id]);
    }
    expect((await json(await get(`/api/debug/turn/${tag}%2Fx/${tag}%2Fx/${tag}%2Fx`))).conv_id).toBe(ids.slash);
    expect((await json(await get(`/api/debug/turn/${tag}%252Fx/${tag}%252Fx/${tag}%252Fx`))).conv_id).toBe(ids.encoded);
    // A switch on the double-encoded path moves that conversation's pointer and no other.
    const sw = await call("PUT", `/api/conversations/${tag}%252Fx/runtime`, { body: { runtime_key: "moved", at_ms: 100 } });
    expect((await json(sw)).conv_id).toBe(ids.encoded);
    const pointers = await Promise.all(
      Object.values(ids).map(
        async (id) => (await json(await get(`/api/debug/conversations/${encodeURIComponent(id)}`))).resolved_runtime_key,
      ),
    );
    expect(pointers).toEqual(["rk-0", "moved", "rk-2"]);
  });

  it("malformed percent-encoding in a path or query is a 400, never a 500 or a lookup of the raw text", async () => {
    for (const path of [
      "/api/debug/turn/%FF/s/t",
      "/api/debug/turn/%/s/t",
      "/api/debug/turn/%E0%A4%A/s/t",
      "/api/debug/conversations/%ED%A0%80",
      "/api/debug/turns?conv_id=%FF",
      "/api/debug/turns?conv_id=%",
    ]) {
      const res = await get(path);
      expect(res.status, path).toBe(400);
      expect((await json(res)).error.code, path).toBe("INVALID_PARAMETER");
    }
    const put = await call("PUT", "/api/conversations/%FF/runtime", { body: { runtime_key: "p", session_id: "s" } });
    expect(put.status).toBe(400);
    // Well-formed encodings of the same characters still work.
    const ok = await get(`/api/debug/turns?conv_id=${encodeURIComponent("%FF")}`);
    expect(await json(ok)).toMatchObject({ conv_id: "%FF", items: [] });
  });
});
