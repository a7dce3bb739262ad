/**
 * Cost: every filter and sort of the debug reads is served by an index (EXPLAIN QUERY PLAN on the
 * real D1), and a request costs a constant number of D1 statements whatever `limit` is.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { snapshotQueries, type SnapshotFilter } from "../../src/store/snapshot-reads";
import { blockContentHash } from "../../src/turn/block-hash";
import { pathNodes } from "../../src/turn/block-path";
import { call, countingDb, json, post, turnBody, uid } from "./harness";

async function plan(sql: string, params: unknown[]): Promise<string[]> {
  const { results } = await env.DB.prepare(`EXPLAIN QUERY PLAN ${sql}`).bind(...params).all<{ detail: string }>();
  return results.map((r) => r.detail);
}

/** Each filter and the index that serves it (every index of turn_snapshots is written with each snapshot). */
const FILTERS: Array<[string, Omit<SnapshotFilter, "limit">, RegExp]> = [
  ["conv", { convId: "c" }, /turn_snapshots_by_conv_created \(conv_id=\?\)/],
  ["session", { sessionId: "s" }, /turn_snapshots_by_session_created \(session_id=\?\)/],
  ["conv + session", { convId: "c", sessionId: "s" }, /turn_snapshots_by_(conv|session)_created/],
  ["conv + phase", { convId: "c", phase: "final" }, /turn_snapshots_by_conv_phase_created \(conv_id=\? AND phase=\?\)/],
  // No index of their own: the session's or conversation's range, newest first, filtered up to the page.
  ["session + phase", { sessionId: "s", phase: "final" }, /turn_snapshots_by_session_created \(session_id=\?\)/],
  ["conv + runtime", { convId: "c", runtimeKey: "planner" }, /turn_snapshots_by_conv_created \(conv_id=\?\)/],
  ["conv + inference", { convId: "c", inferenceId: "i" }, /turn_snapshots_by_conv_created \(conv_id=\?\)/],
  ["conv + since + cursor", { convId: "c", sinceMs: 5, after: { createdAtMs: 10, id: 3 } }, /turn_snapshots_by_conv_created \(conv_id=\? AND created_at_ms>\?\)|turn_snapshots_by_conv_created \(conv_id=\? AND created_at_ms/],
  ["turn detail", { convId: "c", sessionId: "s", turnId: "t" }, /turn_snapshots_identity \(conv_id=\? AND session_id=\? AND turn_id=\?\)/],
];

describe("query plans", () => {
  it.each(FILTERS)("%s: page served by an index, no full scan, no sort for the page order", async (_name, filter, index) => {
    // The summary page (payload=none) is the index range itself, in order, stopped at the limit.
    const summary = snapshotQueries({ ...filter, limit: 200, withBlocks: false });
    const summaryPlan = (await plan(summary.page, summary.params)).join("\n");
    expect(summaryPlan).toMatch(/SEARCH turn_snapshots USING (COVERING )?INDEX/);
    expect(summaryPlan).toMatch(index);
    expect(summaryPlan).not.toMatch(/SCAN turn_snapshots/);
    if (!filter.turnId) expect(summaryPlan).not.toMatch(/TEMP B-TREE FOR ORDER BY/);
    // A turn's snapshots come from the identity index, not from reading its whole session in order.
    else expect(summaryPlan).toMatch(/turn_snapshots_identity \(conv_id=\? AND session_id=\? AND turn_id=\?\)/);

    // With payloads, the same limited range; the block budget's running sum sorts only those rows.
    const { page, blocks, params } = snapshotQueries({ ...filter, limit: 200 });
    const pagePlan = await plan(page, params);
    const search = pagePlan.findIndex((line) => /SEARCH turn_snapshots USING (COVERING )?INDEX/.test(line));
    expect(search).toBeGreaterThan(-1);
    expect(pagePlan.join("\n")).not.toMatch(/SCAN turn_snapshots/);
    if (!filter.turnId) expect(pagePlan[search + 1] ?? "").not.toMatch(/TEMP B-TREE/);

    // The blocks: the page's paths walked node by node (primary key), contents by primary key.
    const blocksPlan = (await plan(blocks, params)).join("\n");
    expect(blocksPlan).toMatch(/SEARCH n USING PRIMARY KEY \(conv_id=\? AND chain=\?\)/);
    expect(blocksPlan).toMatch(/SEARCH b USING (INDEX|PRIMARY KEY|COVERING INDEX) sqlite_autoindex_blocks_1/);
    expect(blocksPlan).not.toMatch(/SCAN (blocks|block_nodes|b|n)\b/);
  });

  it("conversation list and runtime history are index-served", async () => {
    const list = (await plan("SELECT * FROM conversations WHERE last_activity_ms >= ?1 ORDER BY last_activity_ms DESC, conv_id ASC LIMIT 201", [0])).join("\n");
    expect(list).toMatch(/conversations_by_activity/);
    expect(list).not.toMatch(/TEMP B-TREE/);
    const history = (await plan("SELECT turn_id, runtime_key FROM turns WHERE conv_id = ?1 ORDER BY turn_created_at_ms, turn_id", ["c"])).join("\n");
    expect(history).toMatch(/turns_by_conv_created/);
    expect(history).not.toMatch(/TEMP B-TREE/);
  });

  it("the operator queries of the playbook use the GP-26 indexes", async () => {
    const byRuntime = (await plan("SELECT turn_id FROM turns WHERE conv_id = ?1 AND runtime_key = ?2 ORDER BY updated_at_ms DESC", ["c", "p"])).join("\n");
    expect(byRuntime).toMatch(/turns_by_conv_runtime_updated/);
    const byInference = (await plan("SELECT turn_id FROM turns WHERE conv_id = ?1 AND inference_id = ?2 ORDER BY updated_at_ms DESC", ["c", "i"])).join("\n");
    expect(byInference).toMatch(/turns_by_conv_inference_updated/);
  });
});

describe("constant queries per request", () => {
  it("debug reads cost the same statements and one round trip at limit 1 and limit 1000", async () => {
    const conv = uid("conv-cost");
    for (let i = 0; i < 3; i++) {
      await post("/api/turns/batch", { items: Array.from({ length: 100 }, (_, j) => turnBody({ conv_id: conv, session_id: "s", turn_id: `t${i * 100 + j}`, created_at_ms: 1 + i * 100 + j })) });
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
    const many = await write(turnBody({ conv_id: conv, session_id: "s", turn_id: "b", created_at_ms: 2, blocks: Array.from({ length: 300 }, (_, i) => ({ kind: "user", payload: { i } })) }));
    const batch = await write({ items: Array.from({ length: 100 }, (_, i) => turnBody({ conv_id: conv, session_id: "s", turn_id: `c${i}`, created_at_ms: 10 + i })) }, "/api/turns/batch");
    // One round trip: the deletion guard, snapshots, block contents on new nodes, the nodes,
    // conversations, turns — what the conversation already has is decided inside the batch.
    expect(few).toEqual({ statements: 6, roundTrips: 1 });
    expect(many).toEqual(few);
    expect(batch).toEqual(few);

    // A delta post whose prefix names the path an earlier item of the same batch writes: one more
    // statement (the prefix guard), still one round trip.
    const first = { id: "d1", blocks: [{ id: "u1", kind: "user", payload: { text: "q" } }] };
    const [node] = pathNodes([{ blockId: "u1", contentHash: await blockContentHash({ kind: "user", role: "", payload: { text: "q" }, metadata: {} }), extraJson: "" }]);
    const delta = await write(
      {
        items: [
          { conv_id: conv, session_id: "s", created_at_ms: 500, turn: first },
          { conv_id: conv, session_id: "s", created_at_ms: 501, prefix: { chain: node!.chain, blocks: 1 }, turn: { id: "d2", blocks: [{ id: "a1", kind: "llm_text", payload: { text: "a" } }] } },
        ],
      },
      "/api/turns/batch",
    );
    expect(delta).toEqual({ statements: 7, roundTrips: 1 });

    // A replay (a client's retry) fails that batch on the stored identity, then reads once: 200,
    // nothing written.
    expect(await write(turnBody({ conv_id: conv, session_id: "s", turn_id: "a", created_at_ms: 1 }), "/api/turns", 200)).toEqual({ statements: 9, roundTrips: 2 });
    // Block references need the conversation's blocks looked up first: read, then write.
    const refs = await write({ conv_id: conv, session_id: "s", created_at_ms: 600, turn: { id: "r1", blocks: [{ id: "u1", content_hash: node!.contentHash }, { id: "n1", kind: "user", payload: { text: "new" } }] } });
    expect(refs.roundTrips).toBe(2);
  });
});
