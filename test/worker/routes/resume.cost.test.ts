/**
 * Cost of the latest-turn read: one D1 round trip, each filter served by the index named in
 * src/store/snapshot-reads.ts (EXPLAIN QUERY PLAN on the real D1), and rows read in proportion to
 * the answer — the same for a conversation of 4 turns and one of 300.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { latestSnapshotQueries, type LatestSnapshotQuery } from "../../../src/store/snapshot-queries";
import { call, countingDb, json, post, turnBody, uid } from "../harness";

async function plan(sql: string, params: unknown[]): Promise<string[]> {
  const { results } = await env.DB.prepare(`EXPLAIN QUERY PLAN ${sql}`)
    .bind(...params)
    .all<{ detail: string }>();
  return results.map((r) => r.detail);
}

// Every latest-snapshot read walks the conversation newest first on the table's primary key
// (conv_id, created_at_ms, id) and stops at the first match.
const CASES: Array<[string, Omit<LatestSnapshotQuery, "convId">]> = [
  ["conversation", {}],
  ["conversation + phase", { phase: "final" }],
  ["conversation + session", { sessionId: "s" }],
  ["conversation + session + phase", { sessionId: "s", phase: "final" }],
];

describe("query plans", () => {
  it.each(CASES)("%s: the conversation's range in the answer's order, stopped at the first match", async (_name, filter) => {
    const { page, blocks, params } = latestSnapshotQueries({ convId: "c", ...filter });
    const pagePlan = await plan(page, params);
    const search = pagePlan.findIndex((line) => line.includes("SEARCH turn_snapshots USING"));
    expect(pagePlan[search]).toBe("SEARCH turn_snapshots USING PRIMARY KEY (conv_id=?)");
    expect(pagePlan.join("\n")).not.toMatch(/SCAN turn_snapshots/);
    // The table yields the order: no sort of the range (only of the one row it stops at).
    expect(pagePlan[search + 1] ?? "").not.toMatch(/TEMP B-TREE/);
    const blocksPlan = (await plan(blocks, params)).join("\n");
    expect(blocksPlan).toMatch(/SEARCH n USING PRIMARY KEY \(conv_id=\? AND chain=\?\)/);
    expect(blocksPlan).not.toMatch(/SCAN (blocks|block_nodes|b|n|turn_snapshots)\b/);
  });
});

/**
 * n turns, each a draft and a final; the first half in session "<conv>-old", the rest in
 * "<conv>-new"; then the old session starts one more turn (a draft only).
 */
async function conversation(n: number): Promise<string> {
  const conv = uid(`conv-cost-${n}`);
  const items = [];
  for (let i = 0; i < n; i++) {
    const session_id = i < n / 2 ? `${conv}-old` : `${conv}-new`;
    items.push(turnBody({ conv_id: conv, session_id, turn_id: `t${i}`, phase: "draft", created_at_ms: 1000 + i * 10 }));
    items.push(turnBody({ conv_id: conv, session_id, turn_id: `t${i}`, phase: "final", created_at_ms: 1001 + i * 10 }));
  }
  items.push(turnBody({ conv_id: conv, session_id: `${conv}-old`, turn_id: "late", phase: "draft", created_at_ms: 1_000_000 }));
  for (let i = 0; i < items.length; i += 100) expect((await post("/api/turns/batch", { items: items.slice(i, i + 100) })).status).toBe(201);
  return conv;
}

async function rowsRead(query: LatestSnapshotQuery): Promise<{ page: number; blocks: number; turnId: string }> {
  const { page, blocks, params } = latestSnapshotQueries(query);
  const [p, b] = await env.DB.batch<{ turn_id: string }>([env.DB.prepare(page).bind(...params), env.DB.prepare(blocks).bind(...params)]);
  return { page: p!.meta.rows_read, blocks: b!.meta.rows_read, turnId: p!.results[0]!.turn_id };
}

describe("rows read", () => {
  it("are the same for a conversation of 4 turns and one of 300, except the rows newer than the answer", async () => {
    const small = await conversation(4);
    const large = await conversation(300);
    const shapes: Array<[string, (conv: string) => Omit<LatestSnapshotQuery, "convId">]> = [
      ["conversation", () => ({})],
      ["phase", () => ({ phase: "final" })],
      ["new session", (conv) => ({ sessionId: `${conv}-new` })],
      ["old session", (conv) => ({ sessionId: `${conv}-old` })],
      ["new session + final", (conv) => ({ sessionId: `${conv}-new`, phase: "final" })],
    ];
    for (const [name, shape] of shapes) {
      const a = await rowsRead({ convId: small, ...shape(small) });
      const b = await rowsRead({ convId: large, ...shape(large) });
      expect({ name, page: b.page, blocks: b.blocks }).toEqual({ name, page: a.page, blocks: a.blocks });
      expect(b.page + b.blocks, name).toBeLessThan(100);
    }
    // The old session's newest final lies behind every snapshot of the newer session (4 in the
    // small conversation, 300 in the large one) and the old session's late draft: the walk reads
    // those rows and no others — what a dropped by-session index would have saved (issue 17:
    // a row read is billed at a thousandth of an entry written).
    const a = await rowsRead({ convId: small, sessionId: `${small}-old`, phase: "final" });
    const b = await rowsRead({ convId: large, sessionId: `${large}-old`, phase: "final" });
    expect(b.turnId).toBe("t149");
    expect(b.page - a.page).toBe(300 - 4);
  });

  it("one round trip (the row and its blocks in one batch)", async () => {
    const conv = await conversation(20);
    for (const query of ["", "?phase=final", `?session_id=${conv}-old`, `?session_id=${conv}-old&phase=final`]) {
      const counter = countingDb();
      const res = await call("GET", `/api/conversations/${conv}/turns/latest${query}`, { env: { DB: counter.db } });
      expect(res.status).toBe(200);
      expect((await json(res)).conv_id).toBe(conv);
      expect(counter.counts()).toEqual({ statements: 2, roundTrips: 1 });
    }
  });
});
