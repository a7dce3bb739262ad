/**
 * Cost: every filter and sort of the debug reads is served by an index (EXPLAIN QUERY PLAN on the
 * real D1), and a request costs a constant number of D1 statements whatever `limit` is.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { CONVERSION_QUEUE_STATEMENTS } from "../../../src/store/conversion";
import { snapshotQueries, type SnapshotFilter } from "../../../src/store/snapshot-queries";
import { blockContentHash } from "../../../src/turn/block-hash";
import { pathNodes } from "../../../src/turn/block-path";
import { call, countingDb, json, post, turnBody, uid } from "../harness";

async function plan(sql: string, params: unknown[]): Promise<string[]> {
  const { results } = await env.DB.prepare(`EXPLAIN QUERY PLAN ${sql}`)
    .bind(...params)
    .all<{ detail: string }>();
  return results.map((r) => r.detail);
}

/**
 * Each filter, the B-tree that serves it, and whether the page is sorted. turn_snapshots has two
 * (every B-tree is an entry D1 writes and bills with each snapshot, issue 17): the table itself,
 * keyed (conv_id, created_at_ms, id), and the identity index (session_id, conv_id, turn_id, …).
 * Filters within a conversation walk the table newest first and stop at the page (rows read grow
 * with how far back the matches are); a session without a conversation and one turn come from the
 * identity index, their rows sorted — the session's or the turn's rows, never the table's.
 */
const FILTERS: Array<[string, Omit<SnapshotFilter, "limit">, RegExp, "in order" | "sorted"]> = [
  ["conv", { convId: "c" }, /SEARCH turn_snapshots USING PRIMARY KEY \(conv_id=\?\)/, "in order"],
  ["session", { sessionId: "s" }, /SEARCH turn_snapshots USING INDEX turn_snapshots_identity \(session_id=\?\)/, "sorted"],
  ["conv + session", { convId: "c", sessionId: "s" }, /SEARCH turn_snapshots USING PRIMARY KEY \(conv_id=\?\)/, "in order"],
  ["conv + phase", { convId: "c", phase: "final" }, /SEARCH turn_snapshots USING PRIMARY KEY \(conv_id=\?\)/, "in order"],
  [
    "session + phase",
    { sessionId: "s", phase: "final" },
    /SEARCH turn_snapshots USING INDEX turn_snapshots_identity \(session_id=\?\)/,
    "sorted",
  ],
  ["conv + runtime", { convId: "c", runtimeKey: "planner" }, /SEARCH turn_snapshots USING PRIMARY KEY \(conv_id=\?\)/, "in order"],
  ["conv + inference", { convId: "c", inferenceId: "i" }, /SEARCH turn_snapshots USING PRIMARY KEY \(conv_id=\?\)/, "in order"],
  [
    "conv + since + cursor",
    { convId: "c", sinceMs: 5, after: { createdAtMs: 10, convId: "c", id: 3 } },
    /SEARCH turn_snapshots USING PRIMARY KEY \(conv_id=\? AND created_at_ms>\? AND \(created_at_ms,id\)<\(\?,\?\)\)/,
    "in order",
  ],
  [
    "session + cursor",
    { sessionId: "s", after: { createdAtMs: 10, convId: "c", id: 3 } },
    /SEARCH turn_snapshots USING INDEX turn_snapshots_identity \(session_id=\?\)/,
    "sorted",
  ],
  [
    "turn detail",
    { convId: "c", sessionId: "s", turnId: "t" },
    /SEARCH turn_snapshots USING INDEX turn_snapshots_identity \(session_id=\? AND conv_id=\? AND turn_id=\?\)/,
    "sorted",
  ],
];

describe("query plans", () => {
  it.each(FILTERS)("%s: page served by the table or the identity index, no full scan", async (_name, filter, btree, order) => {
    // The summary page (payload=none) is the range itself, stopped at the limit (or sorted, see FILTERS).
    const summary = snapshotQueries({ ...filter, limit: 200, withBlocks: false });
    const summaryPlan = (await plan(summary.page, summary.params)).join("\n");
    expect(summaryPlan).toMatch(btree);
    expect(summaryPlan).not.toMatch(/SCAN turn_snapshots/);
    if (order === "in order") expect(summaryPlan).not.toMatch(/TEMP B-TREE/);
    else expect(summaryPlan).toMatch(/TEMP B-TREE FOR (LAST TERM OF )?ORDER BY/);

    // With payloads, the same limited range; the block budget's running sum sorts only those rows.
    const { page, blocks, params } = snapshotQueries({ ...filter, limit: 200 });
    const pagePlan = await plan(page, params);
    const search = pagePlan.findIndex((line) => btree.test(line));
    expect(search).toBeGreaterThan(-1);
    expect(pagePlan.join("\n")).not.toMatch(/SCAN turn_snapshots/);
    if (order === "in order") expect(pagePlan[search + 1] ?? "").not.toMatch(/TEMP B-TREE/);

    // The blocks: the page's paths walked node by node (primary key), contents by primary key.
    const blocksPlan = (await plan(blocks, params)).join("\n");
    expect(blocksPlan).toMatch(/SEARCH n USING PRIMARY KEY \(conv_id=\? AND chain=\?\)/);
    expect(blocksPlan).toMatch(/SEARCH b USING PRIMARY KEY \(block_id=\? AND content_hash=\?\)/);
    expect(blocksPlan).not.toMatch(/SCAN (blocks|block_nodes|b|n)\b/);
  });

  it("conversation list and runtime history are index-served", async () => {
    const list = (
      await plan("SELECT * FROM conversations WHERE last_activity_ms >= ?1 ORDER BY last_activity_ms DESC, conv_id ASC LIMIT 201", [0])
    ).join("\n");
    expect(list).toMatch(/conversations_by_activity/);
    expect(list).not.toMatch(/TEMP B-TREE/);
    const history = (
      await plan("SELECT turn_id, runtime_key FROM turns WHERE conv_id = ?1 ORDER BY turn_created_at_ms, turn_id", ["c"])
    ).join("\n");
    expect(history).toMatch(/turns_by_conv_created/);
    expect(history).not.toMatch(/TEMP B-TREE/);
  });

  it("the conversion of legacy rows finds and points each one through its queue index, never the conversation's range", async () => {
    const { NEXT_UNCONVERTED, NEXT_UNCONVERTED_OF, POINT_SNAPSHOTS } = CONVERSION_QUEUE_STATEMENTS;
    expect((await plan(NEXT_UNCONVERTED, [10, 0])).join("\n")).toMatch(/SCAN turn_snapshots USING INDEX turn_snapshots_unconverted$/m);
    expect((await plan(NEXT_UNCONVERTED_OF, [10, "c"])).join("\n")).toMatch(
      /SEARCH turn_snapshots USING INDEX turn_snapshots_unconverted \(conv_id=\?\)/,
    );
    const point = (await plan(POINT_SNAPSHOTS, ["[]"])).join("\n");
    expect(point).toMatch(/SEARCH turn_snapshots USING INDEX turn_snapshots_unconverted \(conv_id=\? AND id=\?\)/);
    expect(point).not.toMatch(/PRIMARY KEY/);
  });

  it("the operator queries of the playbook use the GP-26 indexes", async () => {
    const byRuntime = (
      await plan("SELECT turn_id FROM turns WHERE conv_id = ?1 AND runtime_key = ?2 ORDER BY updated_at_ms DESC", ["c", "p"])
    ).join("\n");
    expect(byRuntime).toMatch(/turns_by_conv_runtime_updated/);
    const byInference = (
      await plan("SELECT turn_id FROM turns WHERE conv_id = ?1 AND inference_id = ?2 ORDER BY updated_at_ms DESC", ["c", "i"])
    ).join("\n");
    expect(byInference).toMatch(/turns_by_conv_inference_updated/);
  });
});

describe("B-tree entries written per snapshot (D1's rows_written, what D1 bills)", () => {
  it("a later-phase snapshot with one new block writes 9: the block and its node, 7 beyond them", async () => {
    const conv = uid("conv-entries");
    const write = async (body: unknown) => {
      const counter = countingDb();
      const res = await call("POST", "/api/turns", { body, env: { DB: counter.db } });
      expect(res.status, JSON.stringify(await res.clone().json())).toBe(201);
      const [batch, ...more] = counter.rowsWritten();
      expect(more).toEqual([]);
      return batch ?? [];
    };
    const system = { id: "sys", kind: "system", role: "system", payload: { text: "be brief" } };
    const question = { id: "u1", kind: "user", role: "user", payload: { text: "How many widgets?" } };
    const answer = { id: "a1", kind: "llm_text", role: "assistant", payload: { text: "42" } };
    const snapshot = (phase: string, at: number, blocks: unknown[]) => ({
      conv_id: conv,
      session_id: "s",
      phase,
      created_at_ms: at,
      runtime_key: "inventory",
      turn: { id: "t1", blocks },
    });
    // By statement: conversation, new block contents, new nodes, snapshot — its triggers (the turn
    // roll-up, the turn's creation time) counted with it.
    // First snapshot: two new blocks; the conversation row is inserted (row, primary key, activity
    // index), the snapshot (row, identity) and the turn row (row, primary key, runtime, inference and
    // creation indexes).
    expect(await write(snapshot("pre_inference", 1000, [system, question]))).toEqual([3, 2, 2, 7]);
    // Later phase, one new block: the conversation (row, activity index), the block, its node, the
    // snapshot (its row and its identity) and the turn (row, the contract's runtime and inference
    // indexes: updated_at_ms moves) — nothing for the creation time it keeps.
    const later = await write(snapshot("final", 1002, [system, question, answer]));
    expect(later).toEqual([2, 1, 1, 5]);
    expect(later.reduce((a, b) => a + b, 0)).toBe(9);
    // A late snapshot older than the turn moves its creation time back (the other trigger): the turn
    // row and one index entry more.
    expect(await write(snapshot("pre_inference", 999, [system]))).toEqual([2, 0, 0, 7]);
    const turn = await env.DB.prepare("SELECT turn_created_at_ms, updated_at_ms FROM turns WHERE conv_id = ?1").bind(conv).first();
    expect(turn).toEqual({ turn_created_at_ms: 999, updated_at_ms: 1002 });
    // A new turn whose older snapshot comes second in one batch: inserted with the first one's time,
    // moved back by the second one's insert.
    const batch = await call("POST", "/api/turns/batch", {
      body: {
        items: [
          { ...snapshot("final", 2002, [system]), turn: { id: "t2", blocks: [system] } },
          { ...snapshot("pre_inference", 2000, [system]), turn: { id: "t2", blocks: [system] } },
        ],
      },
    });
    expect(batch.status).toBe(201);
    const t2 = await env.DB.prepare("SELECT turn_created_at_ms, updated_at_ms FROM turns WHERE conv_id = ?1 AND turn_id = 't2'")
      .bind(conv)
      .first();
    expect(t2).toEqual({ turn_created_at_ms: 2000, updated_at_ms: 2002 });
  });
});

describe("constant queries per request", () => {
  it("debug reads cost the same statements and one round trip at limit 1 and limit 1000", async () => {
    const conv = uid("conv-cost");
    for (let i = 0; i < 3; i++) {
      await post("/api/turns/batch", {
        items: Array.from({ length: 100 }, (_, j) =>
          turnBody({ conv_id: conv, session_id: "s", turn_id: `t${i * 100 + j}`, created_at_ms: 1 + i * 100 + j }),
        ),
      });
    }
    const measure = async (path: string) => {
      const counter = countingDb();
      const res = await call("GET", path, { env: { DB: counter.db } });
      expect(res.status).toBe(200);
      return { ...counter.counts(), items: (await json(res)).items.length };
    };
    const small = await measure(`/api/debug/turns?conv_id=${conv}&limit=1`);
    const large = await measure(`/api/debug/turns?conv_id=${conv}&limit=1000`);
    expect(small).toEqual({ statements: 2, roundTrips: 1, items: 1 });
    expect(large).toEqual({ statements: 2, roundTrips: 1, items: 300 });
    const detail = await measure(`/api/debug/turn/${conv}/s/t5`);
    expect(detail).toEqual({ statements: 2, roundTrips: 1, items: 1 });
    const conversations = await measure(`/api/debug/conversations?limit=1000`);
    expect(conversations.roundTrips).toBe(1);
    const one = countingDb();
    expect((await call("GET", `/api/debug/conversations/${conv}`, { env: { DB: one.db } })).status).toBe(200);
    expect(one.counts()).toEqual({ statements: 2, roundTrips: 1 });
  });

  it("a new write is one batch with a constant number of statements, whatever the number of blocks or items", async () => {
    const write = async (body: unknown, path = "/api/turns", status = 201) => {
      const counter = countingDb();
      const res = await call("POST", path, { body, env: { DB: counter.db } });
      expect(res.status, JSON.stringify(await res.clone().json())).toBe(status);
      return counter.counts();
    };
    const conv = uid("conv-wcost");
    const few = await write(turnBody({ conv_id: conv, session_id: "s", turn_id: "a", created_at_ms: 1 }));
    const many = await write(
      turnBody({
        conv_id: conv,
        session_id: "s",
        turn_id: "b",
        created_at_ms: 2,
        blocks: Array.from({ length: 300 }, (_, i) => ({ kind: "user", payload: { i } })),
      }),
    );
    const batch = await write(
      {
        items: Array.from({ length: 100 }, (_, i) => turnBody({ conv_id: conv, session_id: "s", turn_id: `c${i}`, created_at_ms: 10 + i })),
      },
      "/api/turns/batch",
    );
    // One round trip: conversations, block contents on new nodes, the nodes, the snapshots (their
    // triggers roll the turns up; their guard checks deletions and prefixes) — what the conversation
    // already has is decided inside the batch.
    expect(few).toEqual({ statements: 4, roundTrips: 1 });
    expect(many).toEqual(few);
    expect(batch).toEqual(few);

    // A delta post whose prefix names the path an earlier item of the same batch writes: the same
    // statements (the guard checks the prefix), still one round trip.
    const first = { id: "d1", blocks: [{ id: "u1", kind: "user", payload: { text: "q" } }] };
    const [node] = await pathNodes([
      {
        blockId: "u1",
        contentHash: await blockContentHash({ kind: "user", role: "", payload: { text: "q" }, metadata: {} }),
        extraJson: "",
      },
    ]);
    const delta = await write(
      {
        items: [
          { conv_id: conv, session_id: "s", created_at_ms: 500, turn: first },
          {
            conv_id: conv,
            session_id: "s",
            created_at_ms: 501,
            prefix: { chain: node!.chain, blocks: 1 },
            turn: { id: "d2", blocks: [{ id: "a1", kind: "llm_text", payload: { text: "a" } }] },
          },
        ],
      },
      "/api/turns/batch",
    );
    expect(delta).toEqual({ statements: 4, roundTrips: 1 });

    // A replay (a client's retry) fails that batch on the stored identity, then reads once: 200,
    // nothing written. The refused batch has 2 statements (the conversation, the snapshot): the
    // snapshot's path ends at a tip this isolate stored, so it carries no node or block to insert
    // (known-paths.ts); the read has 3.
    expect(await write(turnBody({ conv_id: conv, session_id: "s", turn_id: "a", created_at_ms: 1 }), "/api/turns", 200)).toEqual({
      statements: 5,
      roundTrips: 2,
    });
    // Block references need the conversation's blocks looked up first: read, then write.
    const refs = await write({
      conv_id: conv,
      session_id: "s",
      created_at_ms: 600,
      turn: {
        id: "r1",
        blocks: [
          { id: "u1", content_hash: node!.contentHash },
          { id: "n1", kind: "user", payload: { text: "new" } },
        ],
      },
    });
    expect(refs.roundTrips).toBe(2);
  });
});
