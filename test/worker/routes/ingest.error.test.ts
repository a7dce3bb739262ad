/** Bad input on the write routes: the right status and error code, and nothing changes. */
import { describe, expect, it } from "vitest";
import { call, expectRejected, json, post, turnBody } from "../harness";

const valid = () => turnBody({ conv_id: "conv-err", session_id: "sess-err", turn_id: "turn-err", created_at_ms: 100 });

const raw = (text: string, type = "application/json") => call("POST", "/api/turns", { raw: text, headers: { "content-type": type } });

describe("POST /api/turns — malformed bodies", () => {
  it("wrong content type → 415", () => expectRejected(() => raw(JSON.stringify(valid()), "text/plain"), 415, "UNSUPPORTED_MEDIA_TYPE"));
  it("no content type → 415", () =>
    expectRejected(() => call("POST", "/api/turns", { raw: JSON.stringify(valid()) }), 415, "UNSUPPORTED_MEDIA_TYPE"));
  it("empty body → 400", () => expectRejected(() => raw(""), 400, "INVALID_JSON", /empty/));
  it("malformed JSON → 400", () => expectRejected(() => raw('{"conv_id": "x",'), 400, "INVALID_JSON"));
  it("JSON that is not an object → 400", () => expectRejected(() => raw("[1,2]"), 400, "INVALID_REQUEST"));
  it("body over 4 MiB → 413", () =>
    expectRejected(() => raw(JSON.stringify({ ...valid(), pad: "x".repeat(4 * 1024 * 1024) })), 413, "PAYLOAD_TOO_LARGE"));
  it("unknown top-level field → 400", () =>
    expectRejected(() => post("/api/turns", { ...valid(), extra: 1 }), 400, "INVALID_REQUEST", /unknown field.*extra/));
});

describe("POST /api/turns — fields", () => {
  it.each([
    ["missing conv_id", { conv_id: undefined }, /conv_id/],
    ["empty conv_id", { conv_id: "" }, /conv_id must not be empty/],
    ["whitespace session_id", { session_id: "  \t " }, /session_id must not be blank/],
    ["too long turn_id", { turn_id: "x".repeat(257) }, /turn_id must be at most 256/],
    ["control character in conv_id", { conv_id: "a\u0000b" }, /control characters/],
    ["newline in phase", { phase: "fi\nnal" }, /control characters/],
    ["number as conv_id", { conv_id: 42 }, /conv_id must be a string/],
    ["lone surrogate in turn_id", { turn_id: "a\ud800b" }, /lone surrogate/],
    ["zero-width space in conv_id", { conv_id: "conv-err\u200b" }, /format characters.*U\+200B/],
    ["BOM in session_id", { session_id: "\ufeffsess-err" }, /format characters.*U\+FEFF/],
    ["right-to-left override in turn_id", { turn_id: "turn-\u202erre" }, /format characters.*U\+202E/],
    ["NFD conv_id", { conv_id: "cafe\u0301" }, /NFC/],
    ["format character in phase", { phase: "final\u200d" }, /format characters/],
    ["format character in runtime_key", { runtime_key: "planner\u2060" }, /format characters/],
    ["created_at_ms zero", { created_at_ms: 0 }, /positive safe integer/],
    ["created_at_ms negative", { created_at_ms: -5 }, /positive safe integer/],
    ["created_at_ms fractional", { created_at_ms: 1.5 }, /positive safe integer/],
    ["created_at_ms beyond 2^53", { created_at_ms: 2 ** 60 }, /positive safe integer/],
    ["created_at_ms as string", { created_at_ms: "100" }, /positive safe integer/],
    ["runtime_key as number", { runtime_key: 7 }, /runtime_key must be a string/],
    ["neither turn nor payload", { turn: undefined }, /exactly one of turn/],
    ["both turn and payload", { payload: "id: turn-err\nblocks: []\n" }, /exactly one of turn/],
    ["blocks not an array", { turn: { id: "turn-err", blocks: { a: 1 } } }, /turn\.blocks/],
    ["block kind not a string", { turn: { id: "turn-err", blocks: [{ kind: 3 }] } }, /turn\.blocks\[0\]\.kind/],
    ["metadata not an object", { turn: { id: "turn-err", blocks: [], metadata: "planner" } }, /turn\.metadata/],
    ["block payload not an object", { turn: { id: "turn-err", blocks: [{ kind: "user", payload: "hi" }] } }, /turn\.blocks\[0\]\.payload/],
    ["block role not a string", { turn: { id: "turn-err", blocks: [{ kind: "user", role: 1 }] } }, /turn\.blocks\[0\]\.role/],
    ["block id not a string", { turn: { id: "turn-err", blocks: [{ kind: "user", id: 7 }] } }, /turn\.blocks\[0\]\.id/],
    ["turn not an object", { turn: ["turn-err"] }, /turn must be a JSON object/],
  ])("%s → 400", (_name, change, message) => {
    const body: Record<string, unknown> = { ...valid(), ...change };
    for (const key of Object.keys(change)) if ((change as Record<string, unknown>)[key] === undefined) delete body[key];
    return expectRejected(() => post("/api/turns", body), 400, "INVALID_REQUEST", message);
  });

  it("turn_id disagreeing with turn.id → 422", () =>
    expectRejected(() => post("/api/turns", { ...valid(), turn_id: "other" }), 422, "TURN_ID_MISMATCH", /disagrees/));

  it.each([
    ["blank", "   "],
    ["control character", "t\u0007"],
    ["too long", "x".repeat(257)],
    ["a dot segment", ".."],
  ])("turn.id %s (no turn_id field) → 422 by the same id rules", (_name, id) =>
    expectRejected(
      () => post("/api/turns", { conv_id: "c", session_id: "s", turn: { id, blocks: [] } }),
      422,
      "INVALID_TURN",
      /turn\.id must/,
    ),
  );

  it("a YAML id breaking the id rules → 422", () =>
    expectRejected(
      () => post("/api/turns", { conv_id: "c", session_id: "s", payload: 'id: "\t"\nblocks: []\n' }),
      422,
      "INVALID_PAYLOAD",
      /payload\.id must/,
    ));

  it.each([".", ".."])("conv_id %j cannot be addressed in a URL path → 400", (id) =>
    expectRejected(() => post("/api/turns", { ...valid(), conv_id: id }), 400, "INVALID_REQUEST", /must not be "\." or "\.\."/),
  );

  it("no turn_id anywhere → 422", () =>
    expectRejected(() => post("/api/turns", { conv_id: "c", session_id: "s", turn: { blocks: [] } }), 422, "TURN_ID_REQUIRED"));

  it("nesting deeper than 64 levels → 422 (refused, not a crash)", () => {
    let deep: unknown = "leaf";
    for (let i = 0; i < 5000; i++) deep = [deep];
    return expectRejected(
      () => post("/api/turns", { ...valid(), turn: { id: "turn-err", blocks: [{ kind: "user", payload: { deep } }] } }),
      422,
      "NESTING_TOO_DEEP",
    );
  });

  it("a snapshot whose row would pass D1's 2 MB row limit → 422", () =>
    expectRejected(
      () => post("/api/turns", { ...valid(), turn: { id: "turn-err", blocks: [], data: { big: "y".repeat(2_100_000) } } }),
      422,
      "ROW_TOO_LARGE",
    ));

  it("a block over the row limit → 422", () =>
    expectRejected(
      () =>
        post("/api/turns", { ...valid(), turn: { id: "turn-err", blocks: [{ kind: "user", payload: { text: "z".repeat(2_000_000) } }] } }),
      422,
      "ROW_TOO_LARGE",
      /blocks\[0\]/,
    ));
});

describe("POST /api/turns — YAML payloads", () => {
  const yaml = (payload: string) => post("/api/turns", { conv_id: "c-yaml", session_id: "s", payload });
  it("malformed YAML → 422", () => expectRejected(() => yaml("id: [oops\n"), 422, "INVALID_PAYLOAD", /not valid YAML/));
  it("YAML that is not a mapping → 422", () => expectRejected(() => yaml("- a\n- b\n"), 422, "INVALID_PAYLOAD", /mapping/));
  it("YAML scalar → 422", () => expectRejected(() => yaml("hello"), 422, "INVALID_PAYLOAD", /mapping/));
  it("YAML with blocks not a list → 422", () =>
    expectRejected(() => yaml("id: t\nblocks: nope\n"), 422, "INVALID_PAYLOAD", /payload\.blocks/));
  it("payload not a string → 400", () =>
    expectRejected(() => post("/api/turns", { conv_id: "c", session_id: "s", payload: { id: "t" } }), 400, "INVALID_REQUEST"));
});

describe("POST /api/turns/batch", () => {
  it("one invalid item → 400 naming its index, nothing of the batch stored", () =>
    expectRejected(
      () => post("/api/turns/batch", { items: [valid(), { ...valid(), turn_id: undefined, conv_id: "" }] }),
      400,
      "INVALID_REQUEST",
      /items\[1\]\.conv_id/,
    ));

  it("one semantically invalid item → 422 naming its index", () =>
    expectRejected(
      () =>
        post("/api/turns/batch", {
          items: [
            turnBody({ conv_id: "b-ok", session_id: "s", turn_id: "t1", created_at_ms: 1 }),
            { conv_id: "b", session_id: "s", payload: "- not a turn\n" },
          ],
        }),
      422,
      "INVALID_PAYLOAD",
      /items\[1\]\.payload/,
    ));

  it("conflicting duplicates inside one batch → 409 naming the index", () =>
    expectRejected(
      () =>
        post("/api/turns/batch", {
          items: [
            turnBody({ conv_id: "b-dup", session_id: "s", turn_id: "t", created_at_ms: 5, text: "one" }),
            turnBody({ conv_id: "b-dup", session_id: "s", turn_id: "t", created_at_ms: 5, text: "two" }),
          ],
        }),
      409,
      "SNAPSHOT_CONFLICT",
      /items\[1\]/,
    ));

  it("an item conflicting with stored data → 409, and the other items are not stored", async () => {
    await post("/api/turns", turnBody({ conv_id: "b-stored", session_id: "s", turn_id: "t", created_at_ms: 5, text: "stored" }));
    await expectRejected(
      () =>
        post("/api/turns/batch", {
          items: [
            turnBody({ conv_id: "b-stored", session_id: "s", turn_id: "new", created_at_ms: 6 }),
            turnBody({ conv_id: "b-stored", session_id: "s", turn_id: "t", created_at_ms: 5, text: "different" }),
          ],
        }),
      409,
      "SNAPSHOT_CONFLICT",
    );
  });

  it("empty items → 400", () => expectRejected(() => post("/api/turns/batch", { items: [] }), 400, "INVALID_REQUEST", /1 to 100/));
  it("101 items → 400", () =>
    expectRejected(
      () => post("/api/turns/batch", { items: Array.from({ length: 101 }, () => valid()) }),
      400,
      "INVALID_REQUEST",
      /1 to 100/,
    ));
  it("items not an array → 400", () => expectRejected(() => post("/api/turns/batch", { items: {} }), 400, "INVALID_REQUEST"));
  it("unknown field → 400", () =>
    expectRejected(() => post("/api/turns/batch", { items: [valid()], dry_run: true }), 400, "INVALID_REQUEST"));
});

describe("PUT /api/conversations/:conv_id/runtime", () => {
  const put = (conv: string, body: unknown) => call("PUT", `/api/conversations/${conv}/runtime`, { body });
  it("unknown conversation without session_id → 422", () =>
    expectRejected(() => put("never-seen", { runtime_key: "planner" }), 422, "UNKNOWN_CONVERSATION", /session_id/));
  it("missing runtime_key → 400", () => expectRejected(() => put("c", { session_id: "s" }), 400, "INVALID_REQUEST", /runtime_key/));
  it("blank runtime_key → 400", () =>
    expectRejected(() => put("c", { runtime_key: " ", session_id: "s" }), 400, "INVALID_REQUEST", /blank/));
  it("at_ms not an integer → 400", () =>
    expectRejected(() => put("c", { runtime_key: "p", session_id: "s", at_ms: "soon" }), 400, "INVALID_REQUEST", /at_ms/));
  it("unknown field → 400", () =>
    expectRejected(() => put("c", { runtime_key: "p", session_id: "s", force: true }), 400, "INVALID_REQUEST"));
  it("malformed JSON → 400", () =>
    expectRejected(
      () => call("PUT", "/api/conversations/c/runtime", { raw: "{", headers: { "content-type": "application/json" } }),
      400,
      "INVALID_JSON",
    ));
});

describe("methods and paths", () => {
  it("wrong method → 405 with Allow", async () => {
    const res = await call("DELETE", "/api/turns");
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toContain("POST");
    expect((await json(res)).error.code).toBe("METHOD_NOT_ALLOWED");
  });
  it("unknown path → 404 envelope", async () => {
    const res = await call("GET", "/api/nope");
    expect(res.status).toBe(404);
    expect((await json(res)).error.code).toBe("NOT_FOUND");
  });
});
