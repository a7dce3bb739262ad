/**
 * GET /api/conversations/:conv_id/turns/latest (CONTRACT §5.5): the newest snapshot by created_at_ms
 * — not by arrival — optionally of one phase and/or session, equal times won by the later arrival,
 * with the full turn; 404 when nothing matches.
 */
import { describe, expect, it } from "vitest";
import { get, json, post, turnBody, uid } from "../harness";

const latest = (conv: string, query = "") => get(`/api/conversations/${encodeURIComponent(conv)}/turns/latest${query}`);

async function expectLatest(conv: string, query: string, expected: Record<string, unknown>) {
  const res = await latest(conv, query);
  expect(res.status).toBe(200);
  expect(await json(res)).toMatchObject(expected);
}

/** Two sessions, phases, runtimes; posted out of time order on purpose. */
async function seed(conv: string) {
  const items = [
    turnBody({ conv_id: conv, session_id: "s1", turn_id: "t1", phase: "draft", created_at_ms: 1000, runtime_key: "inventory" }),
    turnBody({
      conv_id: conv,
      session_id: "s1",
      turn_id: "t1",
      phase: "final",
      created_at_ms: 1100,
      runtime_key: "inventory",
      inference_id: "inf-1",
    }),
    turnBody({ conv_id: conv, session_id: "s2", turn_id: "t3", phase: "draft", created_at_ms: 3000, runtime_key: "planner" }),
    turnBody({
      conv_id: conv,
      session_id: "s2",
      turn_id: "t2",
      phase: "final",
      created_at_ms: 2100,
      runtime_key: "planner",
      inference_id: "inf-2",
    }),
    turnBody({ conv_id: conv, session_id: "s1", turn_id: "t0", phase: "final", created_at_ms: 500 }),
  ];
  expect((await post("/api/turns/batch", { items })).status).toBe(201);
}

describe("the newest matching snapshot", () => {
  it("newest by created_at_ms, whatever the arrival order", async () => {
    const conv = uid("conv-latest");
    await seed(conv);
    await expectLatest(conv, "", {
      conv_id: conv,
      session_id: "s2",
      turn_id: "t3",
      phase: "draft",
      created_at_ms: 3000,
      runtime_key: "planner",
      inference_id: "",
    });
    // A late arrival with an older time does not become the latest.
    await post("/api/turns", turnBody({ conv_id: conv, session_id: "s1", turn_id: "t9", phase: "final", created_at_ms: 2999 }));
    await expectLatest(conv, "", { turn_id: "t3", created_at_ms: 3000 });
  });

  it("by phase, by session, by both", async () => {
    const conv = uid("conv-latest-filters");
    await seed(conv);
    await expectLatest(conv, "?phase=final", {
      turn_id: "t2",
      phase: "final",
      session_id: "s2",
      created_at_ms: 2100,
      inference_id: "inf-2",
    });
    await expectLatest(conv, "?phase=draft", { turn_id: "t3", phase: "draft" });
    await expectLatest(conv, "?session_id=s1", {
      turn_id: "t1",
      phase: "final",
      created_at_ms: 1100,
      runtime_key: "inventory",
      inference_id: "inf-1",
    });
    await expectLatest(conv, "?session_id=s1&phase=draft", { turn_id: "t1", phase: "draft", created_at_ms: 1000 });
    await expectLatest(conv, "?session_id=s2&phase=final", { turn_id: "t2" });
    // An empty filter is no filter; unknown parameters are ignored.
    await expectLatest(conv, "?phase=&session_id=&cachebuster=1", { turn_id: "t3" });
  });

  it("equal times: the later arrival wins", async () => {
    const conv = uid("conv-latest-tie");
    await post("/api/turns", turnBody({ conv_id: conv, session_id: "s", turn_id: "a", phase: "final", created_at_ms: 5000 }));
    await post("/api/turns", turnBody({ conv_id: conv, session_id: "s", turn_id: "b", phase: "draft", created_at_ms: 5000 }));
    await expectLatest(conv, "", { turn_id: "b", phase: "draft" });
    // Within one batch too, and for one turn's phases at the same time.
    const other = uid("conv-latest-tie");
    await post("/api/turns/batch", {
      items: [
        turnBody({ conv_id: other, session_id: "s", turn_id: "t", phase: "post_tools", created_at_ms: 7000 }),
        turnBody({ conv_id: other, session_id: "s", turn_id: "t", phase: "final", created_at_ms: 7000 }),
        turnBody({ conv_id: other, session_id: "s", turn_id: "t", phase: "draft", created_at_ms: 6999 }),
      ],
    });
    await expectLatest(other, "", { turn_id: "t", phase: "final" });
  });

  it("answers the full turn as JSON: ids, kinds, extra keys, metadata; zero blocks too", async () => {
    const conv = uid("conv-latest-turn");
    await post("/api/turns", {
      conv_id: conv,
      session_id: "s",
      phase: "final",
      created_at_ms: 100,
      turn: {
        id: "t1",
        run_id: "run-9",
        blocks: [
          { kind: "user", payload: { text: "Grüße 👋" } },
          { id: "call", kind: "tool_call", payload: { id: "c1", name: "lookup", args: { q: "x" } }, turn_id: "t1" },
          { kind: "reasoning", payload: { text: "hmm" } },
        ],
        metadata: { "geppetto.runtime@v1": { runtime_key: "planner" }, "geppetto.inference_id@v1": "inf-7" },
        data: { k: [1, 2] },
      },
    });
    const res = await latest(conv);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(await json(res)).toEqual({
      conv_id: conv,
      session_id: "s",
      turn_id: "t1",
      phase: "final",
      created_at_ms: 100,
      runtime_key: "planner",
      inference_id: "inf-7",
      turn: {
        id: "t1",
        blocks: [
          { id: "t1#0", kind: "user", role: "", payload: { text: "Grüße 👋" }, metadata: {} },
          { id: "call", kind: "tool_call", role: "", payload: { args: { q: "x" }, id: "c1", name: "lookup" }, metadata: {}, turn_id: "t1" },
          { id: "t1#2", kind: "reasoning", role: "", payload: { text: "hmm" }, metadata: {} },
        ],
        metadata: { "geppetto.inference_id@v1": "inf-7", "geppetto.runtime@v1": { runtime_key: "planner" } },
        data: { k: [1, 2] },
        run_id: "run-9",
      },
    });
    await post("/api/turns", { conv_id: conv, session_id: "s", phase: "final", created_at_ms: 200, turn: { id: "t2", blocks: [] } });
    expect((await json(await latest(conv))).turn).toEqual({ id: "t2", blocks: [], metadata: {}, data: {} });
  });

  it("is the same turn the debug API shows", async () => {
    const conv = uid("conv-latest-same");
    await seed(conv);
    const body = await json(await latest(conv, "?phase=final"));
    const detail = await json(await get(`/api/debug/turn/${conv}/s2/t2`));
    expect(body.turn).toEqual(detail.items[0]!.parsed);
  });

  it("conversation ids with /, % and unicode", async () => {
    const conv = `${uid("conv")}/a%b ü`;
    await post("/api/turns", turnBody({ conv_id: conv, session_id: "s/1", turn_id: "t", created_at_ms: 1 }));
    await expectLatest(conv, `?session_id=${encodeURIComponent("s/1")}`, { conv_id: conv, session_id: "s/1" });
  });

  it("reads its own write with the bookmark of that write", async () => {
    const conv = uid("conv-latest-bookmark");
    const write = await post("/api/turns", turnBody({ conv_id: conv, session_id: "s", turn_id: "t", created_at_ms: 1 }));
    const bookmark = write.headers.get("x-d1-bookmark")!;
    expect(bookmark).toBeTruthy();
    const res = await get(`/api/conversations/${conv}/turns/latest`, { headers: { "x-d1-bookmark": bookmark } });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-d1-bookmark")).toBeTruthy();
    const bad = await get(`/api/conversations/${conv}/turns/latest`, { headers: { "x-d1-bookmark": "not a bookmark!" } });
    expect(bad.status).toBe(400);
  });
});

describe("nothing to answer", () => {
  it("404 NOT_FOUND for an unknown conversation, or when no snapshot matches", async () => {
    const conv = uid("conv-latest-404");
    await seed(conv);
    for (const [id, query] of [
      [uid("conv-unknown"), ""],
      [conv, "?phase=post_tools"],
      [conv, "?session_id=s9"],
      [conv, "?session_id=s2&phase=post_tools"],
    ] as const) {
      const res = await latest(id, query);
      expect(res.status).toBe(404);
      expect((await json(res)).error).toEqual({ code: "NOT_FOUND", message: expect.stringMatching(/has no snapshot/) });
    }
  });

  it("400 for malformed parameters and undecodable paths", async () => {
    expect((await latest("c", `?phase=${"p".repeat(257)}`)).status).toBe(400);
    const res = await get("/api/conversations/%FF/turns/latest");
    expect(res.status).toBe(400);
    expect((await json(res)).error.code).toBe("INVALID_PARAMETER");
  });

  it("GET only", async () => {
    const res = await post("/api/conversations/c/turns/latest", {});
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toContain("GET");
  });
});
