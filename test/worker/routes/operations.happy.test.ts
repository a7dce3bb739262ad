/**
 * Operations (CONTRACT §5.7): the request id on every response, transient D1 failures as a
 * retryable 503, one log line per write request (accepted or refused) that never carries content or
 * tokens, and the debug filters' rough edges.
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { call, databaseDigest, freshRateWindow, get, INGEST_TOKEN, json, post, turnBody, uid, CONVERSATION_BINDINGS } from "../harness";

afterEach(() => {
  vi.restoreAllMocks();
});

describe("X-Request-Id on every response", () => {
  it.each<[string, string, Parameters<typeof call>[2]]>([
    ["GET", "/healthz", { token: null }],
    ["GET", "/api/openapi.json", { token: null }],
    ["GET", "/api/debug/conversations", { token: "wrong" }],
    ["GET", "/api/debug/conversations?limit=0", {}],
    ["GET", "/api/debug/conversations/nope", {}],
    ["GET", "/api/debug/turns", { env: { DEBUG_TOKEN: "" } }],
    ["GET", "/api/nope", { token: null }],
    ["DELETE", "/api/turns", { token: null }],
    ["OPTIONS", "/api/turns", { token: null, headers: { origin: "https://evil.example", "access-control-request-method": "POST" } }],
    ["OPTIONS", "/api/turns", { token: null, headers: { origin: "https://chat.example.com", "access-control-request-method": "POST" } }],
    ["GET", "/debug", { token: null }],
    ["GET", "/debug/assets/viewer.js", { token: null }],
    ["GET", "/debug/c/x", { token: null, env: { DEBUG_TOKEN: "" } }],
    ["POST", "/api/turns", { token: "wrong", body: {} }],
    ["POST", "/api/turns", { body: {} }],
    ["DELETE", "/api/conversations/nope", {}],
  ])("%s %s", async (method, path, options) => {
    const res = await call(method, path, options);
    expect(res.headers.get("x-request-id")).toMatch(/^[\w-]{8,}$/);
  });
});

describe("a client-sent X-Request-Id is only logged (CONTRACT §6.3)", () => {
  const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

  /** Every console line of one request, parsed. */
  async function linesOf(send: () => Promise<Response>) {
    const lines: string[] = [];
    const capture = (...args: unknown[]) => void lines.push(args.map(String).join(" "));
    for (const level of ["log", "info", "warn", "error", "debug"] as const) vi.spyOn(console, level).mockImplementation(capture);
    const res = await send();
    vi.restoreAllMocks();
    return { res, lines: lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
  }

  it.each([
    ["an id of its own choosing", "anything-it-likes"],
    ["a UUID (another request's, say)", "0b9e2f4c-2d1a-4c4e-9b8a-7f6e5d4c3b2a"],
    ["an empty value", ""],
    ["2,000 characters", "x".repeat(2000)],
  ])("the response carries the Worker's own UUID whatever the client sends: %s", async (_name, sent) => {
    for (const [method, path, options] of [
      ["GET", "/healthz", { token: null }],
      ["GET", "/api/debug/conversations", {}],
      ["POST", "/api/turns", { body: {} }],
      ["GET", "/api/nope", { token: null }],
    ] as const) {
      const res = await call(method, path, { ...options, headers: { "x-request-id": sent } });
      expect(res.headers.get("x-request-id"), `${method} ${path}`).toMatch(UUID);
      expect(res.headers.get("x-request-id")).not.toBe(sent);
    }
    // Two requests with the same client value get two ids.
    const [a, b] = await Promise.all([1, 2].map(() => call("GET", "/healthz", { token: null, headers: { "x-request-id": sent } })));
    expect(a!.headers.get("x-request-id")).not.toBe(b!.headers.get("x-request-id"));
  });

  it("the write log line names it as client_request_id, next to the Worker's request_id", async () => {
    const conv = uid("conv-client-id");
    const { res, lines } = await linesOf(() =>
      post("/api/turns", turnBody({ conv_id: conv, session_id: "s", turn_id: "t", created_at_ms: 1 }), {
        headers: { "x-request-id": "anything-it-likes" },
      }),
    );
    expect(res.status).toBe(201);
    const write = lines.find((l) => l.event === "write");
    expect(write).toMatchObject({ request_id: res.headers.get("x-request-id"), client_request_id: "anything-it-likes" });
    expect(write!.request_id).toMatch(UUID);
  });

  it.each<[string, string, string | undefined]>([
    ["kept up to 128 characters", "a".repeat(200), "a".repeat(128)],
    ["printable ASCII kept as sent", "req-1 (retry #2) /x?y=z", "req-1 (retry #2) /x?y=z"],
    ["a tab: omitted", "id\twith-tab", undefined],
    ["DEL: omitted", "id\u007f", undefined],
    ["Latin-1 text: omitted", "caf\u00e9", undefined],
    ["a JSON-looking value is only a string", '","request_id":"forged', '","request_id":"forged'],
    ["none sent: no field", "", undefined],
  ])("client_request_id is bounded: %s", async (_name, sent, expected) => {
    const { res, lines } = await linesOf(() =>
      call("PUT", `/api/conversations/${uid("conv-client-id")}/runtime`, {
        body: { runtime_key: "planner", session_id: "s", at_ms: 5 },
        headers: sent === "" ? {} : { "x-request-id": sent },
      }),
    );
    expect(res.status).toBe(200);
    const write = lines.find((l) => l.event === "write")!;
    expect(write.request_id).toBe(res.headers.get("x-request-id"));
    if (expected === undefined) expect(write).not.toHaveProperty("client_request_id");
    else expect(write.client_request_id).toBe(expected);
  });

  it("the error lines (500, D1 unavailable) carry it too", async () => {
    const body = turnBody({ conv_id: uid("conv-client-id-500"), session_id: "s", turn_id: "t", created_at_ms: 1 });
    const headers = { "x-request-id": "client-500" };
    const boom = await linesOf(() => post("/api/turns", body, { headers, env: { DB: failingOnce("boom") } }));
    expect(boom.res.status).toBe(500);
    expect(boom.lines.find((l) => l.level === "error" && l.event === undefined)).toMatchObject({
      request_id: boom.res.headers.get("x-request-id"),
      client_request_id: "client-500",
    });
    const busy = await linesOf(() => post("/api/turns", body, { headers, env: { DB: failingOnce("D1_ERROR: D1 DB is overloaded.") } }));
    expect(busy.res.status).toBe(503);
    expect(busy.lines.find((l) => l.event === "d1_unavailable")).toMatchObject({
      request_id: busy.res.headers.get("x-request-id"),
      client_request_id: "client-500",
    });
  });
});

/** The real binding, with batches that fail once with `message`. */
function failingOnce(message: string): D1Database {
  let failed = false;
  const wrap = (target: D1Database | D1DatabaseSession): D1Database =>
    new Proxy(target, {
      get(obj, prop) {
        if (prop === "withSession") return (...args: unknown[]) => wrap((obj as D1Database).withSession(...(args as [string])));
        if (prop === "batch")
          return async (statements: D1PreparedStatement[]) => {
            if (!failed) {
              failed = true;
              throw new Error(message);
            }
            return obj.batch(statements);
          };
        const value = Reflect.get(obj, prop, obj);
        return typeof value === "function" ? value.bind(obj) : value;
      },
    }) as D1Database;
  return wrap(env.DB);
}

describe("transient D1 failures", () => {
  it.each([
    "D1_ERROR: Network connection lost.",
    "D1_ERROR: Internal error while starting up D1 DB storage caused object to be reset.",
    "D1_ERROR: D1 DB reset because its code was updated.",
    "D1_ERROR: D1 DB is overloaded. Too many requests queued.",
    "D1_ERROR: SQLITE_BUSY: database is locked",
  ])("%s → 503 UNAVAILABLE with Retry-After, nothing stored; the retry succeeds", async (message) => {
    vi.spyOn(console, "warn").mockImplementation(() => {});
    const body = turnBody({ conv_id: uid("conv-503"), session_id: "s", turn_id: "t", created_at_ms: 1 });
    const before = await databaseDigest();
    const db = failingOnce(message);
    const res = await post("/api/turns", body, { env: { DB: db } });
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("2");
    expect((await json(res)).error.code).toBe("UNAVAILABLE");
    expect(await databaseDigest()).toBe(before);
    expect((await post("/api/turns", body, { env: { DB: db } })).status).toBe(201);
  });

  it("any other failure is still a 500 that quotes the request id", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const res = await post("/api/turns", turnBody({ conv_id: uid("conv-500"), session_id: "s", turn_id: "t", created_at_ms: 1 }), {
      env: { DB: failingOnce("boom") },
    });
    expect(res.status).toBe(500);
    expect((await json(res)).error.message).toContain(res.headers.get("x-request-id")!);
  });
});

describe("one log line per write request", () => {
  const MARKER = "payload-text-never-logged-0c1d";

  async function logged(send: () => Promise<Response>) {
    const lines: string[] = [];
    const capture = (...args: unknown[]) => void lines.push(args.map(String).join(" "));
    for (const level of ["log", "info", "warn", "error", "debug"] as const) vi.spyOn(console, level).mockImplementation(capture);
    const res = await send();
    vi.restoreAllMocks();
    const writes = lines.map((l) => JSON.parse(l)).filter((l) => l.event === "write");
    expect(writes, lines.join("\n")).toHaveLength(1);
    for (const line of lines) {
      expect(line).not.toContain(MARKER);
      expect(line).not.toContain(INGEST_TOKEN);
    }
    return { res, line: writes[0] };
  }

  it("accepted: ids, session, time and attribution of every snapshot, and what it cost", async () => {
    const conv = uid("conv-log");
    const { res, line } = await logged(() =>
      post("/api/turns/batch", {
        items: [
          turnBody({ conv_id: conv, session_id: "s1", turn_id: "t1", created_at_ms: 11, runtime_key: "planner", text: MARKER }),
          turnBody({ conv_id: conv, session_id: "s2", turn_id: "t2", created_at_ms: 12, text: MARKER }),
        ],
      }),
    );
    expect(res.status).toBe(201);
    expect(line).toMatchObject({
      level: "info",
      request_id: res.headers.get("x-request-id"),
      route: "POST /api/turns/batch",
      status: 201,
      code: null,
      conversations: [conv],
      sessions: ["s1", "s2"],
      items: 2,
      snapshots: [
        {
          conv_id: conv,
          session_id: "s1",
          turn_id: "t1",
          phase: "final",
          created_at_ms: 11,
          runtime_key: "planner",
          inference_id: "",
          outcome: "created",
        },
        {
          conv_id: conv,
          session_id: "s2",
          turn_id: "t2",
          phase: "final",
          created_at_ms: 12,
          runtime_key: "",
          inference_id: "",
          outcome: "created",
        },
      ],
      rows_written: expect.any(Number),
      duration_ms: expect.any(Number),
    });
  });

  /** Each case: set up (unlogged), then the request whose one log line is checked. */
  it.each<[string, () => Promise<() => Promise<Response>>, number, string]>([
    [
      "409",
      async () => {
        const conv = uid("conv-log-409");
        await post("/api/turns", turnBody({ conv_id: conv, session_id: "s", turn_id: "t", created_at_ms: 1 }));
        return () => post("/api/turns", turnBody({ conv_id: conv, session_id: "s", turn_id: "t", created_at_ms: 1, text: MARKER }));
      },
      409,
      "SNAPSHOT_CONFLICT",
    ],
    [
      "422",
      async () => () =>
        post("/api/turns", { conv_id: "conv-log-422", session_id: "s", payload: `id: t\ndata: {x: 0777, note: ${MARKER}}\n` }),
      422,
      "INVALID_PAYLOAD",
    ],
    [
      "413",
      async () => () =>
        call("POST", "/api/turns", {
          raw: JSON.stringify({ conv_id: "conv-log-413", session_id: "s", turn: { id: "t" }, pad: MARKER.repeat(300_000) }),
          headers: { "content-type": "application/json" },
        }),
      413,
      "PAYLOAD_TOO_LARGE",
    ],
    [
      "401",
      async () => () =>
        post("/api/turns", turnBody({ conv_id: "conv-log-401", session_id: "s", turn_id: "t", text: MARKER }), { token: "wrong-token" }),
      401,
      "UNAUTHORIZED",
    ],
    [
      "429",
      async () => {
        const conv = uid("conv-log-429");
        const { token } = await json(await post("/api/tokens", { conv_id: conv }));
        // The 100 requests and the refused one inside one window of the limiter.
        await freshRateWindow(8_000);
        vi.spyOn(console, "log").mockImplementation(() => {});
        for (let i = 0; i < 100; i++)
          await call("POST", "/api/turns", {
            token,
            raw: "{}",
            headers: { "content-type": "application/json" },
            env: { RATE_LIMITS: "on" } as Partial<Env>,
          });
        vi.restoreAllMocks();
        return () =>
          call("POST", "/api/turns", {
            token,
            body: turnBody({ conv_id: conv, session_id: "s", turn_id: "t", text: MARKER }),
            env: { RATE_LIMITS: "on" } as Partial<Env>,
          });
      },
      429,
      "RATE_LIMITED",
    ],
  ])("refused (%s): status and code, the conversation, no content", async (_name, setup, status, code) => {
    const send = await setup();
    const { res, line } = await logged(send);
    expect(res.status).toBe(status);
    expect(line).toMatchObject({
      request_id: res.headers.get("x-request-id"),
      route: expect.stringMatching(/^POST \/api\/turns/),
      status,
      code,
    });
  });

  it("a runtime switch logs the switch", async () => {
    const conv = uid("conv-log-switch");
    const { line } = await logged(() =>
      call("PUT", `/api/conversations/${conv}/runtime`, { body: { runtime_key: "planner", session_id: "s", at_ms: 5 } }),
    );
    expect(line).toMatchObject({
      route: "PUT /api/conversations/:conv_id/runtime",
      status: 200,
      conversations: [conv],
      runtime_key: "planner",
      at_ms: 5,
      resolved_runtime_key: "planner",
    });
  });
});

describe("debug filters", () => {
  it("the envelope echoes runtime_key and inference_id as given", async () => {
    const conv = uid("conv-echo");
    await post(
      "/api/turns",
      turnBody({ conv_id: conv, session_id: "s", turn_id: "t", created_at_ms: 1, runtime_key: "planner", inference_id: "inf-1" }),
    );
    const body = await json(await get(`/api/debug/turns?conv_id=${conv}&runtime_key=planner&inference_id=inf-1`));
    expect(body).toMatchObject({ conv_id: conv, runtime_key: "planner", inference_id: "inf-1" });
    expect(body.items).toHaveLength(1);
    expect(await json(await get(`/api/debug/turns?conv_id=${conv}`))).toMatchObject({ runtime_key: "", inference_id: "" });
  });

  it.each([
    ["a runtime_key with edge spaces", "runtime_key=%20planner", /runtime_key must not start or end with whitespace/],
    ["an inference_id with a trailing tab", "inference_id=inf%09", /inference_id must not start or end with whitespace/],
    ["a repeated limit", "limit=1&limit=2", /"limit" is given 2 times/],
    ["a repeated conv_id", "conv_id=b", /"conv_id" is given 2 times/],
  ])("%s → 400 INVALID_PARAMETER with a clear message", async (_name, query, message) => {
    const res = await get(`/api/debug/turns?conv_id=a&${query}`);
    expect(res.status).toBe(400);
    const error = (await json(res)).error;
    expect(error.code).toBe("INVALID_PARAMETER");
    expect(error.message).toMatch(message);
  });
});

describe("GET /healthz", () => {
  it("answers the last applied migration and the one this Worker needs", async () => {
    const res = await call("GET", "/healthz", { token: null });
    expect(res.status).toBe(200);
    const body = await json(res);
    const journal = (await import("../../../drizzle/meta/_journal.json")).default;
    const newest = `${journal.entries.at(-1)!.tag}.sql`;
    expect(body).toEqual({
      ok: true,
      schema: newest,
      expected_schema: newest,
      maintenance: { deletions_failing: 0, conversions_failing: 0, moves_unfinished: 0 },
      databases: CONVERSATION_BINDINGS.map((binding) => ({ binding, schema: newest })),
    });
  });

  it("is 503 NOT_CONFIGURED while D1 is behind the Worker (a deploy before its migrations), naming both", async () => {
    const last = await env.DB.prepare("SELECT id, name, applied_at FROM d1_migrations ORDER BY id DESC LIMIT 1").first<{
      id: number;
      name: string;
      applied_at: string;
    }>();
    await env.DB.prepare("DELETE FROM d1_migrations WHERE id = ?1").bind(last!.id).run();
    try {
      const res = await call("GET", "/healthz", { token: null });
      expect(res.status).toBe(503);
      const body = await json(res);
      expect(body.error.code).toBe("NOT_CONFIGURED");
      expect(body.error.message).toContain(`this Worker needs ${last!.name}`);
    } finally {
      await env.DB.prepare("INSERT INTO d1_migrations (id, name, applied_at) VALUES (?1, ?2, ?3)")
        .bind(last!.id, last!.name, last!.applied_at)
        .run();
    }
    expect((await call("GET", "/healthz", { token: null })).status).toBe(200);
  });
});
