/**
 * Paging with the longest legal ids (CONTRACT §4, §6.3): every list that pages hands out a cursor
 * for every position it can stop at, and that cursor works. Ids are at most 256 UTF-16 units; the
 * positions carry ids (a conversation's, in every cursor of the debug API), so the longest cursors
 * come from ids whose characters take the most bytes: 256 CJK characters (3 UTF-8 bytes each, 768
 * bytes) — more than 128 astral characters (4 bytes per 2 units, 512 bytes). Walks use limit=1 so
 * that every item ends a page, and check that every item comes exactly once, in order.
 */
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { decodeCursor, encodeCursor, MAX_CURSOR_LENGTH } from "../../../src/http/cursor";
import { EXPORT_PAGE_SNAPSHOTS, EXPORT_PAGE_TURNS } from "../../../src/routes/export/export.handlers";
import { MAX_ID_LENGTH } from "../../../src/turn/identifier";
import { get, json, turnBody, postInBatches } from "../harness";

/** Ids of exactly MAX_ID_LENGTH UTF-16 units, distinct by their first character. */
const ALPHABETS = {
  "256 CJK characters (768 UTF-8 bytes)": (n: number) => String.fromCodePoint(0x4e00 + n) + "会".repeat(MAX_ID_LENGTH - 1),
  "128 astral characters (512 UTF-8 bytes)": (n: number) => String.fromCodePoint(0x20000 + n) + "𠀀".repeat(MAX_ID_LENGTH / 2 - 1),
  "256 quotes and backslashes (JSON-escaped: 512 bytes)": (n: number) => `${String.fromCodePoint(0x41 + n)}${'"\\'.repeat(127)}"`,
};

const enc = encodeURIComponent;

type Page = { items: unknown[]; next_cursor: string | null; error?: unknown };

/** Follows next_cursor from the first page to the last; every page must answer 200. */
async function walk<T>(pageUrl: (cursor: string | null) => string, itemsOf: (body: Page) => T[]): Promise<{ items: T[]; pages: number }> {
  const items: T[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const res: Response = await get(pageUrl(cursor));
    const body: Page = await json(res);
    expect(res.status, `page ${pages + 1}: ${JSON.stringify(body.error)} (cursor of ${cursor?.length} characters)`).toBe(200);
    items.push(...itemsOf(body));
    cursor = body.next_cursor;
    pages += 1;
    expect(pages).toBeLessThan(50);
  } while (cursor !== null);
  return { items, pages };
}

const withCursor = (url: string, cursor: string | null) => (cursor === null ? url : `${url}&cursor=${enc(cursor)}`);

/** One batch per conversation (and per 100 items): with several databases a batch stays in one. */
const seed = (items: Array<{ conv_id: string }>) => postInBatches(items);

describe.each(Object.entries(ALPHABETS))("ids of %s", (alphabet, idOf) => {
  // One base time per alphabet, so the conversation list can be restricted to this alphabet's conversations.
  const base = 1_000_000 * (Object.keys(ALPHABETS).indexOf(alphabet) + 1);
  const convs = [1, 2, 3].map((n) => idOf(n));
  const session = idOf(10);
  const turns = [20, 21].map((n) => idOf(n));
  for (const id of [...convs, session, ...turns]) expect(id.length).toBe(MAX_ID_LENGTH);

  it("GET /api/debug/conversations: ties on last activity broken by conv_id across pages", async () => {
    // All three at the same activity time: every cursor's position holds the conv_id.
    await seed(convs.map((conv) => turnBody({ conv_id: conv, session_id: session, turn_id: turns[0]!, created_at_ms: base + 5 })));
    const { items, pages } = await walk(
      (cursor) => withCursor(`/api/debug/conversations?since_ms=${base}&limit=1`, cursor),
      (body) => (body.items as Array<{ conv_id: string }>).map((i) => i.conv_id),
    );
    expect(items).toEqual([...convs].sort((a, b) => (a < b ? -1 : 1)));
    expect(pages).toBe(3);
  });

  it("GET /api/debug/turns by conv_id and by session_id, with and without payloads", async () => {
    const conv = convs[0]!;
    // Turn 1 has three phases at three times (conv_id filter); all three conversations share the
    // session and a snapshot time (session filter: ties across conversations by conv_id).
    await seed(
      ["draft", "pre_inference", "post_tools"].map((phase, i) =>
        turnBody({ conv_id: conv, session_id: session, turn_id: turns[1]!, phase, created_at_ms: base + 10 + i }),
      ),
    );
    for (const payload of ["full", "none"]) {
      const byConv = await walk(
        (cursor) => withCursor(`/api/debug/turns?conv_id=${enc(conv)}&payload=${payload}&limit=1`, cursor),
        (body) => (body.items as Array<{ turn_id: string; phase: string }>).map((i) => `${i.turn_id === turns[1] ? 1 : 0}:${i.phase}`),
      );
      expect(byConv.items).toEqual(["1:post_tools", "1:pre_inference", "1:draft", "0:final"]);
      const bySession = await walk(
        (cursor) => withCursor(`/api/debug/turns?session_id=${enc(session)}&payload=${payload}&limit=1`, cursor),
        (body) => (body.items as Array<{ conv_id: string; phase: string }>).map((i) => [convs.indexOf(i.conv_id), i.phase]),
      );
      expect(bySession.items).toEqual([
        [0, "post_tools"],
        [0, "pre_inference"],
        [0, "draft"],
        // The same millisecond in three conversations: by conv_id, descending.
        ...[0, 1, 2].sort((a, b) => (convs[a]! < convs[b]! ? 1 : -1)).map((i) => [i, "final"]),
      ]);
    }
  });

  it("GET /api/debug/turn/:conv_id/:session_id/:turn_id", async () => {
    const conv = convs[1]!;
    await seed(
      ["draft", "pre_inference", "post_tools"].map((phase, i) =>
        turnBody({ conv_id: conv, session_id: session, turn_id: turns[1]!, phase, created_at_ms: base + 20 + i }),
      ),
    );
    const { items } = await walk(
      (cursor) => withCursor(`/api/debug/turn/${enc(conv)}/${enc(session)}/${enc(turns[1]!)}?limit=1`, cursor),
      (body) => (body.items as Array<{ phase: string }>).map((i) => i.phase),
    );
    expect(items).toEqual(["post_tools", "pre_inference", "draft"]);
  });
});

describe("the cursor cap holds the longest position of any kind", () => {
  const secret = "test-cursor-secret";
  const isAny = (v: unknown): v is unknown => v !== undefined;

  it.each([
    ["a conversation position (conv_id)", 1],
    ["a turn position of the export (turn_id, session_id)", 2],
    ["a position with every id of a snapshot", 3],
  ])("%s with 256-unit ids of CJK, astral, quote and control characters: encoded, then accepted back", async (_kind, ids) => {
    for (const unit of ["会", "😀", '"', "\u0001"]) {
      const id = unit.repeat(MAX_ID_LENGTH / unit.length);
      const position = { createdAtMs: Number.MAX_SAFE_INTEGER, id: Number.MIN_SAFE_INTEGER, ids: Array.from({ length: ids }, () => id) };
      const cursor = await encodeCursor(secret, ["scope"], position);
      expect(cursor.length).toBeLessThanOrEqual(MAX_CURSOR_LENGTH);
      expect(await decodeCursor(secret, ["scope"], cursor, isAny)).toEqual(position);
    }
  });

  it("anything longer is refused before its MAC is computed", async () => {
    const cursor = await encodeCursor(secret, ["scope"], { ids: ["x".repeat(MAX_CURSOR_LENGTH)] });
    await expect(decodeCursor(secret, ["scope"], cursor, isAny)).rejects.toMatchObject({ code: "INVALID_CURSOR" });
  });
});

describe("exports page internally past their page size with the longest ids", () => {
  const idOf = ALPHABETS["256 CJK characters (768 UTF-8 bytes)"];
  const conv = idOf(100);
  const session = idOf(101);
  const turnId = (i: number) => idOf(200 + i);

  it(`JSON Lines: ${EXPORT_PAGE_SNAPSHOTS + 1} snapshots, each once; Markdown: ${EXPORT_PAGE_TURNS + 1} turns, each once`, async () => {
    const turnCount = EXPORT_PAGE_TURNS + 1;
    const items = Array.from({ length: EXPORT_PAGE_SNAPSHOTS + 1 }, (_, i) =>
      turnBody({
        conv_id: conv,
        session_id: session,
        turn_id: turnId(i % turnCount),
        phase: `p${Math.floor(i / turnCount)}`,
        created_at_ms: 5_000_000 + i,
        blocks: [],
      }),
    );
    await seed(items);
    const jsonl = await (await get(`/api/debug/conversations/${enc(conv)}/export?format=jsonl`)).text();
    const lines = jsonl.split("\n").filter((l) => l !== "");
    expect(lines.map((l) => JSON.parse(l).created_at_ms)).toEqual(items.map((i) => i.created_at_ms));
    const markdown = await (await get(`/api/debug/conversations/${enc(conv)}/export?format=markdown`)).text();
    const headings = markdown.split("\n").filter((l) => l.startsWith("## Turn "));
    expect(headings).toHaveLength(turnCount);
    expect(new Set(headings).size).toBe(turnCount);
    // The YAML export holds them all too.
    const yaml = parse(await (await get(`/api/debug/conversations/${enc(conv)}/export?format=yaml`)).text()) as { snapshots: unknown[] };
    expect(yaml.snapshots).toHaveLength(items.length);
  });
});
