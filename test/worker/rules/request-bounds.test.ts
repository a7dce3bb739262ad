/**
 * Bounded both ways (CONTRACT §6.3, issue 24): what a hostile chat page sends to make a
 * conversation's reads explode, or the database hold more than a request carries — each attack
 * first as it was reported, then its answer. Every refusal is a 4xx with the error envelope and
 * changes nothing (a digest of every table).
 */
import { env } from "cloudflare:workers";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { parse } from "yaml";
import { blockContentHash } from "../../../src/turn/block-hash";
import { pathNodes } from "../../../src/turn/block-path";
import { READ_BUDGET_CHARS } from "../../../src/turn/limits";
import { call, databaseDigest, expectRejected, freshRateWindow, get, json, post, uid } from "../harness";

// Large writes log a line each; keep the report readable.
beforeAll(() => void vi.spyOn(console, "log").mockImplementation(() => {}));
afterAll(() => vi.restoreAllMocks());

const RATE_LIMITS_ON = { RATE_LIMITS: "on" } as Partial<Env>;
const ORIGIN = { origin: "https://chat.example.com" };

const tokenFor = async (conv: string) => (await json(await post("/api/tokens", { conv_id: conv }))).token as string;
const hashOf = (kind: string, payload: Record<string, unknown>) => blockContentHash({ kind, role: "", payload, metadata: {} });

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
