/** Ingestion through the Worker's fetch handler: the runtime-switch scenario and friends. */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, get, json, post, tableCounts, turnBody, uid } from "../harness";

async function turnRuntime(conv: string, turnId: string) {
  return env.DB.prepare("SELECT runtime_key, inference_id FROM turns WHERE conv_id = ?1 AND turn_id = ?2").bind(conv, turnId).first();
}

async function pointer(conv: string) {
  const res = await get(`/api/debug/conversations/${encodeURIComponent(conv)}`);
  return (await json(res)).resolved_runtime_key as string;
}

describe("runtime switch scenario", () => {
  it("inventory → switch to planner → turn-2 is planner, turn-1 stays inventory", async () => {
    const conv = uid("conv-switch");
    const session = uid("sess");

    // 1. Start with runtime inventory and send turn-1.
    const first = await post(
      "/api/turns",
      turnBody({
        conv_id: conv,
        session_id: session,
        turn_id: "turn-1",
        created_at_ms: 1000,
        runtime_key: "inventory",
        inference_id: "inf-1",
      }),
    );
    expect(first.status).toBe(201);
    expect(await json(first)).toEqual({
      conv_id: conv,
      session_id: session,
      turn_id: "turn-1",
      phase: "final",
      created_at_ms: 1000,
      runtime_key: "inventory",
      inference_id: "inf-1",
    });
    expect(await turnRuntime(conv, "turn-1")).toEqual({ runtime_key: "inventory", inference_id: "inf-1" });

    // 2. Switch the conversation to planner.
    const switched = await call("PUT", `/api/conversations/${conv}/runtime`, { body: { runtime_key: "planner", at_ms: 1500 } });
    expect(switched.status).toBe(200);
    expect(await json(switched)).toMatchObject({ conv_id: conv, session_id: session, resolved_runtime_key: "planner" });

    // 3. Send turn-2 under planner.
    const second = await post(
      "/api/turns",
      turnBody({
        conv_id: conv,
        session_id: session,
        turn_id: "turn-2",
        created_at_ms: 2000,
        runtime_key: "planner",
        inference_id: "inf-2",
      }),
    );
    expect(second.status).toBe(201);
    expect(await turnRuntime(conv, "turn-2")).toEqual({ runtime_key: "planner", inference_id: "inf-2" });

    // 4. The conversation's current runtime is planner; 5. turn-1 was not rewritten.
    expect(await pointer(conv)).toBe("planner");
    expect(await turnRuntime(conv, "turn-1")).toEqual({ runtime_key: "inventory", inference_id: "inf-1" });
  });

  it("regression: many later turns and later phases of turn-2 never overwrite turn-1's runtime", async () => {
    const conv = uid("conv-regress");
    await post(
      "/api/turns",
      turnBody({ conv_id: conv, session_id: "s", turn_id: "turn-1", created_at_ms: 100, runtime_key: "inventory", inference_id: "inf-1" }),
    );
    const items = [];
    for (const [i, phase] of ["pre_inference", "post_inference", "post_tools", "final"].entries()) {
      items.push(
        turnBody({
          conv_id: conv,
          session_id: "s",
          turn_id: "turn-2",
          phase,
          created_at_ms: 200 + i,
          runtime_key: "planner",
          inference_id: "inf-2",
        }),
      );
    }
    for (let t = 3; t < 40; t++) {
      items.push(
        turnBody({
          conv_id: conv,
          session_id: "s",
          turn_id: `turn-${t}`,
          created_at_ms: 300 + t,
          runtime_key: t % 2 ? "planner" : "research",
          inference_id: `inf-${t}`,
        }),
      );
    }
    expect((await post("/api/turns/batch", { items })).status).toBe(201);
    expect(await turnRuntime(conv, "turn-1")).toEqual({ runtime_key: "inventory", inference_id: "inf-1" });
    const phases = await json(await get(`/api/debug/turn/${conv}/s/turn-1`));
    expect(phases.items.map((i: { runtime_key: string }) => i.runtime_key)).toEqual(["inventory"]);
  });

  it("out-of-order delivery: a newer turn arriving first keeps the pointer", async () => {
    const conv = uid("conv-ooo");
    await post("/api/turns", turnBody({ conv_id: conv, session_id: "s", turn_id: "turn-3", created_at_ms: 3000, runtime_key: "planner" }));
    await post(
      "/api/turns",
      turnBody({ conv_id: conv, session_id: "s", turn_id: "turn-2", created_at_ms: 2000, runtime_key: "inventory" }),
    );
    expect(await pointer(conv)).toBe("planner");
    expect(await turnRuntime(conv, "turn-2")).toMatchObject({ runtime_key: "inventory" });
    // An older switch is accepted but does not move the pointer either.
    const old = await call("PUT", `/api/conversations/${conv}/runtime`, { body: { runtime_key: "support", at_ms: 2500 } });
    expect(old.status).toBe(200);
    expect((await json(old)).resolved_runtime_key).toBe("planner");
  });

  it("a switch creates the conversation when given a session, and the next turn without runtime stays ''", async () => {
    const conv = uid("conv-new");
    const res = await call("PUT", `/api/conversations/${conv}/runtime`, { body: { runtime_key: "planner", session_id: "s-1", at_ms: 10 } });
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({
      conv_id: conv,
      session_id: "s-1",
      resolved_runtime_key: "planner",
      created_at_ms: 10,
      last_activity_ms: 10,
      turn_count: 0,
      snapshot_count: 0,
    });
    // The pointer never leaks into a turn: unknown history stays ''.
    const turn = await post("/api/turns", turnBody({ conv_id: conv, session_id: "s-1", turn_id: "t", created_at_ms: 20 }));
    expect((await json(turn)).runtime_key).toBe("");
    expect(await pointer(conv)).toBe("planner");
  });
});

describe("attribution from metadata", () => {
  it.each([
    [
      "canonical object",
      { "geppetto.runtime@v1": { runtime_key: "planner" }, "geppetto.inference_id@v1": "inf-m" },
      {},
      "planner",
      "inf-m",
    ],
    ["plain string", { "geppetto.runtime@v1": "inventory", inference_id: "inf-s" }, {}, "inventory", "inf-s"],
    [
      "explicit wins",
      { "geppetto.runtime@v1": "inventory", "geppetto.inference_id@v1": "inf-m" },
      { runtime_key: "explicit", inference_id: "inf-x" },
      "explicit",
      "inf-x",
    ],
    ["nothing", { other: 1 }, {}, "", ""],
  ])("%s", async (_name, metadata, explicit, runtime, inference) => {
    const conv = uid("conv-meta");
    const res = await post("/api/turns", {
      ...turnBody({ conv_id: conv, session_id: "s", turn_id: "t", created_at_ms: 5, metadata }),
      ...explicit,
    });
    expect(res.status).toBe(201);
    expect(await json(res)).toMatchObject({ runtime_key: runtime, inference_id: inference });
    expect(await turnRuntime(conv, "t")).toEqual({ runtime_key: runtime, inference_id: inference });
  });
});

describe("YAML payloads as the Go implementation writes them", () => {
  it("stores the turn and answers with its projection", async () => {
    const conv = uid("conv-yaml");
    const payload = "id: turn-1\nblocks:\n  - id: turn-1-b1\n    kind: llm_text\n    role: assistant\n    payload:\n      text: hello\n";
    const res = await post("/api/turns", { conv_id: conv, session_id: "s", phase: "final", created_at_ms: 42, payload });
    expect(res.status).toBe(201);
    expect(await json(res)).toEqual({
      conv_id: conv,
      session_id: "s",
      turn_id: "turn-1",
      phase: "final",
      created_at_ms: 42,
      runtime_key: "",
      inference_id: "",
    });
    const detail = await json(await get(`/api/debug/turn/${conv}/s/turn-1`));
    expect(detail.items[0]!.parsed).toEqual({
      id: "turn-1",
      blocks: [{ id: "turn-1-b1", kind: "llm_text", role: "assistant", payload: { text: "hello" }, metadata: {} }],
      metadata: {},
      data: {},
    });
    // Content addressed exactly as the Go store did (CONTRACT vector).
    const hash = await env.DB.prepare("SELECT content_hash FROM blocks WHERE block_id = 'turn-1-b1'").first<string>("content_hash");
    expect(hash).toBe("ce91356a62c47ed722bcc81b324ff38eb95c55b36eb79fa8f664d00b49dc21a5");
  });

  it("reads runtime from YAML metadata", async () => {
    const conv = uid("conv-yaml-meta");
    const payload = "id: t9\nblocks: []\nmetadata:\n  geppetto.runtime@v1:\n    runtime_key: planner\n  geppetto.inference_id@v1: inf-9\n";
    const res = await post("/api/turns", { conv_id: conv, session_id: "s", created_at_ms: 1, payload });
    expect(await json(res)).toMatchObject({ turn_id: "t9", runtime_key: "planner", inference_id: "inf-9" });
  });
});

describe("idempotency", () => {
  it("an identical replay answers 200 with the same body and writes nothing", async () => {
    const body = turnBody({ conv_id: uid("conv-idem"), session_id: "s", turn_id: "t", created_at_ms: 77, runtime_key: "inventory" });
    const first = await post("/api/turns", body);
    expect(first.status).toBe(201);
    const before = await tableCounts();
    const again = await post("/api/turns", body);
    expect(again.status).toBe(200);
    expect(await json(again)).toEqual(await json(first));
    expect(await tableCounts()).toEqual(before);
    const conv = await json(await get(`/api/debug/conversations/${body.conv_id}`));
    expect(conv).toMatchObject({ turn_count: 1, snapshot_count: 1 });
  });

  it("replaying the same content as YAML or with metadata keys reordered is still identical", async () => {
    const conv = uid("conv-idem2");
    const json1 = {
      conv_id: conv,
      session_id: "s",
      created_at_ms: 5,
      turn: { id: "t", blocks: [{ kind: "llm_text", payload: { a: 1, b: 2 } }], metadata: { x: 1, y: 2 } },
    };
    expect((await post("/api/turns", json1)).status).toBe(201);
    const yaml = "id: t\nblocks:\n  - kind: llm_text\n    payload: {b: 2, a: 1}\nmetadata: {y: 2, x: 1}\n";
    expect((await post("/api/turns", { conv_id: conv, session_id: "s", created_at_ms: 5, payload: yaml })).status).toBe(200);
  });

  it("the YAML the debug API serves posts back as the same snapshot, big integer-valued numbers included", async () => {
    // Regression (found by the writer's property test): 1e16 was written as 10000000000000000, an
    // integer beyond 2^53 that the YAML reader refuses, so the debug payload could not be posted back.
    const conv = uid("conv-yaml-back");
    const turn = {
      id: "t",
      blocks: [{ kind: "tool_call", payload: { big: 1e16, max: 2 ** 53, neg: -1e21, small: 1.5e-7, safe: 2 ** 53 - 1 } }],
      metadata: { n: 1e300 },
    };
    expect((await post("/api/turns", { conv_id: conv, session_id: "s", created_at_ms: 5, turn })).status).toBe(201);
    const page = await json(await get(`/api/debug/turns?conv_id=${conv}`));
    const yaml: string = page.items[0]!.payload!;
    expect(yaml).toContain("big: 1e+16\n");
    expect(yaml).toContain("safe: 9007199254740991\n");
    const replay = await post("/api/turns", { conv_id: conv, session_id: "s", created_at_ms: 5, payload: yaml });
    expect(replay.status).toBe(200);
    const detail = await json(await get(`/api/debug/turn/${conv}/s/t`));
    expect(detail.items[0]!.parsed.blocks[0]!.payload).toEqual(turn.blocks[0]!.payload);
    expect(detail.items[0]!.parsed.metadata).toEqual({ n: 1e300 });
  });

  it("a different snapshot under the same identity is 409 and the original is kept", async () => {
    const conv = uid("conv-conflict");
    const original = turnBody({
      conv_id: conv,
      session_id: "s",
      turn_id: "t",
      created_at_ms: 9,
      runtime_key: "inventory",
      text: "original",
    });
    await post("/api/turns", original);
    const before = await tableCounts();
    const res = await post(
      "/api/turns",
      turnBody({ conv_id: conv, session_id: "s", turn_id: "t", created_at_ms: 9, runtime_key: "inventory", text: "changed" }),
    );
    expect(res.status).toBe(409);
    expect((await json(res)).error.code).toBe("SNAPSHOT_CONFLICT");
    expect(await tableCounts()).toEqual(before);
    const detail = await json(await get(`/api/debug/turn/${conv}/s/t`));
    expect(detail.items[0]!.parsed.blocks[1]!.payload.text).toBe("original");
  });
});

describe("batch", () => {
  it("stores up to 100 snapshots in order and answers one projection per item", async () => {
    const conv = uid("conv-batch");
    const items = Array.from({ length: 100 }, (_, i) =>
      turnBody({
        conv_id: conv,
        session_id: "s",
        turn_id: `t${i}`,
        created_at_ms: 1000 + i,
        runtime_key: i < 50 ? "inventory" : "planner",
      }),
    );
    const res = await post("/api/turns/batch", { items });
    expect(res.status).toBe(201);
    const body = await json(res);
    expect(body.items).toHaveLength(100);
    expect(body.items[99]).toEqual({
      conv_id: conv,
      session_id: "s",
      turn_id: "t99",
      phase: "final",
      created_at_ms: 1099,
      runtime_key: "planner",
      inference_id: "",
    });
    expect(await pointer(conv)).toBe("planner");
    // Replaying the whole batch is 200 and writes nothing.
    const before = await tableCounts();
    const replay = await post("/api/turns/batch", { items });
    expect(replay.status).toBe(200);
    expect(await tableCounts()).toEqual(before);
  });

  it("treats an identical item repeated inside one batch as one snapshot", async () => {
    const conv = uid("conv-dup");
    const item = turnBody({ conv_id: conv, session_id: "s", turn_id: "t", created_at_ms: 3 });
    const res = await post("/api/turns/batch", { items: [item, item] });
    expect(res.status).toBe(201);
    expect(await json(await get(`/api/debug/conversations/${conv}`))).toMatchObject({ turn_count: 1, snapshot_count: 1 });
  });
});

describe("identifiers are stored and returned exactly", () => {
  it.each([
    ["quotes", `it's "quoted"`],
    ["percent and slash", "50%/a%2Fb"],
    ["unicode", "разговор-会話"],
    ["emoji", "chat-🚀-🧑🏽"],
    ["sql", "x'); DROP TABLE turns; --"],
  ])("%s", async (_name, id) => {
    const conv = `${uid("c")}-${id}`;
    const res = await post(
      "/api/turns",
      turnBody({ conv_id: conv, session_id: id, turn_id: id, phase: id, created_at_ms: 1, runtime_key: id }),
    );
    expect(res.status).toBe(201);
    expect(await json(res)).toMatchObject({ conv_id: conv, session_id: id, turn_id: id, phase: id, runtime_key: id });
    const detail = await get(`/api/debug/turn/${encodeURIComponent(conv)}/${encodeURIComponent(id)}/${encodeURIComponent(id)}`);
    expect(detail.status).toBe(200);
    expect(await json(detail)).toMatchObject({ conv_id: conv, session_id: id, turn_id: id });
    const list = await json(await get(`/api/debug/turns?conv_id=${encodeURIComponent(conv)}&runtime_key=${encodeURIComponent(id)}`));
    expect(list.items.map((i: { turn_id: string }) => i.turn_id)).toEqual([id]);
  });
});

describe("response headers", () => {
  it("carries a request id and the D1 session bookmark on writes", async () => {
    const res = await post("/api/turns", turnBody({ conv_id: uid("conv-h"), session_id: "s", turn_id: "t", created_at_ms: 1 }));
    expect(res.headers.get("x-request-id")).toMatch(/\S+/);
    expect(res.headers.get("x-d1-bookmark")).toMatch(/^[A-Za-z0-9-]+$/);
  });
});
