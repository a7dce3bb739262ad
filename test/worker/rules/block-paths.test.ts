/**
 * Growing conversations (CONTRACT §5.4): snapshots stored as block paths read back exactly — for
 * diverging histories too — at a cost that grows with what is new; delta posts (references and
 * prefixes) store exactly what the full post would; the first release's rows are converted by the
 * scheduled data step and read the same before, during and after.
 */
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { parse } from "yaml";
import { pathNodes } from "../../../src/turn/block-path";
import { blockContentHash } from "../../../src/turn/block-hash";
import { convertLegacySnapshots } from "../../../src/store/conversion";
import { runMaintenance } from "../../../src/scheduled";
import { forgetAllTips } from "../../../src/store/known-paths";
import { saveSnapshots } from "../../../src/store/writes";
import { prepareSnapshot } from "../../../src/turn/snapshot";
import { call, databaseDigest, expectRejected, get, json, post, uid } from "../harness";

beforeAll(() => {
  vi.spyOn(console, "log").mockImplementation(() => {});
});
afterAll(() => {
  vi.restoreAllMocks();
});

type Block = {
  id: string;
  kind: string;
  role?: string;
  payload?: Record<string, unknown>;
  metadata?: Record<string, unknown>;
  [extra: string]: unknown;
};
const user = (id: string, text: string): Block => ({ id, kind: "user", role: "user", payload: { text } });
const answer = (id: string, text: string): Block => ({ id, kind: "llm_text", role: "assistant", payload: { text } });
const system = (): Block => ({ id: "sys", kind: "system", role: "system", payload: { text: "be brief" } });

/** The turn the API returns for these blocks (normalized; missing fields as {}). */
const expected = (turnId: string, blocks: Block[], extra: Record<string, unknown> = {}) => ({
  id: turnId,
  blocks: blocks.map((b) => ({ role: "", payload: {}, metadata: {}, ...b })),
  metadata: {},
  data: {},
  ...extra,
});

async function snapshotOf(conv: string, session: string, turnId: string, phase: string, createdAt: number) {
  const detail = await json(
    await get(`/api/debug/turn/${encodeURIComponent(conv)}/${encodeURIComponent(session)}/${encodeURIComponent(turnId)}`),
  );
  const item = detail.items.find((i) => i.phase === phase && i.created_at_ms === createdAt);
  if (!item) throw new Error(`no snapshot ${turnId}/${phase}@${createdAt}`);
  expect(parse(item.payload)).toEqual(item.parsed);
  return item.parsed;
}

async function nodeCount(conv: string): Promise<number> {
  return (await env.DB.prepare("SELECT count(*) AS n FROM block_nodes WHERE conv_id = ?1").bind(conv).first<{ n: number }>())!.n;
}

describe("snapshots read back exactly, whatever they share", () => {
  it("regenerated answers, edited blocks, two sessions, zero blocks and repeated phases", async () => {
    const conv = uid("conv-diverge");
    const posts: Array<{ session: string; turn: string; phase: string; at: number; blocks: Block[]; extra?: Record<string, unknown> }> = [];
    const h1 = [system(), user("u1", "How many widgets?")];
    posts.push({ session: "a", turn: "t1", phase: "pre_inference", at: 10, blocks: h1 });
    posts.push({ session: "a", turn: "t1", phase: "post_inference", at: 11, blocks: [...h1, answer("a1", "42")] });
    posts.push({ session: "a", turn: "t1", phase: "final", at: 12, blocks: [...h1, answer("a1", "42")] });
    // Regenerated: same id, other content; then a new id.
    posts.push({ session: "a", turn: "t1", phase: "final", at: 13, blocks: [...h1, answer("a1", "forty-two")] });
    posts.push({ session: "a", turn: "t1", phase: "final", at: 14, blocks: [...h1, answer("a1-regen", "42, I think")] });
    // The next turn continues the regenerated branch.
    const h2 = [...h1, answer("a1-regen", "42, I think"), user("u2", "And gadgets?")];
    posts.push({ session: "a", turn: "t2", phase: "pre_inference", at: 20, blocks: h2 });
    // Tool loop: the same phase twice.
    posts.push({
      session: "a",
      turn: "t2",
      phase: "post_tools",
      at: 21,
      blocks: [...h2, { id: "c1", kind: "tool_call", payload: { name: "count" } }, { id: "r1", kind: "tool_use", payload: { n: 7 } }],
    });
    posts.push({
      session: "a",
      turn: "t2",
      phase: "post_tools",
      at: 22,
      blocks: [
        ...h2,
        { id: "c1", kind: "tool_call", payload: { name: "count" } },
        { id: "r1", kind: "tool_use", payload: { n: 7 } },
        { id: "c2", kind: "tool_call", payload: { name: "count", again: true } },
      ],
    });
    // An edited early block: everything after it is a new branch.
    posts.push({
      session: "a",
      turn: "t2",
      phase: "final",
      at: 23,
      blocks: [system(), user("u1", "How many WIDGETS?"), answer("a1-regen", "42, I think"), user("u2", "And gadgets?"), answer("a2", "7")],
    });
    // Another session of the conversation: its own history, sharing the system block.
    posts.push({ session: "b", turn: "tb", phase: "final", at: 30, blocks: [system(), user("ub", "Hello from b"), answer("ab", "hi")] });
    // The same blocks in another order, a block repeated inside one snapshot, zero blocks, extra keys.
    posts.push({ session: "b", turn: "tb2", phase: "final", at: 31, blocks: [user("ub", "Hello from b"), system(), system()] });
    posts.push({ session: "b", turn: "tb3", phase: "draft", at: 32, blocks: [] });
    posts.push({
      session: "b",
      turn: "tb3",
      phase: "final",
      at: 33,
      blocks: [{ ...system(), turn_id: "tb3" }, user("ub", "Hello from b")],
      extra: { run_id: "r-1" },
    });

    for (const p of posts) {
      const res = await post("/api/turns", {
        conv_id: conv,
        session_id: p.session,
        phase: p.phase,
        created_at_ms: p.at,
        turn: { id: p.turn, blocks: p.blocks, ...p.extra },
      });
      expect(res.status, `${p.turn}/${p.phase}@${p.at}`).toBe(201);
    }
    for (const p of posts) expect(await snapshotOf(conv, p.session, p.turn, p.phase, p.at)).toEqual(expected(p.turn, p.blocks, p.extra));

    // Storage is one node per distinct prefix, not one row per block per snapshot.
    const prefixes = new Set<string>();
    for (const p of posts) for (let i = 1; i <= p.blocks.length; i++) prefixes.add(JSON.stringify(p.blocks.slice(0, i)));
    expect(await nodeCount(conv)).toBe(prefixes.size);
    const listed = posts.reduce((n, p) => n + p.blocks.length, 0);
    expect(prefixes.size).toBeLessThan(listed / 2);
    // Every snapshot is stored as its tip; no block list on any row.
    const lists = await env.DB.prepare("SELECT DISTINCT block_refs_json FROM turn_snapshots WHERE conv_id = ?1")
      .bind(conv)
      .all<{ block_refs_json: string }>();
    expect(lists.results).toEqual([{ block_refs_json: "[]" }]);
  });

  it("a growing conversation adds one node per new block, however long its history", async () => {
    const conv = uid("conv-grow");
    const history: Block[] = [];
    const rowsWritten: number[] = [];
    for (let t = 0; t < 40; t++) {
      history.push(user(`u${t}`, `question ${t}`));
      for (const [phase, at] of [
        ["pre_inference", 0],
        ["final", 1],
      ] as const) {
        if (phase === "final") history.push(answer(`a${t}`, `answer ${t}`));
        const res = await post("/api/turns", {
          conv_id: conv,
          session_id: "s",
          phase,
          created_at_ms: 100 * t + at + 1,
          turn: { id: `t${t}`, blocks: history },
        });
        expect(res.status).toBe(201);
      }
      rowsWritten.push(await nodeCount(conv));
    }
    expect(await nodeCount(conv)).toBe(80);
    const summary = await json(await get(`/api/debug/turns?conv_id=${conv}&payload=none&limit=1`));
    expect(summary.items[0]!.block_count).toBe(80);
  });
});

describe("delta posts", () => {
  async function chainsOf(blocks: Block[]) {
    const steps = await Promise.all(
      blocks.map(async (b) => ({
        blockId: b.id,
        contentHash: await blockContentHash({ kind: b.kind, role: b.role ?? "", payload: b.payload ?? {}, metadata: b.metadata ?? {} }),
        extraJson: "",
      })),
    );
    return { steps, nodes: await pathNodes(steps) };
  }

  it("references and prefixes store exactly what the full post stores; a later full post is a replay", async () => {
    const conv = uid("conv-delta");
    const h = [system(), user("u1", "q1"), answer("a1", "r1")];
    expect((await post("/api/turns", { conv_id: conv, session_id: "s", created_at_ms: 1, turn: { id: "t1", blocks: h } })).status).toBe(
      201,
    );
    const { steps, nodes } = await chainsOf(h);
    const next = [...h, user("u2", "q2")];
    // Prefix of all three, plus one new block.
    const delta = await post("/api/turns", {
      conv_id: conv,
      session_id: "s",
      created_at_ms: 2,
      prefix: { chain: nodes[2]!.chain, blocks: 3 },
      turn: { id: "t2", blocks: [user("u2", "q2")] },
    });
    expect(delta.status).toBe(201);
    expect(await snapshotOf(conv, "s", "t2", "final", 2)).toEqual(expected("t2", next));
    expect((await post("/api/turns", { conv_id: conv, session_id: "s", created_at_ms: 2, turn: { id: "t2", blocks: next } })).status).toBe(
      200,
    );
    // References instead of the prefix, in another order.
    const refs = [steps[1], steps[0], steps[2]].map((s) => ({ id: s!.blockId, content_hash: s!.contentHash }));
    expect((await post("/api/turns", { conv_id: conv, session_id: "s", created_at_ms: 3, turn: { id: "t3", blocks: refs } })).status).toBe(
      201,
    );
    expect(await snapshotOf(conv, "s", "t3", "final", 3)).toEqual(expected("t3", [h[1]!, h[0]!, h[2]!]));
    expect(
      (await post("/api/turns", { conv_id: conv, session_id: "s", created_at_ms: 3, turn: { id: "t3", blocks: [h[1], h[0], h[2]] } }))
        .status,
    ).toBe(200);
    // Default block ids count from the prefix: block 4 of t4 is t4#3 in both forms.
    expect(
      (
        await post("/api/turns", {
          conv_id: conv,
          session_id: "s",
          created_at_ms: 4,
          prefix: { chain: nodes[2]!.chain, blocks: 3 },
          turn: { id: "t4", blocks: [{ kind: "user", payload: { text: "no id" } }] },
        })
      ).status,
    ).toBe(201);
    expect((await snapshotOf(conv, "s", "t4", "final", 4)).blocks[3]!.id).toBe("t4#3");
    expect(
      (
        await post("/api/turns", {
          conv_id: conv,
          session_id: "s",
          created_at_ms: 4,
          turn: { id: "t4", blocks: [...h, { kind: "user", payload: { text: "no id" } }] },
        })
      ).status,
    ).toBe(200);
  });

  it("an unknown reference or prefix is 422 UNKNOWN_BLOCK_REF naming it, and nothing is stored", async () => {
    const a = uid("conv-ref-a");
    const b = uid("conv-ref-b");
    const blocks = [user("u1", "secret of a")];
    await post("/api/turns", { conv_id: a, session_id: "s", created_at_ms: 1, turn: { id: "t", blocks } });
    await post("/api/turns", { conv_id: b, session_id: "s", created_at_ms: 1, turn: { id: "t", blocks: [user("other", "b's")] } });
    const { steps, nodes } = await chainsOf(blocks);
    const refused = async (body: unknown, message: RegExp) => {
      const before = await databaseDigest();
      const res = await post("/api/turns/batch", {
        items: [{ conv_id: b, session_id: "s", created_at_ms: 5, turn: { id: "ok", blocks: [] } }, body],
      });
      expect(res.status).toBe(422);
      const error = (await json(res)).error;
      expect(error.code).toBe("UNKNOWN_BLOCK_REF");
      expect(error.message).toMatch(message);
      expect(await databaseDigest()).toBe(before);
    };
    // Conversation a's block, referenced from b: resolved only within the same conversation.
    await refused(
      { conv_id: b, session_id: "s", created_at_ms: 6, turn: { id: "t2", blocks: [{ id: "u1", content_hash: steps[0]!.contentHash }] } },
      /items\[1\]: turn\.blocks\[0\] refers to block "u1"/,
    );
    await refused(
      { conv_id: b, session_id: "s", created_at_ms: 6, turn: { id: "t2", blocks: [{ id: "nope", content_hash: "0".repeat(64) }] } },
      /items\[1\]: turn\.blocks\[0\]/,
    );
    await refused(
      { conv_id: b, session_id: "s", created_at_ms: 6, prefix: { chain: nodes[0]!.chain, blocks: 1 }, turn: { id: "t2", blocks: [] } },
      /items\[1\]: prefix names no path/,
    );
    await refused(
      { conv_id: a, session_id: "s", created_at_ms: 6, prefix: { chain: nodes[0]!.chain, blocks: 2 }, turn: { id: "t2", blocks: [] } },
      /prefix names no path of 2 blocks/,
    );
  });

  it("delta and full posts of random growing conversations read back the same (property)", { timeout: 60_000 }, async () => {
    const blockArb = fc.record({
      id: fc.constantFrom("b1", "b2", "b3", "b4", "b5", "b6"),
      kind: fc.constantFrom("user", "llm_text", "tool_call"),
      payload: fc.record({ text: fc.constantFrom("x", "y", "z", "🚀", "<&>") }),
    });
    // Each step: keep a prefix of the previous snapshot's blocks, then add some.
    const stepArb = fc.record({
      keep: fc.nat({ max: 8 }),
      add: fc.array(blockArb, { maxLength: 3 }),
      asRefs: fc.boolean(),
      withPrefix: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { minLength: 1, maxLength: 6 }), async (steps) => {
        const full = uid("conv-full");
        const delta = uid("conv-dl");
        let blocks: Block[] = [];
        let at = 1;
        for (const step of steps) {
          blocks = [...blocks.slice(0, Math.min(step.keep, blocks.length)), ...step.add];
          at += 1;
          expect(
            (await post("/api/turns", { conv_id: full, session_id: "s", created_at_ms: at, turn: { id: `t${at}`, blocks } })).status,
          ).toBe(201);
          // The delta form: the longest prefix the delta conversation has, then references to blocks it has, then the rest.
          const { steps: hashed, nodes } = await chainsOf(blocks);
          const have = await env.DB.prepare("SELECT chain, depth FROM block_nodes WHERE conv_id = ?1")
            .bind(delta)
            .all<{ chain: string; depth: number }>();
          const depthOf = new Map(have.results.map((r) => [r.chain, r.depth]));
          let depth = 0;
          if (step.withPrefix) for (let i = nodes.length; i > 0 && depth === 0; i--) if (depthOf.get(nodes[i - 1]!.chain) === i) depth = i;
          const stored = new Set(
            (
              await env.DB.prepare("SELECT block_id, content_hash FROM block_nodes WHERE conv_id = ?1")
                .bind(delta)
                .all<{ block_id: string; content_hash: string }>()
            ).results.map((r) => `${r.block_id}/${r.content_hash}`),
          );
          const tail = blocks.slice(depth).map((b, k) => {
            const h = hashed[depth + k]!;
            return step.asRefs && stored.has(`${h.blockId}/${h.contentHash}`) ? { id: h.blockId, content_hash: h.contentHash } : b;
          });
          const body = {
            conv_id: delta,
            session_id: "s",
            created_at_ms: at,
            turn: { id: `t${at}`, blocks: tail },
            ...(depth > 0 ? { prefix: { chain: nodes[depth - 1]!.chain, blocks: depth } } : {}),
          };
          expect((await post("/api/turns", body)).status).toBe(201);
        }
        const read = async (conv: string) =>
          (await json(await get(`/api/debug/turns?conv_id=${conv}`))).items.map(
            ({ conv_id: _c, ...rest }: Record<string, unknown>) => rest,
          );
        expect(await read(delta)).toEqual(await read(full));
        expect(await nodeCount(delta)).toBe(await nodeCount(full));
      }),
      { numRuns: 25, interruptAfterTimeLimit: 45_000, markInterruptAsFailure: true },
    );
  });
});

describe("a block with content_hash is a reference, and only a reference (CONTRACT §6.3)", () => {
  const STORED = [user("u1", "stored once")];
  let conv: string;
  let hash: string;

  beforeAll(async () => {
    conv = uid("conv-strict-ref");
    expect(
      (await post("/api/turns", { conv_id: conv, session_id: "s", created_at_ms: 1, turn: { id: "t1", blocks: STORED } })).status,
    ).toBe(201);
    hash = await blockContentHash({ kind: "user", role: "user", payload: { text: "stored once" }, metadata: {} });
  });

  /** Each malformed reference, and what the message must say about it. */
  const CASES: Array<[string, () => Record<string, unknown>, RegExp]> = [
    ["an upper-case hash", () => ({ id: "u1", content_hash: hash.toUpperCase() }), /content_hash must be 64 lower-case hex digits/],
    ["63 hex digits", () => ({ id: "u1", content_hash: hash.slice(1) }), /content_hash must be 64 lower-case hex digits.*63 characters/],
    ["65 hex digits", () => ({ id: "u1", content_hash: `${hash}0` }), /content_hash must be 64 lower-case hex digits.*65 characters/],
    ["a hash with a non-hex character", () => ({ id: "u1", content_hash: `${hash.slice(1)}g` }), /64 lower-case hex digits/],
    ["a number as hash", () => ({ id: "u1", content_hash: 12 }), /content_hash must be 64 lower-case hex digits.*a number/],
    ["null as hash", () => ({ id: "u1", content_hash: null }), /content_hash must be 64 lower-case hex digits.*null/],
    ["kind besides", () => ({ id: "u1", content_hash: hash, kind: "user" }), /only id and content_hash.*has kind/],
    [
      "payload and role besides",
      () => ({ id: "u1", content_hash: hash, role: "user", payload: { text: "x" } }),
      /only id and content_hash.*has role, payload/,
    ],
    ["any other key besides", () => ({ id: "u1", content_hash: hash, turn_id: "t1" }), /only id and content_hash.*has turn_id/],
    ["no id", () => ({ content_hash: hash }), /\.id must be a non-empty string/],
    ["an empty id", () => ({ id: "", content_hash: hash }), /\.id must be a non-empty string/],
    ["a number as id", () => ({ id: 1, content_hash: hash }), /\.id must be a non-empty string.*a number/],
  ];

  it.each(CASES)(
    "%s: 422 INVALID_BLOCK_REF naming the block, nothing stored (single post and batch)",
    async (_name, reference, message) => {
      const blocks = [user("u0", "new"), reference()];
      await expectRejected(
        () => post("/api/turns", { conv_id: conv, session_id: "s", created_at_ms: 2, turn: { id: "t2", blocks } }),
        422,
        "INVALID_BLOCK_REF",
        new RegExp(`^turn\\.blocks\\[1\\].*${message.source}`),
      );
      await expectRejected(
        () =>
          post("/api/turns/batch", {
            items: [
              { conv_id: conv, session_id: "s", created_at_ms: 3, turn: { id: "ok", blocks: [] } },
              { conv_id: conv, session_id: "s", created_at_ms: 2, turn: { id: "t2", blocks } },
            ],
          }),
        422,
        "INVALID_BLOCK_REF",
        new RegExp(`^items\\[1\\]\\.turn\\.blocks\\[1\\].*${message.source}`),
      );
    },
  );

  it("YAML payloads follow the same rule (single post and batch)", async () => {
    const yaml = (reference: string) => `id: t2\nblocks:\n  - id: u0\n    kind: user\n  - ${reference}\n`;
    for (const [reference, message] of [
      [`{id: u1, content_hash: ${hash.toUpperCase()}}`, /^payload\.blocks\[1\]\.content_hash must be 64 lower-case hex digits/],
      [`{id: u1, content_hash: ${hash.slice(2)}}`, /^payload\.blocks\[1\]\.content_hash must be 64 lower-case hex digits/],
      [`{id: u1, content_hash: ${hash}, kind: user}`, /^payload\.blocks\[1\] is a block reference.*has kind/],
      [`{content_hash: ${hash}}`, /^payload\.blocks\[1\]\.id must be a non-empty string/],
    ] as const) {
      await expectRejected(
        () => post("/api/turns", { conv_id: conv, session_id: "s", created_at_ms: 2, payload: yaml(reference) }),
        422,
        "INVALID_BLOCK_REF",
        message,
      );
      await expectRejected(
        () =>
          post("/api/turns/batch", {
            items: [
              { conv_id: conv, session_id: "s", created_at_ms: 3, payload: "id: ok\nblocks: []\n" },
              { conv_id: conv, session_id: "s", created_at_ms: 2, payload: yaml(reference) },
            ],
          }),
        422,
        "INVALID_BLOCK_REF",
        new RegExp(`^items\\[1\\]\\.${message.source.slice(1)}`),
      );
    }
  });

  it("the well-formed reference is stored as the block it names (JSON and YAML)", async () => {
    const res = await post("/api/turns", {
      conv_id: conv,
      session_id: "s",
      created_at_ms: 4,
      turn: { id: "t4", blocks: [{ id: "u1", content_hash: hash }] },
    });
    expect(res.status).toBe(201);
    expect(await snapshotOf(conv, "s", "t4", "final", 4)).toEqual(expected("t4", STORED));
    const yaml = await post("/api/turns", {
      conv_id: conv,
      session_id: "s",
      created_at_ms: 5,
      payload: `id: t5\nblocks:\n  - {id: u1, content_hash: ${hash}}\n`,
    });
    expect(yaml.status).toBe(201);
    expect(await snapshotOf(conv, "s", "t5", "final", 5)).toEqual(expected("t5", STORED));
  });
});

describe("the first release's snapshots (block lists on the row) are converted by the scheduled data step", () => {
  it("reads the same before, during and after; re-running changes nothing", async () => {
    const conv = uid("conv-legacy");
    // Blocks and snapshots as the first release wrote them: every block listed on every snapshot.
    const block = (id: string, text: string) =>
      env.DB.prepare(
        "INSERT INTO blocks (block_id, content_hash, hash_algorithm, kind, role, payload_json, block_metadata_json, first_seen_at_ms) VALUES (?1, ?2, 'sha256-canonical-json-v1', 'user', 'user', ?3, '{}', 1) ON CONFLICT DO NOTHING",
      ).bind(id, `hash-${id}`, JSON.stringify({ text }));
    const snapshot = (turnId: string, at: number, ids: string[]) =>
      env.DB.prepare(
        "INSERT INTO turn_snapshots (id, conv_id, session_id, turn_id, phase, created_at_ms, runtime_key, inference_id, turn_metadata_json, turn_data_json, block_refs_json) VALUES (?3, ?1, 's', ?2, 'final', ?3, 'inventory', '', '{}', '{}', ?4)",
      ).bind(conv, turnId, at, JSON.stringify(ids.map((id) => [id, `hash-${id}`])));
    const ids: string[] = [];
    const statements = [];
    for (let t = 0; t < 30; t++) {
      ids.push(`b${t}`);
      statements.push(block(`b${t}`, `text ${t}`), snapshot(`t${t}`, 1000 + t, [...ids]));
    }
    statements.push(snapshot("empty", 2000, []));
    await env.DB.batch(statements);
    await post("/api/turns", {
      conv_id: conv,
      session_id: "s",
      created_at_ms: 3000,
      turn: { id: "new", blocks: [{ id: "b0", kind: "user", role: "user", payload: { text: "text 0" } }] },
    });

    const read = async () =>
      JSON.stringify([
        await json(await get(`/api/debug/turns?conv_id=${conv}&limit=1000`)),
        await json(await get(`/api/debug/turns?conv_id=${conv}&payload=none&limit=1000`)),
      ]);
    const before = await read();
    expect(
      JSON.parse(before)[1]
        .items.map((i: { block_count: number }) => i.block_count)
        .slice(0, 3),
    ).toEqual([1, 0, 30]);

    // One chunk at a time: reads are the same at every step.
    let result: Awaited<ReturnType<typeof convertLegacySnapshots>>;
    do {
      result = await convertLegacySnapshots(env.DB);
      expect(await read()).toBe(before);
    } while (result.remaining);
    const rows = await env.DB.prepare("SELECT count(*) AS n FROM turn_snapshots WHERE tip_chain IS NULL OR block_refs_json <> '[]'").first<{
      n: number;
    }>();
    expect(rows!.n).toBe(0);
    // The 30 legacy blocks form one path; the new snapshot's block (its real content hash) one more node.
    expect(await nodeCount(conv)).toBe(31);
    const counted = await env.DB.prepare(
      "SELECT min(ref_count) AS lo, max(ref_count) AS hi FROM blocks WHERE block_id GLOB 'b[0-9]*' AND content_hash GLOB 'hash-*'",
    ).first<{ lo: number; hi: number }>();
    expect(counted).toEqual({ lo: 1, hi: 1 });

    const after = await databaseDigest();
    expect(await runMaintenance(env)).toMatchObject({ converted_snapshots: 0, conversion_remaining: false });
    expect(await databaseDigest()).toBe(after);
  });
});

/**
 * The isolate's memory of stored tips (src/store/known-paths.ts): a full post whose history this
 * isolate stored is written as a delta from that tip, checked in the batch — a hint, never trusted.
 */
describe("full posts over a tip this isolate stored", () => {
  const ADMIN = env.ADMIN_TOKEN;
  const history = (n: number) =>
    Array.from({ length: n }, (_, i) => (i % 2 ? answer(`a${i}`, `answer ${i}`) : user(`u${i}`, `question ${i}`)));
  const full = (conv: string, k: number, blocks: Block[]) => ({
    conv_id: conv,
    session_id: "s",
    phase: "final",
    created_at_ms: 1000 + k,
    turn: { id: `t${k}`, blocks },
  });

  async function writeConversation(conv: string, snapshots: number, memory: boolean): Promise<number[]> {
    const rowsRead: number[] = [];
    for (let k = 0; k < snapshots; k++) {
      if (!memory) forgetAllTips();
      const saved = await saveSnapshots(env.DB, [
        await prepareSnapshot(full(conv, k, history(2 * k + 2)), { nowMs: Date.now(), maxClockSkewMs: 300_000 }),
      ]);
      expect(saved.outcomes).toEqual(["created"]);
      rowsRead.push(saved.rowsRead);
    }
    return rowsRead;
  }

  async function stored(conv: string): Promise<string> {
    const tables: Array<[string, string]> = [
      [
        "turn_snapshots",
        "SELECT id, session_id, turn_id, phase, created_at_ms, tip_chain, block_count, block_refs_json FROM turn_snapshots WHERE conv_id = ?1 ORDER BY created_at_ms, id",
      ],
      [
        "block_nodes",
        "SELECT chain, parent_chain, depth, block_id, content_hash, extra_json FROM block_nodes WHERE conv_id = ?1 ORDER BY depth, chain",
      ],
      [
        "blocks",
        "SELECT b.block_id, b.content_hash, b.ref_count FROM blocks AS b JOIN block_nodes AS n USING (block_id, content_hash) WHERE n.conv_id = ?1 ORDER BY b.block_id",
      ],
      ["turns", "SELECT session_id, turn_id, turn_created_at_ms, updated_at_ms FROM turns WHERE conv_id = ?1 ORDER BY turn_id"],
    ];
    return JSON.stringify(await env.DB.batch(tables.map(([, sql]) => env.DB.prepare(sql).bind(conv))).then((r) => r.map((x) => x.results)));
  }

  it("stores exactly what a write without the memory stores, reading rows for the new blocks only", async () => {
    const [withMemory, without] = [uid("conv-tips-on"), uid("conv-tips-off")];
    const readWith = await writeConversation(withMemory, 30, true);
    const readWithout = await writeConversation(without, 30, false);
    expect(await stored(withMemory)).toBe(await stored(without));
    // Without the memory the batch looks up every node of the history; with it, the tip and the new nodes.
    expect(readWithout[29]! - readWithout[5]!).toBeGreaterThan(40);
    expect(readWith.slice(5)).toEqual(readWith.slice(5).map(() => readWith[5]));
  });

  it("a remembered tip that is gone (the conversation deleted, then written again) fails the batch; the fallback stores every node", async () => {
    const conv = uid("conv-tips-gone");
    expect((await post("/api/turns", full(conv, 0, history(2)))).status).toBe(201);
    expect((await post("/api/turns", full(conv, 1, history(4)))).status).toBe(201);
    expect((await call("DELETE", `/api/conversations/${conv}`, { token: ADMIN })).status).toBe(200);
    expect(await nodeCount(conv)).toBe(0);
    // Its history is the deleted conversation's: this isolate remembers that tip, D1 no longer has it.
    expect((await post("/api/turns", full(conv, 2, history(6)))).status).toBe(201);
    expect(await nodeCount(conv)).toBe(6);
    expect(await snapshotOf(conv, "s", "t2", "final", 1002)).toEqual(expected("t2", history(6)));
    // Every block of the conversation counts exactly the path nodes (of every conversation) that use it.
    const counts = (
      await env.DB.prepare(
        `SELECT b.block_id, b.ref_count, (SELECT count(*) FROM block_nodes AS m WHERE m.block_id = b.block_id AND m.content_hash = b.content_hash) AS nodes
         FROM blocks AS b JOIN block_nodes AS n USING (block_id, content_hash) WHERE n.conv_id = ?1 ORDER BY b.block_id`,
      )
        .bind(conv)
        .all<{ block_id: string; ref_count: number; nodes: number }>()
    ).results;
    expect(counts).toHaveLength(6);
    for (const c of counts) expect(c.ref_count, c.block_id).toBe(c.nodes);
    // And the next full post goes over the tip the fallback stored.
    expect((await post("/api/turns", full(conv, 3, history(8)))).status).toBe(201);
    expect(await snapshotOf(conv, "s", "t3", "final", 1003)).toEqual(expected("t3", history(8)));
    expect(await nodeCount(conv)).toBe(8);
  });
});
