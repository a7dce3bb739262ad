/**
 * Bounded both ways (CONTRACT §6.3, issue 24): what a hostile chat page sends to make a
 * conversation's reads explode, or the database hold more than a request carries — each attack
 * first as it was reported, then its answer. Every refusal is a 4xx with the error envelope and
 * changes nothing (a digest of every table).
 */
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { parse } from "yaml";
import { maxClockSkewMs } from "../../../src/http/config";
import { runMaintenance } from "../../../src/scheduled";
import { MAX_TTL_SECONDS } from "../../../src/tokens/conversation-token";
import { blockContentHash } from "../../../src/turn/block-hash";
import { pathNodes } from "../../../src/turn/block-path";
import { canonicalJson } from "../../../src/turn/canonical-json";
import {
  MAX_BLOCK_POSITIONS_PER_REQUEST,
  MAX_BLOCKS_PER_REQUEST,
  MAX_BLOCKS_PER_SNAPSHOT,
  MAX_CONTENT_BYTES_PER_REQUEST,
  MAX_REQUEST_WEIGHT,
  MAX_SNAPSHOT_WEIGHT,
  READ_BUDGET_CHARS,
  requestCost,
} from "../../../src/turn/limits";
import { type PreparedSnapshot, prepareSnapshot, readSnapshot, type SnapshotRequest } from "../../../src/turn/snapshot";
import { TurnFormatError } from "../../../src/turn/turn";
import { call, databaseDigest, expectRejected, freshRateWindow, get, json, post, uid } from "../harness";

// Large writes log a line each; keep the report readable.
beforeAll(() => void vi.spyOn(console, "log").mockImplementation(() => {}));
afterAll(() => vi.restoreAllMocks());

const RATE_LIMITS_ON = { RATE_LIMITS: "on" } as Partial<Env>;
const ORIGIN = { origin: "https://chat.example.com" };

const tokenFor = async (conv: string) => (await json(await post("/api/tokens", { conv_id: conv }))).token as string;
const hashOf = (kind: string, payload: Record<string, unknown>) => blockContentHash({ kind, role: "", payload, metadata: {} });

// In this order: refusals checked against a small database first, the tests that store large content
// (20,000 path nodes, MB-sized blocks) last. Each "nothing changed" check reads every row before and
// after (databaseDigest): ~12 MB a read once the 20,000 path nodes were stored. The 20,000-position
// read comes before the 1.5 MB blocks: past them each of its block lookups reads one in full (15 s
// instead of 2; docs/RELIABILITY.md, "Still open").
describe("extra keys count as content, and rows as they are sent to D1", () => {
  const extras = (conv: string, count: number, chars: number) => ({
    conv_id: conv,
    session_id: "s",
    created_at_ms: 1,
    turn: { id: "t", blocks: Array.from({ length: count }, (_, i) => ({ id: `e${i}`, kind: "user", note: "<".repeat(chars) })) },
  });

  it("12 blocks carrying 200,000 '<' each as an extra key (14 MB stored from 2.4 MB) → 413 PAYLOAD_TOO_LARGE, as in payload", async () => {
    await expectRejected(() => post("/api/turns", extras(uid("conv-extra"), 12, 200_000)), 413, "PAYLOAD_TOO_LARGE", /extra keys included/);
  });

  it("310,000 '<' as an extra key (2.2 MB once escaped for D1) → 422 ROW_TOO_LARGE, not stored", async () => {
    await expectRejected(
      () => post("/api/turns", extras(uid("conv-extra-row"), 12, 310_000)),
      422,
      "ROW_TOO_LARGE",
      /blocks\[0\] would be a row of [0-9]+ bytes as sent to D1/,
    );
  });

  it("a 2.5 MB string as an extra key (was a 500 SQLITE_TOOBIG) → 422 ROW_TOO_LARGE", async () => {
    await expectRejected(() => post("/api/turns", extras(uid("conv-extra-big"), 1, 2_500_000)), 422, "ROW_TOO_LARGE");
  });
});

describe("every row a request adds counts", () => {
  it("a 1.2 MB batch listing 50,000 blocks of 3 distinct ids (50,031 rows) → 413 TOO_MANY_ROWS", async () => {
    const conv = uid("conv-rows");
    const ids = ["a", "b", "c"];
    const items = Array.from({ length: 3 }, (_, n) => ({
      conv_id: conv,
      session_id: "s",
      created_at_ms: 1 + n,
      // Each item starts at another id: three paths of 16,666 nodes that share nothing.
      turn: { id: `t${n}`, blocks: Array.from({ length: 16_666 }, (_, i) => ({ id: ids[(i + n) % 3], kind: "user" })) },
    }));
    await expectRejected(() => post("/api/turns/batch", { items }), 413, "TOO_MANY_ROWS", /path nodes/);
  });
});

describe("rate limits count work", () => {
  it("3 batches of 100 snapshots from one conversation token: the first fits the budget of 100, the others → 429", {
    timeout: 30_000,
  }, async () => {
    const conv = uid("conv-work");
    const token = await tokenFor(conv);
    await freshRateWindow();
    const batch = (n: number) => ({
      items: Array.from({ length: 100 }, (_, i) => ({
        conv_id: conv,
        session_id: "s",
        created_at_ms: 1 + n * 100 + i,
        turn: { id: `t${n}-${i}`, blocks: [] },
      })),
    });
    const statuses: number[] = [];
    for (let n = 0; n < 3; n++) {
      const res = await call("POST", "/api/turns/batch", { token, body: batch(n), headers: ORIGIN, env: RATE_LIMITS_ON });
      statuses.push(res.status);
      if (res.status === 429) expect(res.headers.get("retry-after")).toBe("10");
    }
    expect(statuses).toEqual([201, 429, 429]);
    const stored = await env.DB.prepare("SELECT count(*) AS n FROM turn_snapshots WHERE conv_id = ?1").bind(conv).first<{ n: number }>();
    expect(stored!.n).toBe(100);
  });
});

describe("no token outlives its conversation", () => {
  it("a conversation token minted before its conversation's deletion is refused (403) and recreates nothing; a new one works", async () => {
    const conv = uid("conv-deleted");
    const token = await tokenFor(conv);
    const write = (t: string, at: number) =>
      call("POST", "/api/turns", {
        token: t,
        headers: ORIGIN,
        body: { conv_id: conv, session_id: "s", created_at_ms: at, turn: { id: `t${at}`, blocks: [] } },
      });
    expect((await write(token, 1)).status).toBe(201);
    expect((await call("DELETE", `/api/conversations/${conv}`, { token: env.ADMIN_TOKEN })).status).toBe(200);

    const before = await databaseDigest();
    const refused = await write(token, 2);
    expect(refused.status).toBe(403);
    expect((await json(refused)).error).toMatchObject({
      code: "FORBIDDEN",
      message: expect.stringMatching(/deleted after this conversation token was minted/),
    });
    const runtime = await call("PUT", `/api/conversations/${conv}/runtime`, {
      token,
      headers: ORIGIN,
      body: { runtime_key: "planner", session_id: "s" },
    });
    expect(runtime.status).toBe(403);
    expect((await call("GET", `/api/conversations/${conv}/turns/latest`, { token, headers: ORIGIN })).status).toBe(403);
    expect(await databaseDigest()).toBe(before);
    expect((await get(`/api/debug/conversations/${conv}`)).status).toBe(404);

    // Tokens have millisecond issue times: one minted after the deletion is a new grant.
    await new Promise((r) => setTimeout(r, 2));
    expect((await write(await tokenFor(conv), 3)).status).toBe(201);
  });

  it("the scheduled purge drops tombstones older than the longest token lifetime plus the clock skew and keeps the others; a token minted before a kept tombstone's deletion is still 403", async () => {
    const [older, newer] = [uid("conv-purged"), uid("conv-kept")];
    const write = (conv: string, token: string, at: number) =>
      call("POST", "/api/turns", {
        token,
        headers: ORIGIN,
        body: { conv_id: conv, session_id: "s", created_at_ms: at, turn: { id: `t${at}`, blocks: [] } },
      });
    const tokens = new Map<string, string>();
    for (const conv of [older, newer]) {
      const token = await tokenFor(conv);
      tokens.set(conv, token);
      expect((await write(conv, token, 1)).status).toBe(201);
      expect((await call("DELETE", `/api/conversations/${conv}`, { token: env.ADMIN_TOKEN })).status).toBe(200);
      await new Promise((r) => setTimeout(r, 2));
    }
    const tombstone = async (conv: string) =>
      (await env.DB.prepare("SELECT deleted_at_ms FROM conversation_tombstones WHERE conv_id = ?1")
        .bind(conv)
        .first<number>("deleted_at_ms")) ?? null;
    const [olderAt, newerAt] = [await tombstone(older), await tombstone(newer)];
    expect(olderAt).toBeLessThan(newerAt!);

    // A run at the moment the newer tombstone is exactly as old as the longest token lifetime plus the
    // skew: a token minted before it could still verify (its iat up to the skew ahead), so it stays;
    // every older one goes.
    const cutoff = newerAt!;
    const due = await env.DB.prepare("SELECT count(*) AS n FROM conversation_tombstones WHERE deleted_at_ms < ?1")
      .bind(cutoff)
      .first<number>("n");
    expect(due).toBeGreaterThanOrEqual(1);
    const report = await runMaintenance(env, cutoff + MAX_TTL_SECONDS * 1000 + maxClockSkewMs(env));
    expect(report.failures).toEqual([]);
    expect(report.tombstones_purged).toBe(due);
    expect([await tombstone(older), await tombstone(newer)]).toEqual([null, newerAt]);

    // The kept tombstone still refuses the token minted before its deletion; nothing is recreated.
    await expectRejected(() => write(newer, tokens.get(newer)!, 2), 403, "FORBIDDEN", /deleted after this conversation token was minted/);
    expect((await get(`/api/debug/conversations/${newer}`)).status).toBe(404);
  });
});

describe("references and prefixes count as the blocks they stand for", () => {
  it("a 16 KiB block and 1,999 references to it (a 202 KiB post standing for 32 MiB of reads) → 413 SNAPSHOT_TOO_LARGE", async () => {
    const conv = uid("conv-refs");
    const payload = { text: "x".repeat(16 * 1024) };
    const ref = { id: "big", content_hash: await hashOf("tool_use", payload) };
    const turn = { id: "t", blocks: [{ id: "big", kind: "tool_use", payload }, ...Array.from({ length: 1_999 }, () => ref)] };
    await expectRejected(
      () => post("/api/turns", { conv_id: conv, session_id: "s", created_at_ms: 1, turn }),
      413,
      "SNAPSHOT_TOO_LARGE",
      /would read back as [0-9]+ characters .* at most 16777216/,
    );
  });

  it("a 1 MiB block and 299 references (a 1.03 MiB post) → 413, and no read of the conversation fails afterwards", async () => {
    const conv = uid("conv-refs-mib");
    const payload = { text: "y".repeat(1024 * 1024) };
    const ref = { id: "mib", content_hash: await hashOf("tool_use", payload) };
    const turn = { id: "t", blocks: [{ id: "mib", kind: "tool_use", payload }, ...Array.from({ length: 299 }, () => ref)] };
    await expectRejected(() => post("/api/turns", { conv_id: conv, session_id: "s", created_at_ms: 1, turn }), 413, "SNAPSHOT_TOO_LARGE");
    expect((await get(`/api/debug/turns?conv_id=${conv}`)).status).toBe(200);
  });

  it("references to blocks stored earlier weigh what those blocks weigh", async () => {
    const conv = uid("conv-refs-stored");
    const payload = { text: "z".repeat(512 * 1024) };
    const first = {
      conv_id: conv,
      session_id: "s",
      created_at_ms: 1,
      turn: { id: "t1", blocks: [{ id: "half", kind: "tool_use", payload }] },
    };
    expect((await post("/api/turns", first)).status).toBe(201);
    const ref = { id: "half", content_hash: await hashOf("tool_use", payload) };
    // 40 × (512 KiB as YAML + as JSON) passes the snapshot bound; the content is in the database, not the request.
    const turn = { id: "t2", blocks: Array.from({ length: 40 }, () => ref) };
    await expectRejected(() => post("/api/turns", { conv_id: conv, session_id: "s", created_at_ms: 2, turn }), 413, "SNAPSHOT_TOO_LARGE");
    const fits = { id: "t2", blocks: Array.from({ length: 4 }, () => ref) };
    expect((await post("/api/turns", { conv_id: conv, session_id: "s", created_at_ms: 2, turn: fits })).status).toBe(201);
  });

  it("a prefix's positions are blocks the snapshot holds: a 153-byte post with prefix.blocks = 40,000 → 413 TOO_MANY_BLOCKS", async () => {
    const conv = uid("conv-prefix");
    // 20,000 positions of one block: 20,000 path nodes, one block row.
    const blocks = Array.from({ length: 20_000 }, () => ({ id: "b", kind: "user", payload: { i: 0 } }));
    expect((await post("/api/turns", { conv_id: conv, session_id: "s", created_at_ms: 1, turn: { id: "t1", blocks } })).status).toBe(201);
    const steps = await Promise.all(
      blocks.map(async (b) => ({ blockId: b.id, contentHash: await hashOf("user", b.payload), extraJson: "" })),
    );
    const tip = (await pathNodes(steps)).at(-1)!;
    // A second 20,000 on top of the first: a 40,000-block snapshot.
    await expectRejected(
      () =>
        post("/api/turns", {
          conv_id: conv,
          session_id: "s",
          created_at_ms: 2,
          prefix: { chain: tip.chain, blocks: 20_000 },
          turn: { id: "t2", blocks },
        }),
      413,
      "TOO_MANY_BLOCKS",
      /holds 40000 blocks .* at most 20000/,
    );
    await expectRejected(
      () =>
        post("/api/turns", {
          conv_id: conv,
          session_id: "s",
          created_at_ms: 3,
          prefix: { chain: tip.chain, blocks: 40_000 },
          turn: { id: "t3", blocks: [] },
        }),
      413,
      "TOO_MANY_BLOCKS",
    );
  });
});

describe("legal snapshots are stored, however their blocks repeat", () => {
  it("one block at all 20,000 positions of a snapshot, in a conversation with a long id → 201, read back whole", async () => {
    // Each position is a path node of the same block row: the one-round-trip write listed them all
    // in that row's parameter (3.5 MB of JSON here) and answered 422 ROW_TOO_LARGE.
    const conv = uid(`conv-${"r".repeat(120)}`);
    const blockId = uid("same");
    const blocks = Array.from({ length: 20_000 }, () => ({ id: blockId, kind: "user", payload: { text: "again" } }));
    const res = await post("/api/turns", { conv_id: conv, session_id: "s", created_at_ms: 1, turn: { id: "t", blocks } });
    expect(res.status).toBe(201);
    const page = await json(await get(`/api/debug/turns?conv_id=${encodeURIComponent(conv)}&limit=1`));
    expect(parse(page.items[0]!.payload!).blocks).toHaveLength(20_000);
    const rows = await env.DB.prepare("SELECT ref_count FROM blocks WHERE block_id = ?1").bind(blockId).all<{ ref_count: number }>();
    expect(rows.results).toEqual([{ ref_count: 20_000 }]);
  });
});

describe("reads have a byte budget", () => {
  it("a debug page ends early, with next_cursor, before the snapshot that would pass the budget; following it reads the rest", async () => {
    const conv = uid("conv-budget");
    // Each snapshot: two 1.5 MB blocks — about 6 Mi characters read back (YAML and JSON); three pass 16 Mi.
    for (let n = 0; n < 3; n++) {
      const blocks = [0, 1].map((k) => ({ id: `big-${n}-${k}`, kind: "tool_use", payload: { text: String(n + k).repeat(1_500_000) } }));
      expect(
        (await post("/api/turns", { conv_id: conv, session_id: "s", created_at_ms: 1 + n, turn: { id: `t${n}`, blocks } })).status,
      ).toBe(201);
    }
    const weights = await env.DB.prepare("SELECT weight FROM turn_snapshots WHERE conv_id = ?1").bind(conv).all<{ weight: number }>();
    expect(weights.results.reduce((sum, r) => sum + r.weight, 0)).toBeGreaterThan(READ_BUDGET_CHARS);
    const first = await json(await get(`/api/debug/turns?conv_id=${conv}`));
    expect(first.items.map((i: { turn_id: string }) => i.turn_id)).toEqual(["t2", "t1"]);
    expect(first.next_cursor).toEqual(expect.any(String));
    const rest = await json(await get(`/api/debug/turns?conv_id=${conv}&cursor=${encodeURIComponent(first.next_cursor!)}`));
    expect(rest.items.map((i: { turn_id: string }) => i.turn_id)).toEqual(["t0"]);
    expect(rest.next_cursor).toBeNull();
  });
});

describe("what a request costs, whatever it mixes (requestCost, CONTRACT §6.3)", () => {
  const OPTIONS = { nowMs: Date.now(), maxClockSkewMs: 300_000 };
  /**
   * Block contents, referred to by index: two small texts with what reads and canonical JSON escape,
   * a 2 KB tool result, and six wide ones of 260,000 '<' each (1.56 MB as canonical JSON, where '<'
   * is `\u003c`) — all six posted in full pass the 8 MiB of content a request may write.
   */
  const CONTENTS = [
    { id: "c-user", kind: "user", role: "user", payload: { text: 'hello <there> "you" \\ \u0000' } },
    { id: "c-answer", kind: "llm_text", payload: { text: "fine\u0085\u2028🚀" } },
    { id: "c-medium", kind: "tool_use", payload: { result: '"\\<\u0085🚀'.repeat(400) } },
    ...Array.from({ length: 6 }, (_, i) => ({ id: `c-wide-${i}`, kind: "tool_use", payload: { result: `${"<".repeat(260_000)}${i}` } })),
  ];
  const WIDE = [3, 4, 5, 6, 7, 8];
  /** Extra keys, stored on each position's node: small, escaped, and 200,000 '<' (1.2 MB as canonical JSON). */
  const EXTRAS = [{ note: "x" }, { note: '"\\<'.repeat(10), tags: ["a", "\u2028"] }, { trace: "<".repeat(200_000) }];

  const HASHES: string[] = [];
  beforeAll(async () => {
    const all = await prepareSnapshot({ conv_id: "c", session_id: "s", turn: { id: "hashes", blocks: CONTENTS } }, OPTIONS);
    HASHES.push(...all.blocks.map((b) => b.contentHash));
  });

  type Listed = { content: number; asReference: boolean; extra: number | null; repeat: number };
  type Item = { prefix: { chain: string; blocks: number } | null; listed: Listed[]; metadata: unknown };

  const listed = fc.record({
    content: fc.nat({ max: 2 }),
    asReference: fc.boolean(),
    extra: fc.option(fc.oneof({ weight: 100, arbitrary: fc.nat({ max: 1 }) }, { weight: 1, arbitrary: fc.constant(2) }), { freq: 3 }),
    repeat: fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 1, max: 3 }) }, { weight: 1, arbitrary: fc.integer({ min: 4, max: 8 }) }),
  });
  const chain = fc.stringMatching(/^[0-9a-f]{32}$/);
  /** A prefix: none, a few blocks, or close to the 20,000 a snapshot may hold. */
  const prefix = fc.oneof(
    { weight: 3, arbitrary: fc.constant(null) },
    { weight: 2, arbitrary: fc.record({ chain, blocks: fc.integer({ min: 1, max: 100 }) }) },
    { weight: 1, arbitrary: fc.record({ chain, blocks: fc.integer({ min: 19_985, max: 20_000 }) }) },
  );
  const item: fc.Arbitrary<Item> = fc.record({
    prefix,
    listed: fc.array(listed, { maxLength: 5 }),
    metadata: fc.option(fc.record({ note: fc.string({ maxLength: 30 }) }), { freq: 2 }),
  });
  /** Now and then an item listing the six wide contents, some as references (which write nothing). */
  const wideItem: fc.Arbitrary<Item> = fc.record({
    prefix: fc.constant(null),
    listed: fc
      .tuple(...WIDE.map(() => fc.boolean()))
      .map((refs) => WIDE.map((content, i) => ({ content, asReference: refs[i]!, extra: null, repeat: 1 }))),
    metadata: fc.constant(null),
  });
  const request = fc.oneof(
    { weight: 300, arbitrary: fc.array(item, { minLength: 1, maxLength: 4 }) },
    { weight: 1, arbitrary: fc.tuple(fc.array(item, { maxLength: 3 }), wideItem).map(([items, wide]) => [...items, wide]) },
  );

  /** The request as sent (references where asked, for blocks without extra keys), and as if every reference were posted in full. */
  function requestsOf(items: readonly Item[]): { sent: SnapshotRequest[]; full: SnapshotRequest[] } {
    const make = (it: Item, n: number, references: boolean): SnapshotRequest => ({
      conv_id: "c",
      session_id: "s",
      created_at_ms: n + 1,
      ...(it.prefix ? { prefix: it.prefix } : {}),
      turn: {
        id: `t${n}`,
        ...(it.metadata ? { metadata: it.metadata } : {}),
        blocks: it.listed.flatMap(({ content, asReference, extra, repeat }) =>
          Array.from({ length: repeat }, () =>
            references && asReference && extra === null
              ? { id: CONTENTS[content]!.id, content_hash: HASHES[content]! }
              : { ...CONTENTS[content], ...(extra === null ? {} : EXTRAS[extra]) },
          ),
        ),
      },
    });
    return { sent: items.map((it, n) => make(it, n, true)), full: items.map((it, n) => make(it, n, false)) };
  }

  /**
   * What the request makes the database hold, counted independently: the canonical JSON of each
   * snapshot's metadata and data, of every extra key at every position, and of each distinct block
   * posted in full once.
   */
  function contentBytes(items: readonly Item[]): number {
    const utf8 = (text: string) => new TextEncoder().encode(text).length;
    let bytes = 0;
    const distinct = new Set<number>();
    for (const it of items) {
      bytes += utf8(canonicalJson(it.metadata ?? {})) + utf8(canonicalJson({}));
      for (const { content, asReference, extra, repeat } of it.listed) {
        if (asReference && extra === null) continue;
        if (extra !== null) bytes += repeat * utf8(canonicalJson(EXTRAS[extra]));
        distinct.add(content);
      }
    }
    for (const c of distinct) bytes += utf8(canonicalJson(CONTENTS[c]!.payload)) + utf8(canonicalJson({}));
    return bytes;
  }

  it("a request of references, prefixes and extra keys costs the blocks and weight it stands for, and is refused exactly past a bound (property, 1,000 requests)", {
    timeout: 60_000,
  }, () => {
    fc.assert(
      fc.property(request, (items) => {
        const { sent, full } = requestsOf(items);
        const positions = items.map((it) => (it.prefix?.blocks ?? 0) + it.listed.reduce((n, l) => n + l.repeat, 0));
        const codes = new Set<string>();
        if (positions.some((p) => p > MAX_BLOCKS_PER_SNAPSHOT)) codes.add("TOO_MANY_BLOCKS");
        // A reference carries its id, not its content: the snapshot weighs its full form less that content.
        const fullSnapshots = codes.size === 0 ? full.map((r) => readSnapshot(r, OPTIONS)) : [];
        const isReference = (n: number, k: number) => "content_hash" in (sent[n]!.turn as { blocks: object[] }).blocks[k]!;
        const carried = fullSnapshots.map((f, n) =>
          f.blocks.reduce((w, b, k) => w - (isReference(n, k) ? b.contentWeight : 0), f.carriedWeight),
        );
        if (carried.some((w) => w > MAX_SNAPSHOT_WEIGHT)) codes.add("SNAPSHOT_TOO_LARGE");
        if (carried.reduce((a, b) => a + b, 0) > MAX_REQUEST_WEIGHT) codes.add("PAYLOAD_TOO_LARGE");
        if (contentBytes(items) > MAX_CONTENT_BYTES_PER_REQUEST) codes.add("PAYLOAD_TOO_LARGE");

        let cost: ReturnType<typeof requestCost> | null = null;
        let snapshots: PreparedSnapshot[] = [];
        try {
          snapshots = sent.map((r) => readSnapshot(r, OPTIONS));
          cost = requestCost(snapshots);
        } catch (error) {
          if (!(error instanceof TurnFormatError)) throw error;
          expect([...codes], error.message).toContain(error.code);
          return;
        }
        expect([...codes], "refused by the model, accepted by requestCost").toEqual([]);
        snapshots.forEach((s, n) => {
          expect(s.blockCount).toBe(positions[n]);
          expect(s.carriedWeight).toBe(carried[n]);
        });
        expect(cost).toEqual({
          snapshots: items.length,
          listedBlocks: items.reduce((n, it) => n + it.listed.reduce((m, l) => m + l.repeat, 0), 0),
          blockPositions: positions.reduce((a, b) => a + b, 0),
          weight: carried.reduce((a, b) => a + b, 0),
        });
      }),
      {
        numRuns: 1_000,
        // The six wide contents in full (9.4 MB), and with one of them a reference (7.8 MB).
        examples: [
          [[{ prefix: null, listed: WIDE.map((content) => ({ content, asReference: false, extra: null, repeat: 1 })), metadata: null }]],
          [
            [
              {
                prefix: null,
                listed: WIDE.map((content, i) => ({ content, asReference: i === 0, extra: null, repeat: 1 })),
                metadata: null,
              },
            ],
          ],
        ],
      },
    );
  });

  /**
   * The request-wide bounds at their scale — 50,000 blocks listed, 200,000 positions, 256 Mi of
   * weight over up to 17 snapshots — with snapshots as readSnapshot leaves them (every listed block a
   * reference, weights and prefixes as given): far more cases near each bound than real requests of
   * that size could be read.
   */
  it("the request-wide bounds hold at their edges: blocks listed, positions held, weight (property, 1,000 requests)", () => {
    const base = readSnapshot({ conv_id: "c", session_id: "s", created_at_ms: 1, turn: { id: "t", blocks: [] } }, OPTIONS);
    const reference = readSnapshot(
      { conv_id: "c", session_id: "s", created_at_ms: 1, turn: { id: "t", blocks: [{ id: "r", content_hash: "0".repeat(64) }] } },
      OPTIONS,
    ).blocks[0]!;
    const snapshot = fc.record({
      // 17 × 2,941 ≈ 50,000 listed; 17 × 11,765 ≈ 200,000 held; 17 × 15.06 Mi ≈ 256 Mi.
      listed: fc.oneof(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 2_930, max: 2_950 }), fc.integer({ min: 16_660, max: 16_675 })),
      prefix: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 100 }), fc.integer({ min: 8_800, max: 8_830 })),
      weight: fc.oneof(
        fc.integer({ min: 100, max: 10_000 }),
        fc.integer({ min: 15_790_000, max: 15_800_000 }),
        fc.integer({ min: MAX_SNAPSHOT_WEIGHT - 2, max: MAX_SNAPSHOT_WEIGHT + 2 }),
      ),
    });
    fc.assert(
      fc.property(fc.array(snapshot, { minLength: 1, maxLength: 17 }), (shapes) => {
        const snapshots: PreparedSnapshot[] = shapes.map((s, n) => ({
          ...base,
          label: `items[${n}]`,
          blocks: new Array<typeof reference>(s.listed).fill(reference),
          blockCount: Math.min(MAX_BLOCKS_PER_SNAPSHOT, s.prefix + s.listed),
          carriedWeight: s.weight,
        }));
        const listedTotal = snapshots.reduce((n, s) => n + s.blocks.length, 0);
        const positions = snapshots.reduce((n, s) => n + s.blockCount, 0);
        const weight = snapshots.reduce((n, s) => n + s.carriedWeight, 0);
        const codes = new Set<string>();
        if (listedTotal > MAX_BLOCKS_PER_REQUEST || positions > MAX_BLOCK_POSITIONS_PER_REQUEST) codes.add("TOO_MANY_BLOCKS");
        if (snapshots.some((s) => s.carriedWeight > MAX_SNAPSHOT_WEIGHT)) codes.add("SNAPSHOT_TOO_LARGE");
        if (weight > MAX_REQUEST_WEIGHT) codes.add("PAYLOAD_TOO_LARGE");
        try {
          const cost = requestCost(snapshots);
          expect([...codes]).toEqual([]);
          expect(cost).toEqual({ snapshots: snapshots.length, listedBlocks: listedTotal, blockPositions: positions, weight });
        } catch (error) {
          if (!(error instanceof TurnFormatError)) throw error;
          expect([...codes], error.message).toContain(error.code);
        }
      }),
      {
        numRuns: 1_000,
        // Each bound at exactly its value, and one past it.
        examples: [
          [Array.from({ length: 17 }, (_, n) => ({ listed: n < 16 ? 2_941 : 2_944, prefix: 0, weight: 100 }))],
          [Array.from({ length: 17 }, (_, n) => ({ listed: n < 16 ? 2_941 : 2_945, prefix: 0, weight: 100 }))],
          [Array.from({ length: 10 }, () => ({ listed: 0, prefix: 20_000, weight: 100 }))],
          [[...Array.from({ length: 10 }, () => ({ listed: 0, prefix: 20_000, weight: 100 })), { listed: 1, prefix: 0, weight: 100 }]],
          [Array.from({ length: 16 }, () => ({ listed: 0, prefix: 0, weight: MAX_SNAPSHOT_WEIGHT }))],
          [
            [
              ...Array.from({ length: 16 }, () => ({ listed: 0, prefix: 0, weight: MAX_SNAPSHOT_WEIGHT })),
              { listed: 0, prefix: 0, weight: 1 },
            ],
          ],
          [[{ listed: 0, prefix: 0, weight: MAX_SNAPSHOT_WEIGHT + 1 }]],
        ],
      },
    );
  });
});
