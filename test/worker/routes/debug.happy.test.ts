/** The debug API through the Worker's fetch handler: Go ports plus pagination, filters, history, scale. */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { call, get, json, post, turnBody, uid, postInBatches } from "../harness";

/** One batch per conversation (and per 100 items): with several databases a batch stays in one. */
const seed = (items: Array<{ conv_id: string }>) => postInBatches(items);

describe("GET /api/debug/turns (Go ports)", () => {
  it("echoes the filters in the envelope, since_ms as a number, and carries runtime and inference per item", async () => {
    const conv = uid("conv-env");
    await seed([
      turnBody({
        conv_id: conv,
        session_id: "s1",
        turn_id: "t1",
        phase: "final",
        created_at_ms: 100,
        runtime_key: "inventory",
        inference_id: "inf-1",
      }),
      turnBody({ conv_id: conv, session_id: "s1", turn_id: "t2", phase: "final", created_at_ms: 200 }),
    ]);
    const res = await get(`/api/debug/turns?conv_id=${conv}&session_id=s1&phase=final&since_ms=100`);
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body).toMatchObject({ conv_id: conv, session_id: "s1", phase: "final", since_ms: 100, next_cursor: null });
    expect(body.items.map((i: Record<string, unknown>) => [i.turn_id, i.runtime_key, i.inference_id])).toEqual([
      ["t2", "", ""],
      ["t1", "inventory", "inf-1"],
    ]);
    expect(Object.keys(body.items[0]!).sort()).toEqual([
      "conv_id",
      "created_at_ms",
      "inference_id",
      // CONTRACT §6.5: false unless the snapshot's requested and response models differ.
      "model_mismatch",
      "payload",
      "phase",
      "runtime_key",
      "session_id",
      "turn_id",
    ]);
  });

  it("payload=none: the same items without payload, each with block_count; payload=full is the default", async () => {
    const conv = uid("conv-summary");
    await seed([
      turnBody({ conv_id: conv, session_id: "s", turn_id: "t1", created_at_ms: 100, runtime_key: "inventory" }),
      { conv_id: conv, session_id: "s", created_at_ms: 200, turn: { id: "t0", blocks: [] } } as ReturnType<typeof turnBody>,
    ]);
    const full = await json(await get(`/api/debug/turns?conv_id=${conv}`));
    const summary = await json(await get(`/api/debug/turns?conv_id=${conv}&payload=none`));
    expect(summary.items).toEqual(
      full.items.map(({ payload, ...rest }: Record<string, unknown>) => ({
        ...rest,
        block_count: (parse(payload as string) as { blocks: unknown[] }).blocks.length,
      })),
    );
    expect(summary.items.map((i) => i.block_count)).toEqual([0, 2]);
    expect(await json(await get(`/api/debug/turns?conv_id=${conv}&payload=full`))).toEqual(full);
    const bad = await get(`/api/debug/turns?conv_id=${conv}&payload=some`);
    expect(bad.status).toBe(400);
    expect((await json(bad)).error.code).toBe("INVALID_PARAMETER");
  });

  it("echoes '' and 0 for absent filters; since_ms is inclusive", async () => {
    const conv = uid("conv-since");
    await seed([100, 200, 300].map((at) => turnBody({ conv_id: conv, session_id: "s", turn_id: `t${at}`, created_at_ms: at })));
    const all = await json(await get(`/api/debug/turns?conv_id=${conv}`));
    expect(all).toMatchObject({ session_id: "", phase: "", since_ms: 0 });
    expect(all.items).toHaveLength(3);
    const since = await json(await get(`/api/debug/turns?conv_id=${conv}&since_ms=200`));
    expect(since.items.map((i: { created_at_ms: number }) => i.created_at_ms)).toEqual([300, 200]);
  });

  it("lists zero-block snapshots and round-trips the YAML payload", async () => {
    const conv = uid("conv-yaml");
    const turn = {
      id: "t-yaml",
      blocks: [
        {
          id: "b1",
          kind: "tool_call",
          role: "",
          payload: { name: "search", args: { q: 'it\'s: "quoted"', n: 3 } },
          metadata: { "x@v1": [1, 2] },
        },
        { id: "b2", kind: "llm_text", role: "assistant", payload: { text: "multi\nline ✓" }, metadata: {} },
      ],
      metadata: { "geppetto.runtime@v1": { runtime_key: "planner" } },
      data: { n: 1.5, flag: true, nothing: null },
    };
    await post("/api/turns", { conv_id: conv, session_id: "s", created_at_ms: 10, turn });
    await post("/api/turns", { conv_id: conv, session_id: "s", created_at_ms: 20, turn: { id: "t-empty", blocks: [] } });
    const body = await json(await get(`/api/debug/turns?conv_id=${conv}`));
    expect(body.items.map((i: { turn_id: string }) => i.turn_id)).toEqual(["t-empty", "t-yaml"]);
    expect(parse(body.items[0]!.payload!)).toEqual({ id: "t-empty", blocks: [], metadata: {}, data: {} });
    expect(parse(body.items[1]!.payload!)).toEqual(turn);
    expect(body.items[1]!.runtime_key).toBe("planner");
  });

  it("filters by runtime_key and inference_id (the snapshot's own values)", async () => {
    const conv = uid("conv-filter");
    await seed([
      turnBody({ conv_id: conv, session_id: "s", turn_id: "a", created_at_ms: 1, runtime_key: "inventory", inference_id: "i-1" }),
      turnBody({ conv_id: conv, session_id: "s", turn_id: "b", created_at_ms: 2, runtime_key: "planner", inference_id: "i-2" }),
      turnBody({ conv_id: conv, session_id: "s", turn_id: "c", created_at_ms: 3, runtime_key: "inventory", inference_id: "i-3" }),
      turnBody({ conv_id: conv, session_id: "s", turn_id: "d", created_at_ms: 4 }),
    ]);
    const ids = async (query: string) =>
      (await json(await get(`/api/debug/turns?conv_id=${conv}&${query}`))).items.map((i: { turn_id: string }) => i.turn_id);
    expect(await ids("runtime_key=inventory")).toEqual(["c", "a"]);
    expect(await ids("runtime_key=planner")).toEqual(["b"]);
    expect(await ids("inference_id=i-3")).toEqual(["c"]);
    expect(await ids("runtime_key=")).toEqual(["d"]);
    expect(await ids("runtime_key=inventory&inference_id=i-1")).toEqual(["a"]);
  });

  it("lists by session across conversations", async () => {
    const session = uid("sess-x");
    await seed([
      turnBody({ conv_id: uid("c-a"), session_id: session, turn_id: "t1", created_at_ms: 5 }),
      turnBody({ conv_id: uid("c-b"), session_id: session, turn_id: "t2", created_at_ms: 6 }),
    ]);
    const body = await json(await get(`/api/debug/turns?session_id=${session}`));
    expect(body.items.map((i: { turn_id: string }) => i.turn_id)).toEqual(["t2", "t1"]);
  });
});

describe("pagination", () => {
  it("pages a session across conversations whose snapshots share milliseconds, each once, in order", async () => {
    const session = uid("sess-page");
    const convs = [uid("c-p1"), uid("c-p2"), uid("c-p3")];
    // 3 conversations × 12 snapshots, 4 per millisecond in each: ties within a conversation (by
    // arrival) and across conversations (by conv_id), plus a snapshot of another session.
    const items = convs.flatMap((conv) =>
      Array.from({ length: 12 }, (_, i) =>
        turnBody({ conv_id: conv, session_id: session, turn_id: `t${i}`, created_at_ms: 100 + Math.floor(i / 4) }),
      ),
    );
    await seed([...items, turnBody({ conv_id: convs[0]!, session_id: `${session}-other`, turn_id: "x", created_at_ms: 101 })]);
    const all: Array<{ conv_id: string; turn_id: string; created_at_ms: number }> = (
      await json(await get(`/api/debug/turns?session_id=${session}&limit=100&payload=none`))
    ).items;
    expect(all).toHaveLength(36);
    // Newest first; equal times: conv_id descending, then the later arrival first.
    const expected = [...items]
      .map((item, arrival) => ({ conv_id: item.conv_id, turn_id: item.turn!.id as string, created_at_ms: item.created_at_ms!, arrival }))
      .sort(
        (a, b) =>
          b.created_at_ms - a.created_at_ms || (a.conv_id < b.conv_id ? 1 : a.conv_id > b.conv_id ? -1 : 0) || b.arrival - a.arrival,
      )
      .map(({ conv_id, turn_id, created_at_ms }) => `${conv_id}/${turn_id}@${created_at_ms}`);
    expect(all.map((i) => `${i.conv_id}/${i.turn_id}@${i.created_at_ms}`)).toEqual(expected);
    const paged: string[] = [];
    let cursor: string | null = null;
    do {
      const body: { items: typeof all; next_cursor: string | null } = await json(
        await get(`/api/debug/turns?session_id=${session}&limit=5&payload=none${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`),
      );
      paged.push(...body.items.map((i) => `${i.conv_id}/${i.turn_id}@${i.created_at_ms}`));
      cursor = body.next_cursor;
    } while (cursor);
    expect(paged).toEqual(expected);
  });

  it("walks every item exactly once while new snapshots arrive", async () => {
    const conv = uid("conv-page");
    await seed(
      Array.from({ length: 57 }, (_, i) => turnBody({ conv_id: conv, session_id: "s", turn_id: `t${i}`, created_at_ms: 1000 + (i % 20) })),
    );
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const url: string = `/api/debug/turns?conv_id=${conv}&limit=10${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
      const body: { items: Array<{ turn_id: string }>; next_cursor: string | null } = await json(await get(url));
      seen.push(...body.items.map((i: { turn_id: string }) => i.turn_id));
      cursor = body.next_cursor;
      pages += 1;
      // Inserts while paging: newer ones land before the cursor, an older one after it.
      if (pages === 2) await post("/api/turns", turnBody({ conv_id: conv, session_id: "s", turn_id: "late-new", created_at_ms: 5000 }));
      if (pages === 3) await post("/api/turns", turnBody({ conv_id: conv, session_id: "s", turn_id: "late-old", created_at_ms: 1 }));
    } while (cursor);
    const original = Array.from({ length: 57 }, (_, i) => `t${i}`);
    expect(seen.filter((id) => original.includes(id)).sort()).toEqual(original.sort());
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen).not.toContain("late-new");
    expect(seen[seen.length - 1]).toBe("late-old");
    expect(pages).toBe(6);
  });

  it("pages conversations newest activity first, ties by conv_id", async () => {
    const prefix = uid("order");
    const convs = ["b", "a", "c", "d"].map((x) => `${prefix}-${x}`);
    // Newest activity in this file's database: a little ahead of the clock, within MAX_CLOCK_SKEW_MS.
    const at = Date.now() + 120_000;
    await seed([
      turnBody({ conv_id: convs[0]!, session_id: "s", turn_id: "t", created_at_ms: at }),
      turnBody({ conv_id: convs[1]!, session_id: "s", turn_id: "t", created_at_ms: at }),
      turnBody({ conv_id: convs[2]!, session_id: "s", turn_id: "t", created_at_ms: at - 1 }),
      turnBody({ conv_id: convs[3]!, session_id: "s", turn_id: "t", created_at_ms: at + 1 }),
    ]);
    const walk: string[] = [];
    let cursor: string | null = null;
    do {
      const body: { items: Array<{ conv_id: string }>; next_cursor: string | null } = await json(
        await get(`/api/debug/conversations?since_ms=${at - 1}&limit=1${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`),
      );
      walk.push(...body.items.map((c: { conv_id: string }) => c.conv_id));
      cursor = body.next_cursor;
    } while (cursor);
    expect(walk).toEqual([`${prefix}-d`, `${prefix}-a`, `${prefix}-b`, `${prefix}-c`]);
  });
});

describe("conversations", () => {
  it("lists with the pointer as resolved_runtime_key and no runtime_key / current_runtime_key fields", async () => {
    const conv = uid("conv-list");
    const at = Date.now() + 240_000;
    await seed([turnBody({ conv_id: conv, session_id: "s", turn_id: "t", created_at_ms: at, runtime_key: "planner" })]);
    const body = await json(await get("/api/debug/conversations?limit=1"));
    expect(body.items[0]).toEqual({
      conv_id: conv,
      session_id: "s",
      resolved_runtime_key: "planner",
      created_at_ms: at,
      last_activity_ms: at,
      turn_count: 1,
      snapshot_count: 1,
    });
    expect(body.items[0]).not.toHaveProperty("runtime_key");
    expect(body.items[0]).not.toHaveProperty("current_runtime_key");
  });

  it("shows runtime history inventory → planner → inventory as three segments", async () => {
    const conv = uid("conv-hist");
    await seed([
      turnBody({ conv_id: conv, session_id: "s", turn_id: "t1", created_at_ms: 10, runtime_key: "inventory" }),
      turnBody({ conv_id: conv, session_id: "s", turn_id: "t2", created_at_ms: 20, runtime_key: "inventory" }),
      turnBody({ conv_id: conv, session_id: "s", turn_id: "t3", created_at_ms: 30, runtime_key: "planner" }),
      turnBody({ conv_id: conv, session_id: "s", turn_id: "t4", created_at_ms: 40, runtime_key: "inventory" }),
    ]);
    const res = await get(`/api/debug/conversations/${conv}`);
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body).toMatchObject({
      conv_id: conv,
      session_id: "s",
      resolved_runtime_key: "inventory",
      turn_count: 4,
      created_at_ms: 10,
      last_activity_ms: 40,
    });
    expect(body.runtime_history).toEqual([
      { runtime_key: "inventory", first_turn_id: "t1", last_turn_id: "t2", from_ms: 10, to_ms: 20, turn_count: 2 },
      { runtime_key: "planner", first_turn_id: "t3", last_turn_id: "t3", from_ms: 30, to_ms: 30, turn_count: 1 },
      { runtime_key: "inventory", first_turn_id: "t4", last_turn_id: "t4", from_ms: 40, to_ms: 40, turn_count: 1 },
    ]);
  });

  it("404s an unknown conversation with the envelope", async () => {
    const res = await get("/api/debug/conversations/does-not-exist");
    expect(res.status).toBe(404);
    expect((await json(res)).error.code).toBe("NOT_FOUND");
  });
});

describe("GET /api/debug/turn/:conv/:session/:turn", () => {
  it("returns draft@100 and final@200 newest first with parsed turns (Go port)", async () => {
    const conv = uid("conv-detail");
    await seed([
      turnBody({
        conv_id: conv,
        session_id: "s",
        turn_id: "t",
        phase: "draft",
        created_at_ms: 100,
        runtime_key: "inventory",
        inference_id: "i-1",
      }),
      turnBody({
        conv_id: conv,
        session_id: "s",
        turn_id: "t",
        phase: "final",
        created_at_ms: 200,
        runtime_key: "planner",
        inference_id: "i-2",
      }),
    ]);
    const body = await json(await get(`/api/debug/turn/${conv}/s/t`));
    expect(body).toMatchObject({ conv_id: conv, session_id: "s", turn_id: "t" });
    expect(body.items.map((i: Record<string, unknown>) => [i.phase, i.created_at_ms, i.runtime_key, i.inference_id])).toEqual([
      ["final", 200, "planner", "i-2"],
      ["draft", 100, "inventory", "i-1"],
    ]);
    expect(body.items[0]!.parsed).toMatchObject({ id: "t", blocks: [{ kind: "user" }, { kind: "llm_text", role: "assistant" }] });
    expect(parse(body.items[0]!.payload)).toEqual(body.items[0]!.parsed);
  });

  it("finds a turn behind 600 newer snapshots", async () => {
    const conv = uid("conv-deep");
    await post(
      "/api/turns",
      turnBody({ conv_id: conv, session_id: "s", turn_id: "the-old-one", created_at_ms: 1, runtime_key: "inventory" }),
    );
    await seed(
      Array.from({ length: 600 }, (_, i) =>
        turnBody({ conv_id: conv, session_id: "s", turn_id: `newer-${i}`, created_at_ms: 1000 + i, blocks: [] }),
      ),
    );
    const res = await get(`/api/debug/turn/${conv}/s/the-old-one`);
    expect(res.status).toBe(200);
    expect((await json(res)).items).toHaveLength(1);
  });

  it("404s a turn without snapshots", async () => {
    const res = await get("/api/debug/turn/nope/nope/nope");
    expect(res.status).toBe(404);
    expect((await json(res)).error.code).toBe("NOT_FOUND");
  });

  it("decodes path segments exactly once", async () => {
    const conv = uid("c%2Fx");
    await post("/api/turns", turnBody({ conv_id: conv, session_id: "a/b", turn_id: "50%", created_at_ms: 1 }));
    const ok = await get(`/api/debug/turn/${encodeURIComponent(conv)}/${encodeURIComponent("a/b")}/${encodeURIComponent("50%")}`);
    expect(ok.status).toBe(200);
    expect(await json(ok)).toMatchObject({ conv_id: conv, session_id: "a/b", turn_id: "50%" });
  });
});

describe("D1 sessions", () => {
  it("a debug read that sends the write's bookmark sees that write", async () => {
    const conv = uid("conv-bm");
    const write = await post("/api/turns", turnBody({ conv_id: conv, session_id: "s", turn_id: "t", created_at_ms: 1 }));
    const bookmark = write.headers.get("x-d1-bookmark");
    expect(bookmark).toBeTruthy();
    const read = await call("GET", `/api/debug/turns?conv_id=${conv}`, { headers: { "x-d1-bookmark": bookmark! } });
    expect(read.status).toBe(200);
    expect((await json(read)).items).toHaveLength(1);
    expect(read.headers.get("x-d1-bookmark")).toBeTruthy();
  });

  it("refuses a malformed bookmark", async () => {
    const res = await call("GET", "/api/debug/turns?conv_id=x", { headers: { "x-d1-bookmark": "not a bookmark!" } });
    expect(res.status).toBe(400);
    expect((await json(res)).error.code).toBe("INVALID_PARAMETER");
    expect(env.DB).toBeDefined();
  });
});
