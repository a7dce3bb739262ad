/**
 * A long conversation's export is streamed: read from D1 a keyset page at a time (oldest first for
 * the files, a page of turns at a time for the transcript), only as fast as the client reads it, and
 * never in one read of everything — each read index-served (EXPLAIN QUERY PLAN on the real D1).
 */
import { env } from "cloudflare:workers";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { parse as parseYaml } from "yaml";
import { EXPORT_PAGE_SNAPSHOTS, EXPORT_PAGE_TURNS } from "../../../src/routes/export/export.handlers";
import { snapshotQueries, turnSnapshotsQueries } from "../../../src/store/snapshot-queries";
import { call, countingDb, post, turnBody, uid } from "../harness";

beforeAll(() => {
  vi.spyOn(console, "log").mockImplementation(() => {});
});
afterAll(() => {
  vi.restoreAllMocks();
});

async function plan(sql: string, params: unknown[]): Promise<string[]> {
  const { results } = await env.DB.prepare(`EXPLAIN QUERY PLAN ${sql}`)
    .bind(...params)
    .all<{ detail: string }>();
  return results.map((r) => r.detail);
}

describe("query plans", () => {
  it.each([
    // A phase is checked row by row: the export reads the conversation's rows from the cursor on.
    ["conversation", {}],
    ["conversation + phase", { phase: "final" }],
  ])("snapshots oldest first, %s: a range of the table from the cursor, in its order", async (_name, filter) => {
    const { page, blocks, params } = snapshotQueries({
      convId: "c",
      ...filter,
      order: "oldest",
      after: { createdAtMs: 5, convId: "c", id: 9 },
      limit: EXPORT_PAGE_SNAPSHOTS,
    });
    const pagePlan = await plan(page, params);
    const search = pagePlan.findIndex((line) => line.startsWith("SEARCH turn_snapshots USING"));
    expect(pagePlan[search]).toBe("SEARCH turn_snapshots USING PRIMARY KEY (conv_id=? AND (created_at_ms,id)>(?,?))");
    expect(pagePlan[search + 1] ?? "").not.toMatch(/TEMP B-TREE/);
    expect(pagePlan.join("\n")).not.toMatch(/SCAN turn_snapshots/);
    expect((await plan(blocks, params)).join("\n")).not.toMatch(/SCAN (blocks|block_nodes|b|n|turn_snapshots)\b/);
  });

  it("a page of turns: turns_by_conv_created from the cursor, each turn's newest snapshot from the identity index, then its row by primary key", async () => {
    for (const phase of [undefined, "final"]) {
      const { page, blocks, params } = turnSnapshotsQueries({
        convId: "c",
        phase,
        after: { createdAtMs: 5, turnId: "t", sessionId: "s" },
        limit: EXPORT_PAGE_TURNS,
      });
      const text = (await plan(page, params)).join("\n");
      expect(text).toMatch(/SEARCH turns USING INDEX turns_by_conv_created \(conv_id=\? AND \(turn_created_at_ms,turn_id\)>\(\?,\?\)\)/);
      expect(text).toMatch(/SEARCH s USING COVERING INDEX turn_snapshots_identity \(session_id=\? AND conv_id=\? AND turn_id=\?\)/);
      // Once per turn (the pick is materialized), not once per column of the join.
      expect(text.match(/SEARCH s USING COVERING INDEX turn_snapshots_identity/g)).toHaveLength(1);
      expect(text).toMatch(/SEARCH turn_snapshots USING PRIMARY KEY \(conv_id=\? AND created_at_ms=\? AND id=\?\)/);
      expect(text).not.toMatch(/SCAN (turns|turn_snapshots|s)\b/);
      expect((await plan(blocks, params)).join("\n")).not.toMatch(/SCAN (turns|blocks|block_nodes|b|n|s|turn_snapshots)\b/);
    }
  });
});

const TURNS = 1_000;
const PHASES = ["draft", "post_tools", "final"];

describe("a conversation of 3,000 snapshots", () => {
  const conv = uid("conv-export-large");

  beforeAll(async () => {
    const items = [];
    for (let i = 0; i < TURNS; i++) {
      for (const [k, phase] of PHASES.entries()) {
        items.push(
          turnBody({
            conv_id: conv,
            session_id: "s",
            turn_id: `t${i}`,
            phase,
            created_at_ms: 1_000 + i * 10 + k,
            text: `answer ${i} ${phase}`,
          }),
        );
      }
    }
    for (let i = 0; i < items.length; i += 100)
      expect((await post("/api/turns/batch", { items: items.slice(i, i + 100) })).status).toBe(201);
  }, 120_000);

  /** The export through a counting D1: the body is read chunk by chunk. */
  async function streamed(format: string) {
    const counter = countingDb();
    const res = await call("GET", `/api/debug/conversations/${conv}/export?format=${format}`, { env: { DB: counter.db } });
    expect(res.status).toBe(200);
    // Answered after the conversation check and the first page: nothing more has been read yet.
    const atResponse = counter.counts().roundTrips;
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = "";
    let chunks = 0;
    const roundTripsAtChunk: number[] = [];
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks += 1;
      roundTripsAtChunk.push(counter.counts().roundTrips);
      text += decoder.decode(value, { stream: true });
    }
    text += decoder.decode();
    return { text, chunks, atResponse, roundTripsAtChunk, counts: counter.counts(), rowsReturned: counter.rowsReturned() };
  }

  it.each(["json", "jsonl", "yaml"])(
    "%s: pages of at most 200 snapshots, read as the client reads, parseable end to end",
    async (format) => {
      const run = await streamed(format);
      const pages = Math.ceil((TURNS * PHASES.length) / EXPORT_PAGE_SNAPSHOTS);
      expect(run.atResponse).toBe(2);
      // One round trip (the page and its blocks) per page, after the conversation check.
      expect(run.counts).toEqual({ roundTrips: 1 + pages, statements: 1 + 2 * pages });
      // Chunk n is written after page n was read: D1 is read as the body is consumed, not ahead.
      expect(run.roundTripsAtChunk.slice(0, pages)).toEqual(Array.from({ length: pages }, (_, n) => 2 + n));
      const pageRows = run.rowsReturned.slice(1).map((rows) => rows[0]!);
      expect(pageRows).toHaveLength(pages);
      expect(Math.max(...pageRows)).toBeLessThanOrEqual(EXPORT_PAGE_SNAPSHOTS + 1);

      const snapshots =
        format === "json"
          ? JSON.parse(run.text).snapshots
          : format === "jsonl"
            ? run.text
                .trim()
                .split("\n")
                .map((l) => JSON.parse(l))
            : parseYaml(run.text).snapshots;
      expect(snapshots).toHaveLength(TURNS * PHASES.length);
      const times = snapshots.map((s: { created_at_ms: number }) => s.created_at_ms);
      expect(times).toEqual([...times].sort((a, b) => a - b));
      expect(snapshots[snapshots.length - 1]).toMatchObject({ turn_id: `t${TURNS - 1}`, phase: "final" });
    },
    60_000,
  );

  it("markdown: a page of 100 turns at a time, each turn's newest snapshot", async () => {
    const run = await streamed("markdown");
    const pages = TURNS / EXPORT_PAGE_TURNS;
    expect(run.atResponse).toBe(2);
    expect(run.counts).toEqual({ roundTrips: 1 + pages, statements: 1 + 2 * pages });
    const pageRows = run.rowsReturned.slice(1).map((rows) => rows[0]!);
    expect(Math.max(...pageRows)).toBeLessThanOrEqual(EXPORT_PAGE_TURNS + 1);
    const headings = run.text.match(/^## Turn .*$/gm)!;
    expect(headings).toHaveLength(TURNS);
    expect(headings[0]).toMatch(/^## Turn `t0` /);
    expect(headings[TURNS - 1]).toMatch(/^## Turn `t999` /);
    expect(run.text.match(/^phase `final`/gm)).toHaveLength(TURNS);
    expect(run.text).toContain("answer 999 final");
    expect(run.text).not.toContain("answer 999 draft");
  }, 60_000);

  it("a client that stops reading stops the reads", async () => {
    const counter = countingDb();
    const res = await call("GET", `/api/debug/conversations/${conv}/export?format=jsonl`, { env: { DB: counter.db } });
    const reader = res.body!.getReader();
    await reader.read();
    await reader.read();
    await reader.cancel();
    expect(counter.counts().roundTrips).toBeLessThanOrEqual(3);
  });
});

describe("the Markdown transcript of a conversation whose turns carry the history", () => {
  /** A conversation of `turns` turns, turn k carrying turns 1…k's question and answer. */
  async function growing(turns: number): Promise<string> {
    const conv = uid(`conv-md-size-${turns}`);
    const blocks: unknown[] = [];
    const items = Array.from({ length: turns }, (_, i) => {
      blocks.push({ id: `q${i}`, kind: "user", payload: { text: `question ${i} ${"x".repeat(40)}` } });
      blocks.push({ id: `a${i}`, kind: "llm_text", payload: { text: `answer ${i} ${"y".repeat(40)}` } });
      return { conv_id: conv, session_id: "s", created_at_ms: 1 + i, turn: { id: `t${i}`, blocks: [...blocks] } };
    });
    for (let i = 0; i < items.length; i += 50) expect((await post("/api/turns/batch", { items: items.slice(i, i + 50) })).status).toBe(201);
    return conv;
  }

  it("grows with the conversation, not with its square: twice the turns, about twice the bytes", async () => {
    const bytes = async (conv: string) => {
      const res = await call("GET", `/api/debug/conversations/${conv}/export?format=markdown`);
      expect(res.status).toBe(200);
      return (await res.arrayBuffer()).byteLength;
    };
    const small = await bytes(await growing(100));
    const large = await bytes(await growing(200));
    // Repeating the history would make this about 4 (measured 3.97 before the transcript stopped repeating it).
    expect(large / small).toBeGreaterThan(1.9);
    expect(large / small).toBeLessThan(2.2);
  }, 60_000);
});
