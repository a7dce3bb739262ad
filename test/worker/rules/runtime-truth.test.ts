/**
 * Runtime truth against real and hostile clients (CONTRACT §5.1, §5.2): each case reported against
 * the first release, through the Worker's fetch handler — a refused request changes nothing.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { sha256Hex } from "../../../src/turn/block-hash";
import { call, get, json, post, turnBody, uid, expectRejected } from "../harness";

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const put = (conv: string, body: unknown, options: Parameters<typeof call>[2] = {}) =>
  call("PUT", `/api/conversations/${encodeURIComponent(conv)}/runtime`, { ...options, body });

describe("event times are bounded (CONTRACT §5.1)", () => {
  it("a switch far in the future cannot pin the pointer, the activity time or the session", async () => {
    const conv = uid("conv-pin");
    await post(
      "/api/turns",
      turnBody({ conv_id: conv, session_id: "real", turn_id: "t1", created_at_ms: Date.now() - 60_000, runtime_key: "inventory" }),
    );
    await expectRejected(
      () => put(conv, { runtime_key: "x", at_ms: MAX_SAFE, session_id: "visitor" }),
      422,
      "EVENT_TIME_IN_FUTURE",
      /at_ms .* ahead of the server clock/,
    );
    await expectRejected(
      () => put(uid("conv-new"), { runtime_key: "x", at_ms: MAX_SAFE, session_id: "visitor" }),
      422,
      "EVENT_TIME_IN_FUTURE",
    );
    // A real switch and a real turn still move it.
    expect((await json(await put(conv, { runtime_key: "planner" }))).resolved_runtime_key).toBe("planner");
    const at = Date.now();
    await post(
      "/api/turns",
      turnBody({ conv_id: conv, session_id: "real", turn_id: "t2", created_at_ms: at + 1_000, runtime_key: "research" }),
    );
    const view = await json(await get(`/api/debug/conversations/${conv}`));
    expect(view).toMatchObject({ session_id: "real", resolved_runtime_key: "research", last_activity_ms: at + 1_000 });
  });

  it("a snapshot far in the future cannot become a turn's newest snapshot", async () => {
    const conv = uid("conv-rewrite");
    await post("/api/turns", turnBody({ conv_id: conv, session_id: "s", turn_id: "t1", created_at_ms: 1_000, runtime_key: "inventory" }));
    const turnBefore = await env.DB.prepare("SELECT * FROM turns WHERE conv_id = ?1").bind(conv).first();
    await expectRejected(
      () => post("/api/turns", turnBody({ conv_id: conv, session_id: "s", turn_id: "t1", created_at_ms: 8e15, runtime_key: "planner" })),
      422,
      "EVENT_TIME_IN_FUTURE",
      /created_at_ms/,
    );
    await expectRejected(
      () =>
        post("/api/turns/batch", {
          items: [
            turnBody({ conv_id: conv, session_id: "s", turn_id: "t2", created_at_ms: 2_000 }),
            turnBody({ conv_id: conv, session_id: "s", turn_id: "t1", created_at_ms: MAX_SAFE }),
          ],
        }),
      422,
      "EVENT_TIME_IN_FUTURE",
      /items\[1\]\.created_at_ms/,
    );
    expect(await env.DB.prepare("SELECT * FROM turns WHERE conv_id = ?1").bind(conv).first()).toEqual(turnBefore);
    const view = await json(await get(`/api/debug/conversations/${conv}`));
    expect(view.runtime_history).toEqual([
      { runtime_key: "inventory", first_turn_id: "t1", last_turn_id: "t1", from_ms: 1_000, to_ms: 1_000, turn_count: 1 },
    ]);
  });

  it("accepts times up to MAX_CLOCK_SKEW_MS ahead, and any past time; the var is configurable", async () => {
    const conv = uid("conv-skew");
    expect(
      (await post("/api/turns", turnBody({ conv_id: conv, session_id: "s", turn_id: "t1", created_at_ms: Date.now() + 200_000 }))).status,
    ).toBe(201);
    expect((await post("/api/turns", turnBody({ conv_id: conv, session_id: "s", turn_id: "t0", created_at_ms: 1 }))).status).toBe(201);
    await expectRejected(
      () =>
        post("/api/turns", turnBody({ conv_id: conv, session_id: "s", turn_id: "t2", created_at_ms: Date.now() + 60_000 }), {
          env: { MAX_CLOCK_SKEW_MS: "1000" },
        }),
      422,
      "EVENT_TIME_IN_FUTURE",
      /at most 1000 ms/,
    );
    await expectRejected(
      () => post("/api/turns", turnBody({ conv_id: conv, session_id: "s", turn_id: "t3" }), { env: { MAX_CLOCK_SKEW_MS: "soon" } }),
      503,
      "NOT_CONFIGURED",
      /MAX_CLOCK_SKEW_MS/,
    );
  });
});

describe("real geppetto turns are stored as written (CONTRACT §5.2)", () => {
  // geppetto's serde (yaml.v3, 4-space indent) as written between 2025-10 and 2026-01: turn run_id,
  // block turn_id; a `version` key as geppetto's serde spec describes it.
  const GEPPETTO_YAML = `id: 7d2e
run_id: run-0193
version: 1
blocks:
    - id: b-1
      turn_id: 7d2e
      kind: user
      role: user
      payload:
        text: How many widgets?
    - id: b-2
      turn_id: 7d2e
      kind: llm_text
      role: assistant
      payload:
        text: "42"
metadata:
    geppetto.runtime@v1:
        runtime_key: inventory
    geppetto.session_id@v1: sess-1
`;

  it("keeps turn run_id / version and block turn_id verbatim, returns them, and leaves them out of the hash", async () => {
    const conv = uid("conv-geppetto");
    const res = await post("/api/turns", { conv_id: conv, session_id: "sess-1", created_at_ms: 10, payload: GEPPETTO_YAML });
    expect(res.status).toBe(201);
    expect(await json(res)).toMatchObject({ turn_id: "7d2e", runtime_key: "inventory" });
    const detail = await json(await get(`/api/debug/turn/${conv}/sess-1/7d2e`));
    const expected = {
      id: "7d2e",
      run_id: "run-0193",
      version: 1,
      blocks: [
        { id: "b-1", turn_id: "7d2e", kind: "user", role: "user", payload: { text: "How many widgets?" }, metadata: {} },
        { id: "b-2", turn_id: "7d2e", kind: "llm_text", role: "assistant", payload: { text: "42" }, metadata: {} },
      ],
      metadata: { "geppetto.runtime@v1": { runtime_key: "inventory" }, "geppetto.session_id@v1": "sess-1" },
      data: {},
    };
    expect(detail.items[0]!.parsed).toEqual(expected);
    expect(parse(detail.items[0]!.payload)).toEqual(expected);
    const list = await json(await get(`/api/debug/turns?conv_id=${conv}`));
    expect(parse(list.items[0]!.payload!)).toEqual(expected);
    // The same turn as JSON is the same snapshot: an identical replay.
    expect((await post("/api/turns", { conv_id: conv, session_id: "sess-1", created_at_ms: 10, turn: expected })).status).toBe(200);
    // Block hashes ignore turn_id: the assistant block hashes as Go hashes it.
    const row = await env.DB.prepare("SELECT content_hash FROM blocks WHERE block_id = 'b-2'").first<{ content_hash: string }>();
    expect(row!.content_hash).toBe(await sha256Hex('{"kind":"llm_text","role":"assistant","payload":{"text":"42"},"metadata":{}}'));
  });

  it("reads a block without kind as user, and odd kinds and roles as Go does", async () => {
    const conv = uid("conv-kinds");
    const turn = {
      id: "t",
      blocks: [
        { id: "a", payload: { text: "no kind" } },
        { id: "b", kind: "LLM_TEXT", payload: { text: "hello" } },
        { id: "c", kind: " user ", role: " user ", payload: {} },
        { id: "d", kind: "system", role: " system ", payload: { text: "be brief" } },
        { id: "e", kind: "", payload: {} },
      ],
    };
    expect((await post("/api/turns", { conv_id: conv, session_id: "s", created_at_ms: 1, turn })).status).toBe(201);
    const parsed = (await json(await get(`/api/debug/turn/${conv}/s/t`))).items[0]!.parsed;
    expect(parsed.blocks.map((b: { kind: string; role: string }) => [b.kind, b.role])).toEqual([
      ["user", ""],
      ["llm_text", "assistant"],
      ["user", "user"],
      ["system", "system"],
      ["other", ""],
    ]);
  });

  it("hashes blocks exactly as the Go implementation does (integer-like keys, case, spaces)", async () => {
    const conv = uid("conv-hash");
    const turn = {
      id: "t",
      blocks: [
        { id: "int-keys", kind: "user", role: "user", payload: { "9": "b", "10": "a" } },
        { id: "upper", kind: "LLM_TEXT", payload: { text: "hello" } },
        { id: "padded", kind: " user ", role: "user" },
      ],
    };
    expect((await post("/api/turns", { conv_id: conv, session_id: "s", created_at_ms: 1, turn })).status).toBe(201);
    const hashes = Object.fromEntries(
      (
        await env.DB.prepare("SELECT block_id, content_hash FROM blocks WHERE block_id IN ('int-keys', 'upper', 'padded')").all<{
          block_id: string;
          content_hash: string;
        }>()
      ).results.map((r) => [r.block_id, r.content_hash]),
    );
    expect(hashes).toEqual({
      "int-keys": "2af4264fbe9dca8ded109273f9d8a6b59fc4893ebeca828fb08b875620c1e927",
      upper: "ce91356a62c47ed722bcc81b324ff38eb95c55b36eb79fa8f664d00b49dc21a5",
      padded: "ecc0ca7c37646b24b8a90abff555e78d53783e32519c103abe7eac1fcd2162d7",
    });
  });
});

describe("YAML never changes data silently (CONTRACT §5.2)", () => {
  const yamlPost = (conv: string, payload: string, created_at_ms = 1) =>
    post("/api/turns", { conv_id: conv, session_id: "s", created_at_ms, payload });

  it.each([
    ["%YAML 1.1", "%YAML 1.1\n---\nid: t\ndata: {a: yes}\n", /only %YAML 1.2/],
    ["!!set", "id: t\ndata:\n  s: !!set {a: null, b: null}\n", /core schema/],
    ["0777", "id: t\ndata:\n  mode: 0777\n", /reads differently/],
    ["1_000", "id: t\ndata:\n  n: 1_000\n", /reads differently/],
    [".nan", "id: t\ndata:\n  n: .nan\n", /JSON can hold/],
    ["2^53", "id: t\ndata:\n  n: 9007199254740993\n", /beyond/],
  ])("%s → 422 INVALID_PAYLOAD, nothing stored", (_name, payload, message) =>
    expectRejected(() => yamlPost(uid("conv-yaml"), payload), 422, "INVALID_PAYLOAD", message),
  );

  it("dates and yes stay strings; the stored hash is the hash of the stored content; a replay is 200", async () => {
    const conv = uid("conv-dates");
    const payload = "id: t\nblocks:\n  - id: b\n    kind: user\n    payload:\n      day: 2001-12-14\n      ok: yes\n      n: 0o17\n";
    expect((await yamlPost(conv, payload)).status).toBe(201);
    expect((await yamlPost(conv, payload)).status).toBe(200);
    const row = await env.DB.prepare(
      "SELECT kind, role, payload_json, block_metadata_json, content_hash FROM blocks WHERE block_id = 'b'",
    ).first<Record<string, string>>();
    expect(JSON.parse(row!.payload_json!)).toEqual({ day: "2001-12-14", ok: "yes", n: 15 });
    const material = `{"kind":"${row!.kind}","role":"${row!.role}","payload":${row!.payload_json},"metadata":${row!.block_metadata_json}}`;
    expect(await sha256Hex(material)).toBe(row!.content_hash);
  });

  it("anchors and aliases are refused before anything is expanded", async () => {
    const anchor = "x".repeat(64 * 1024);
    const bomb = `id: t\ndata:\n  a: &big "${anchor}"\n${Array.from({ length: 99 }, (_, i) => `  k${i}: *big`).join("\n")}\n`;
    await expectRejected(() => yamlPost(uid("conv-alias"), bomb), 422, "INVALID_PAYLOAD", /anchors/);
    // 1 MiB of aliases: refused without building the expansion.
    const many = `id: t\ndata:\n  - &a [1, 2, 3]\n${"  - *a\n".repeat(150_000)}`.slice(0, 1_000_000);
    await expectRejected(() => yamlPost(uid("conv-alias"), many), 422, "INVALID_PAYLOAD", /anchors/);
    // Beyond 1 MiB of YAML per request the reader is not even started (its cost is ~0.6 s per MiB).
    await expectRejected(() => yamlPost(uid("conv-alias"), `${many}${"  - *a\n".repeat(100_000)}`), 413, "PAYLOAD_TOO_LARGE", /1 MiB/);
    await expectRejected(
      () =>
        post("/api/turns/batch", {
          items: [0, 1].map((i) => ({
            conv_id: uid("conv-alias"),
            session_id: "s",
            created_at_ms: 1,
            payload: `id: t${i}\ndata: "${"y".repeat(600_000)}"\n`,
          })),
        }),
      413,
      "PAYLOAD_TOO_LARGE",
    );
  });
});

describe("lookalike ids are refused (CONTRACT §5.2)", () => {
  it.each([
    ["zero-width space", "X\u200b"],
    ["BOM", "\ufeffX"],
    ["NFD café", "cafe\u0301"],
    ["right-to-left override", "\u202eX"],
  ])("%s in conv_id → 400, nothing stored", (_name, id) =>
    expectRejected(
      () => post("/api/turns", turnBody({ conv_id: id, session_id: "s", turn_id: "t", created_at_ms: 1 })),
      400,
      "INVALID_REQUEST",
      /conv_id must/,
    ),
  );

  it("NFC café, and X, are one conversation each", async () => {
    const cafe = `${uid("c")}-café`;
    expect((await post("/api/turns", turnBody({ conv_id: cafe, session_id: "s", turn_id: "t", created_at_ms: 1 }))).status).toBe(201);
    expect((await get(`/api/debug/conversations/${encodeURIComponent(cafe)}`)).status).toBe(200);
  });

  it("an emoji session id with joiners round-trips; the same id with a zero-width space is refused (CONTRACT §6.1)", async () => {
    const conv = `${uid("c")}-👨‍👩‍👧`;
    const session = "sess-👩‍💻-🏴󠁧󠁢󠁳󠁣󠁴󠁿";
    const res = await post("/api/turns", turnBody({ conv_id: conv, session_id: session, turn_id: "t-🧑‍🚀", created_at_ms: 1 }));
    expect(res.status).toBe(201);
    expect(await json(res)).toMatchObject({ conv_id: conv, session_id: session, turn_id: "t-🧑‍🚀" });
    const detail = await json(
      await get(`/api/debug/turn/${encodeURIComponent(conv)}/${encodeURIComponent(session)}/${encodeURIComponent("t-🧑‍🚀")}`),
    );
    expect(detail).toMatchObject({ conv_id: conv, session_id: session, turn_id: "t-🧑‍🚀" });
    const listed = await json(await get(`/api/debug/turns?session_id=${encodeURIComponent(session)}`));
    expect(listed.items.map((i) => i.session_id)).toEqual([session]);
    await expectRejected(
      () => post("/api/turns", turnBody({ conv_id: conv, session_id: "sess-👩\u200b💻", turn_id: "t", created_at_ms: 2 })),
      400,
      "INVALID_REQUEST",
      /session_id must not contain invisible format characters \(found U\+200B/,
    );
    await expectRejected(
      () => post("/api/turns", turnBody({ conv_id: conv, session_id: "\u202esess", turn_id: "t", created_at_ms: 2 })),
      400,
      "INVALID_REQUEST",
      /U\+202E/,
    );
  });

  it("a runtime switch path id follows the same rule", () =>
    expectRejected(() => put("conv\u200b", { runtime_key: "planner", session_id: "s" }), 400, "INVALID_PARAMETER", /format characters/));
});

describe("one rule for runtime keys and inference ids, wherever they come from (CONTRACT §6.3, issue 29)", () => {
  /** Values no runtime key or inference id may be, and what the message says about each. */
  const BAD: Array<[string, string, RegExp]> = [
    ["NUL", "plan\u0000ner", /control characters/],
    ["a C1 control (NEL)", "plan\u0085ner", /control characters/],
    ["an inner tab", "plan\tner", /control characters/],
    ["RTL override U+202E", "plan\u202ener", /format characters.*U\+202E/],
    ["a zero-width space alone", "\u200b", /format characters.*U\+200B/],
    ["a zero-width space inside", "plan\u200bner", /format characters.*U\+200B/],
    ["NFD text", "cafe\u0301", /NFC/],
    ["257 characters", "r".repeat(257), /at most 256 characters/],
    ["300,000 characters", "i".repeat(300_000), /at most 256 characters/],
  ];

  const metadataCases = (value: string) =>
    [
      ["geppetto.runtime@v1", { "geppetto.runtime@v1": value }],
      ["geppetto.runtime@v1", { "geppetto.runtime@v1": { runtime_key: value, version: 3 } }],
      ["runtime_key", { runtime_key: { profile: { slug: value } } }],
      ["geppetto.inference_id@v1", { "geppetto.inference_id@v1": value }],
      ["inference_id", { inference_id: { id: value } }],
    ] as const;

  it.each(BAD)("metadata holding %s → 422 naming the metadata key, nothing stored (JSON, YAML, batch)", async (_name, value, message) => {
    const conv = uid("conv-attr-meta");
    for (const [key, metadata] of metadataCases(value)) {
      const named = new RegExp(`^turn\\.metadata\\["${key.replace(/[.@]/g, "\\$&")}"\\].*${message.source}`);
      await expectRejected(
        () => post("/api/turns", { conv_id: conv, session_id: "s", created_at_ms: 1, turn: { id: "t", blocks: [], metadata } }),
        422,
        "INVALID_TURN",
        named,
      );
      await expectRejected(
        () =>
          post("/api/turns/batch", {
            items: [
              turnBody({ conv_id: conv, session_id: "s", turn_id: "ok", created_at_ms: 1 }),
              { conv_id: conv, session_id: "s", created_at_ms: 2, turn: { id: "t", blocks: [], metadata } },
            ],
          }),
        422,
        "INVALID_TURN",
        new RegExp(`^items\\[1\\]\\.${named.source.slice(1)}`),
      );
    }
    // YAML payloads (JSON is YAML 1.2: the metadata written as a flow mapping).
    if (value.length < 1000) {
      await expectRejected(
        () =>
          post("/api/turns", {
            conv_id: conv,
            session_id: "s",
            created_at_ms: 1,
            payload: `id: t\nblocks: []\nmetadata: ${JSON.stringify({ "geppetto.runtime@v1": value })}\n`,
          }),
        422,
        "INVALID_PAYLOAD",
        new RegExp(`^payload\\.metadata\\["geppetto\\.runtime@v1"\\].*${message.source}`),
      );
    }
    expect((await get(`/api/debug/conversations/${conv}`)).status).toBe(404);
  });

  it.each(BAD)("the explicit runtime_key / inference_id holding %s → 400 INVALID_REQUEST", async (_name, value, message) => {
    for (const field of ["runtime_key", "inference_id"]) {
      const body = { ...turnBody({ conv_id: uid("conv-attr-explicit"), session_id: "s", turn_id: "t", created_at_ms: 1 }), [field]: value };
      await expectRejected(() => post("/api/turns", body), 400, "INVALID_REQUEST", new RegExp(`${field}.*${message.source}`));
    }
  });

  it.each(BAD)("a runtime switch to %s → 400 INVALID_REQUEST", async (_name, value, message) => {
    await expectRejected(
      () => put(uid("conv-attr-switch"), { runtime_key: value, session_id: "s" }),
      400,
      "INVALID_REQUEST",
      new RegExp(`runtime_key.*${message.source}`),
    );
  });

  it("a switch trims like a POST: ' planner' and 'planner\\n' are 'planner', as the same value in a snapshot is", async () => {
    const conv = uid("conv-attr-trim");
    const posted = await json(
      await post("/api/turns", turnBody({ conv_id: conv, session_id: "s", turn_id: "t1", created_at_ms: 1, runtime_key: " planner" })),
    );
    expect(posted.runtime_key).toBe("planner");
    for (const [value, at] of [
      [" planner", 2],
      ["planner\n", 3],
      ["\t planner \r\n", 4],
    ] as const) {
      const res = await put(conv, { runtime_key: value, at_ms: at });
      expect(res.status).toBe(200);
      expect((await json(res)).resolved_runtime_key).toBe("planner");
      expect((await env.DB.prepare("SELECT current_runtime_key FROM conversations WHERE conv_id = ?1").bind(conv).first())!).toEqual({
        current_runtime_key: "planner",
      });
    }
    // Blank after trimming is no runtime at all.
    await expectRejected(() => put(conv, { runtime_key: " \t\r\n" }), 400, "INVALID_REQUEST", /blank/);
  });

  it("valid values are read as before: trimmed, numbers as text, emoji sequences, 256 characters", async () => {
    const conv = uid("conv-attr-ok");
    const cases: Array<[Record<string, unknown>, string, string]> = [
      [{ "geppetto.runtime@v1": " \t planner \r\n", "geppetto.inference_id@v1": "\ninf-3 " }, "planner", "inf-3"],
      [{ runtime: { profile: { slug: 7 } }, inference_id: 42.0 }, "7", "42"],
      [{ "geppetto.runtime@v1": "team-👩‍💻", inference_id: "i".repeat(256) }, "team-👩‍💻", "i".repeat(256)],
      [{ "geppetto.runtime@v1": { runtime_key: "" }, runtime: "fallback" }, "fallback", ""],
    ];
    for (const [i, [metadata, runtimeKey, inferenceId]] of cases.entries()) {
      const res = await post("/api/turns", {
        conv_id: conv,
        session_id: "s",
        created_at_ms: i + 1,
        turn: { id: `t${i}`, blocks: [], metadata },
      });
      expect(res.status).toBe(201);
      expect(await json(res)).toMatchObject({ runtime_key: runtimeKey, inference_id: inferenceId });
    }
    // An explicit value wins, and metadata it overrides is only data: not checked.
    const res = await post("/api/turns", {
      conv_id: conv,
      session_id: "s",
      created_at_ms: 10,
      runtime_key: "explicit",
      inference_id: "inf-x",
      turn: { id: "t9", blocks: [], metadata: { "geppetto.runtime@v1": "bad\u200b", inference_id: "\u0000" } },
    });
    expect(res.status).toBe(201);
    expect(await json(res)).toMatchObject({ runtime_key: "explicit", inference_id: "inf-x" });
  });
});
