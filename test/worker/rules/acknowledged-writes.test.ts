/**
 * Acknowledged means kept and readable (issue 29): rows D1 cannot hold are refused before anything
 * is written; a write whose batch waits while a deletion starts, runs or completes never leaves a
 * path that reads as a 500 or a node without its block; retention never deletes a conversation
 * written to after it was listed; one failing maintenance step never stops the others.
 *
 * Where `wrangler dev` cannot hit the window, the D1 binding is wrapped to hold the write batch
 * (holdBatch) and run the deletion in between, on the real database.
 */
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { runMaintenance } from "../../../src/scheduled";
import type { D1Handle } from "../../../src/store/d1";
import { continueDeletion, idleConversations, startDeletion } from "../../../src/store/deletion";
import { forgetAllTips } from "../../../src/store/known-paths";
import { listSnapshots } from "../../../src/store/snapshot-reads";
import { saveSnapshots } from "../../../src/store/writes";
import { INSERT_SNAPSHOTS } from "../../../src/store/writes/statements";
import { blockContentHash } from "../../../src/turn/block-hash";
import { pathNodes } from "../../../src/turn/block-path";
import { canonicalJson } from "../../../src/turn/canonical-json";
import { MAX_ROW_JSON_BYTES, MAX_STORED_ROW_BYTES, prepareSnapshot, type SnapshotRequest } from "../../../src/turn/snapshot";
import { call, databaseDigest, expectRejected, get, json, post, uid } from "../harness";

beforeAll(() => {
  vi.spyOn(console, "log").mockImplementation(() => {});
  vi.spyOn(console, "error").mockImplementation(() => {});
});
afterAll(() => vi.restoreAllMocks());

/**
 * env.DB, except that the first batch carrying `sql` waits for `meanwhile` (run on the real database)
 * before it is sent — a write's batch held between its plan's read and its write.
 */
function holdBatch(sql: string, meanwhile: () => Promise<void>): D1Handle {
  const sqlOf = new WeakMap<object, string>();
  let held = false;
  return {
    prepare: (query: string) => {
      const statement = env.DB.prepare(query);
      sqlOf.set(statement, query);
      const bind = statement.bind.bind(statement);
      statement.bind = (...values: unknown[]) => {
        const bound = bind(...values);
        sqlOf.set(bound, query);
        return bound;
      };
      return statement;
    },
    batch: async (statements) => {
      if (!held && statements.some((s) => sqlOf.get(s) === sql)) {
        held = true;
        await meanwhile();
      }
      return env.DB.batch(statements);
    },
  };
}

const snapshot = (conv: string, turnId: string, at: number, blocks: unknown[], extra: Partial<SnapshotRequest> = {}) =>
  prepareSnapshot(
    { conv_id: conv, session_id: "s", created_at_ms: at, turn: { id: turnId, blocks }, ...extra },
    { nowMs: Date.now(), maxClockSkewMs: 300_000 },
  );

const HISTORY = [
  { id: "u1", kind: "user", role: "user", payload: { text: "what is in aisle 7?" } },
  { id: "a1", kind: "llm_text", role: "assistant", payload: { text: "oat milk" } },
];

/** Every read of a conversation answers (no 500), and no path node lacks its parent or its block. */
async function expectReadable(conv: string): Promise<void> {
  for (const path of [`/api/debug/turns?conv_id=${conv}`, `/api/debug/conversations/${conv}/export?format=jsonl`]) {
    expect([200, 404]).toContain((await get(path)).status);
  }
  const broken = await env.DB.prepare(
    `SELECT count(*) AS n FROM block_nodes AS n
     WHERE n.conv_id = ?1 AND ((n.parent_chain <> '' AND NOT EXISTS (SELECT 1 FROM block_nodes AS p WHERE p.conv_id = n.conv_id AND p.chain = n.parent_chain))
       OR NOT EXISTS (SELECT 1 FROM blocks AS b WHERE b.block_id = n.block_id AND b.content_hash = n.content_hash))`,
  )
    .bind(conv)
    .first<{ n: number }>();
  expect(broken!.n).toBe(0);
  const snapshots = await env.DB.prepare(
    "SELECT count(*) AS n FROM turn_snapshots AS s WHERE s.conv_id = ?1 AND s.tip_chain <> '' AND NOT EXISTS (SELECT 1 FROM block_nodes AS n WHERE n.conv_id = s.conv_id AND n.chain = s.tip_chain)",
  )
    .bind(conv)
    .first<{ n: number }>();
  expect(snapshots!.n).toBe(0);
}

describe("rows D1 can hold, decided before writing", () => {
  it("a realistic 1.36 MB tool result held as a JSON string (payload_json 1.74 MB, 2.1 MB as sent) → 422 ROW_TOO_LARGE, not 500", async () => {
    const rows = Array.from({ length: 26_500 }, (_, i) => ({ sku: `SKU-${i}`, name: `item "${i}"`, qty: i % 17 }));
    const result = JSON.stringify(rows);
    expect(result.length).toBeGreaterThan(1_360_000);
    // Stored as JSON text inside the payload: every quote escaped once (under D1's 2 MB), twice as sent.
    expect(JSON.stringify({ result }).length).toBeLessThan(1_900_000);
    await expectRejected(
      () =>
        post("/api/turns", {
          conv_id: uid("conv-tool"),
          session_id: "s",
          created_at_ms: 1,
          turn: { id: "t", blocks: [{ kind: "tool_use", payload: { result } }] },
        }),
      422,
      "ROW_TOO_LARGE",
      /blocks\[0\] would be a row of [0-9]+ bytes as sent to D1/,
    );
  });

  it.each([
    ["a text", (q: string) => ({ blocks: [{ kind: "user", payload: { text: q } }] })],
    ["turn metadata", (q: string) => ({ blocks: [], metadata: { note: q } })],
  ])("550,000 '\"' in %s → 422 ROW_TOO_LARGE", async (_, turnOf) => {
    await expectRejected(
      () =>
        post("/api/turns", {
          conv_id: uid("conv-quotes"),
          session_id: "s",
          created_at_ms: 1,
          turn: { id: "t", ...turnOf('"'.repeat(550_000)) },
        }),
      422,
      "ROW_TOO_LARGE",
    );
  });
});

describe("rows D1 can hold, at their bounds (property)", () => {
  /**
   * Characters that cost more as stored (canonical JSON escapes `"` `\\` controls `<` `>` `&` LS PS
   * and lone surrogates) and again as sent to D1 (its JSON parameter escapes every `"` and `\\` of
   * that text once more), or more as UTF-8 (NEL, é, astral): each bound binds first for some of them.
   */
  const ADVERSARIAL = ['"', "\\", "\u0001", "\u001f", "\u007f", "\n", "\u0085", "\u2028", "<", "&", "é", "🚀", "\ud800", "a"];
  const unit = fc.array(fc.constantFrom(...ADVERSARIAL), { minLength: 1, maxLength: 8 }).map((chars) => chars.join(""));

  /** An identifier of at most `max` UTF-16 units, unique, padded with what escapes most (ids hold no controls). */
  const maximal = (prefix: string, pad: string, max: number) => {
    const id = uid(prefix);
    return id + pad.repeat(Math.floor((max - id.length) / pad.length));
  };
  const identity = fc.record({
    pad: fc.constantFrom('"', "\\", "🚀", "a"),
    runtime: fc.constantFrom('"'.repeat(256), "\\".repeat(256), "🚀".repeat(128), "planner"),
  });

  /** Which row the text lands in, and how a text of `k` more 'a's is posted there. */
  const ROWS = {
    block: (text: string) => ({ blocks: [{ id: `b-${'"'.repeat(40)}`, kind: "tool_use", role: "tool", payload: { text } }] }),
    node: (text: string) => ({ blocks: [{ id: `b-${'"'.repeat(40)}`, kind: "user", role: "user", payload: {}, note: text }] }),
    snapshot: (text: string) => ({ blocks: [], metadata: { note: text } }),
  } as const;

  /** The texts of the row (src/turn/snapshot.ts, assertRowsFit: what each row holds in text). */
  function rowTexts(
    row: keyof typeof ROWS,
    text: string,
    ids: { conv: string; session: string; turn: string; phase: string; runtime: string },
  ) {
    const blockId = `b-${'"'.repeat(40)}`;
    if (row === "block") return [canonicalJson({ text }), "{}", blockId, "tool", "tool_use"];
    if (row === "node") return [canonicalJson({ note: text }), blockId, ids.conv];
    // Metadata, data, the turn's extra keys, the tip chain (none: no blocks), ids, runtime and inference id.
    return [canonicalJson({ note: text }), "{}", "", "", ids.conv, ids.session, ids.turn, ids.phase, ids.runtime, ids.runtime];
  }
  const utf8 = (text: string) => new TextEncoder().encode(text).length;

  it("a row just under its bound is stored and read back identically, just over it is 422 ROW_TOO_LARGE with nothing stored — block, node and snapshot rows, adversarial characters, maximal ids (property, 16 rows)", {
    timeout: 120_000,
  }, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("block", "node", "snapshot" as const),
        unit,
        fc.double({ min: 0, max: 0.95, noNaN: true }),
        fc.boolean(),
        fc.nat({ max: 3 }),
        identity,
        async (row, piece, share, over, slack, { pad, runtime }) => {
          const ids = {
            conv: maximal("conv-rows", pad, 256),
            session: maximal("s", pad, 256),
            turn: maximal("t", pad, 256),
            phase: pad === "🚀" ? "🚀".repeat(32) : pad.repeat(64),
            runtime,
          };
          // The adversarial part takes a random share of the row; 'a's (one byte stored and sent) fill it
          // to exactly where the first bound binds, then `slack` under it or `1 + slack` over it.
          const costPerPiece = utf8(JSON.stringify(JSON.stringify(piece)));
          const adversarial = piece.repeat(Math.floor((share * MAX_ROW_JSON_BYTES) / costPerPiece));
          const texts = rowTexts(row, adversarial, ids);
          const stored = texts.reduce((n, t) => n + utf8(t), 0);
          const sent = texts.reduce((n, t) => n + utf8(JSON.stringify(t)), 0);
          const room = Math.min(MAX_STORED_ROW_BYTES - stored, MAX_ROW_JSON_BYTES - sent);
          fc.pre(room > 4);
          const text = adversarial + "a".repeat(over ? room + 1 + slack : room - slack);
          const body = {
            conv_id: ids.conv,
            session_id: ids.session,
            phase: ids.phase,
            created_at_ms: 1,
            runtime_key: ids.runtime,
            inference_id: ids.runtime,
            turn: { id: ids.turn, ...ROWS[row](text) },
          };
          const what = `${row} row, ${JSON.stringify(piece)} × ${adversarial.length / piece.length}, ${over ? "over" : "under"} by ${over ? 1 + slack : slack}`;
          if (over) {
            const before = await databaseDigest();
            const res = await post("/api/turns", body);
            const answer = await json(res);
            expect([res.status, answer.error?.code], `${what}: ${answer.error?.message}`).toEqual([422, "ROW_TOO_LARGE"]);
            expect(answer.error.message, what).toMatch(
              row === "snapshot" ? /the snapshot row would be [0-9]+ bytes/ : /blocks\[0\] would be a row of [0-9]+ bytes/,
            );
            expect(await databaseDigest(), `${what}: nothing stored`).toBe(before);
            return;
          }
          const res = await post("/api/turns", body);
          expect(res.status, `${what}: ${JSON.stringify((await json(res)).error)}`).toBe(201);
          const conv = encodeURIComponent(ids.conv);
          const latest = await json(await get(`/api/conversations/${conv}/turns/latest`));
          expect([latest.conv_id, latest.session_id, latest.turn_id, latest.phase, latest.runtime_key, latest.inference_id], what).toEqual([
            ids.conv,
            ids.session,
            ids.turn,
            ids.phase,
            ids.runtime,
            ids.runtime,
          ]);
          const readBack =
            row === "block"
              ? latest.turn.blocks[0]!.payload
              : row === "node"
                ? { note: latest.turn.blocks[0]!.note }
                : latest.turn.metadata;
          expect(
            canonicalJson(readBack) === canonicalJson(row === "block" ? { text } : { note: text }),
            `${what}: read back identically`,
          ).toBe(true);
          const conversation = await json(await get(`/api/debug/conversations/${conv}`));
          expect([conversation.session_id, conversation.resolved_runtime_key], what).toEqual([ids.session, ids.runtime]);
          // Deleted, so that the next rows' digests read little.
          expect((await call("DELETE", `/api/conversations/${conv}`, { token: env.ADMIN_TOKEN })).status).toBe(200);
        },
      ),
      {
        numRuns: 16,
        interruptAfterTimeLimit: 100_000,
        markInterruptAsFailure: true,
        // Each row just under and just over, with the character each bound binds first for: `"` (as sent), 'a' (as stored).
        examples: [
          ["block", '"', 0.9, false, 0, { pad: '"', runtime: '"'.repeat(256) }],
          ["block", '"', 0.9, true, 0, { pad: '"', runtime: '"'.repeat(256) }],
          ["node", "a", 0.5, false, 0, { pad: "\\", runtime: "planner" }],
          ["node", "a", 0.5, true, 0, { pad: "\\", runtime: "planner" }],
          ["snapshot", "\u0001\ud800🚀", 0.9, false, 0, { pad: "🚀", runtime: "\\".repeat(256) }],
          ["snapshot", "\u0001\ud800🚀", 0.9, true, 0, { pad: "🚀", runtime: "\\".repeat(256) }],
        ],
      },
    );
  });
});

describe("writes that cannot outlive a deletion", () => {
  async function storedHistory(conv: string) {
    expect(
      (await post("/api/turns", { conv_id: conv, session_id: "s", created_at_ms: 1, turn: { id: "t1", blocks: HISTORY } })).status,
    ).toBe(201);
    forgetAllTips();
    const steps = await Promise.all(
      HISTORY.map(async (b) => ({ blockId: b.id, contentHash: await blockContentHash({ ...b, metadata: {} }), extraJson: "" })),
    );
    return { tip: (await pathNodes(steps)).at(-1)!, firstHash: steps[0]!.contentHash };
  }

  const deletion = {
    // Started: the deletion is recorded, nothing purged yet.
    starting: (conv: string) => async () => void (await startDeletion(env.DB, conv, "admin", Date.now())),
    // Running: some rows purged, not all.
    running: (conv: string) => async () => {
      await startDeletion(env.DB, conv, "admin", Date.now());
      await env.DB.prepare("DELETE FROM block_nodes WHERE conv_id = ?1 AND depth = 2").bind(conv).run();
    },
    // Completed: every row gone, the deletion record too.
    completing: (conv: string) => async () => {
      await startDeletion(env.DB, conv, "admin", Date.now());
      expect((await continueDeletion(env.DB, conv, 10)).complete).toBe(true);
    },
  };

  it.each([
    ["starting", 409, "CONVERSATION_DELETING"],
    ["running", 409, "CONVERSATION_DELETING"],
    ["completing", 422, "UNKNOWN_BLOCK_REF"],
  ] as const)("a delta post whose batch waits while a deletion is %s → %i %s, and every read still answers", async (when, status, code) => {
    const conv = uid(`conv-race-${when}`);
    const { tip } = await storedHistory(conv);
    const delta = await snapshot(conv, "t2", 2, [{ id: "u2", kind: "user", role: "user", payload: { text: "and aisle 8?" } }], {
      prefix: { chain: tip.chain, blocks: 2 },
    });
    const db = holdBatch(INSERT_SNAPSHOTS, deletion[when](conv));
    await expect(saveSnapshots(db, [delta])).rejects.toMatchObject({ code });
    expect(status).toBe(code === "CONVERSATION_DELETING" ? 409 : 422);
    if (when !== "completing") expect((await continueDeletion(env.DB, conv, 10)).complete).toBe(true);
    await expectReadable(conv);
  });

  it("a reference whose block row a completed deletion removed in the window fails the batch, planned again → 422, no node points at nothing", async () => {
    const conv = uid("conv-race-ref");
    const { firstHash } = await storedHistory(conv);
    // A new path that starts with a reference to u1: no stored node to guard, only the block row.
    const reply = await snapshot(conv, "t2", 2, [{ id: "u1", content_hash: firstHash }]);
    const db = holdBatch(INSERT_SNAPSHOTS, deletion.completing(conv));
    await expect(saveSnapshots(db, [reply])).rejects.toMatchObject({ code: "UNKNOWN_BLOCK_REF" });
    await expectReadable(conv);
  });

  it("a post carrying its history in full, planned before a completed deletion, is planned again and written whole", async () => {
    const conv = uid("conv-race-full");
    const { firstHash } = await storedHistory(conv);
    // The history in full plus a reference to it forces the read-then-write path; the plan finds the
    // history stored and guards on it. The deletion removes it: planned again, the write stores the
    // whole path (the reference resolves to the block posted in full), and it reads back.
    const full = await snapshot(conv, "t2", 2, [...HISTORY, { id: "u1", content_hash: firstHash }]);
    const db = holdBatch(INSERT_SNAPSHOTS, deletion.completing(conv));
    expect((await saveSnapshots(db, [full])).outcomes).toEqual(["created"]);
    await expectReadable(conv);
    const page = await listSnapshots(env.DB, { convId: conv, limit: 10 });
    expect(page.records.map((r) => r.turn.blocks.map((b) => b.id))).toEqual([["u1", "a1", "u1"]]);
  });
});

describe("retention re-checks at delete time", () => {
  it("a conversation written to after retention listed it is kept, with the write", async () => {
    const conv = uid("conv-retention");
    expect(
      (await post("/api/turns", { conv_id: conv, session_id: "s", created_at_ms: 1_000, turn: { id: "t1", blocks: [] } })).status,
    ).toBe(201);
    const cutoff = 10_000;
    expect(await idleConversations(env.DB, cutoff, 1_000)).toContain(conv);
    // The visitor's write lands between the listing and the deletion: acknowledged.
    const write = await post("/api/turns", { conv_id: conv, session_id: "s", created_at_ms: 20_000, turn: { id: "t2", blocks: [] } });
    expect(write.status).toBe(201);
    expect(await startDeletion(env.DB, conv, "retention", 30_000, cutoff)).toBe(false);
    const page = await json(await get(`/api/debug/turns?conv_id=${conv}`));
    expect(page.items.map((i: { turn_id: string }) => i.turn_id)).toEqual(["t2", "t1"]);
  });
});

describe("maintenance that isolates failures", () => {
  async function legacySnapshot(conv: string, blockRefsJson: string) {
    await env.DB.prepare(
      `INSERT INTO turn_snapshots (id, conv_id, session_id, turn_id, phase, created_at_ms, block_refs_json, tip_chain)
       VALUES ((SELECT coalesce(max(id), 0) + 1 FROM turn_snapshots), ?1, 's', 't', 'final', 5, ?2, NULL)`,
    )
      .bind(conv, blockRefsJson)
      .run();
    await env.DB.prepare("INSERT INTO conversations (conv_id, session_id, created_at_ms, last_activity_ms) VALUES (?1, 's', 5, 5)")
      .bind(conv)
      .run();
  }

  it("a deletion whose step throws (a malformed legacy row) is logged, counted and retried later; retention and conversion go on", async () => {
    const broken = uid("conv-broken");
    const fine = uid("conv-fine");
    await legacySnapshot(broken, "{not json");
    await legacySnapshot(fine, "[]");
    expect(await startDeletion(env.DB, broken, "admin", Date.now())).toBe(true);

    const report = await runMaintenance(env, Date.now());
    expect(report.failures).toContainEqual(
      expect.objectContaining({ step: "deletion", conv_id: broken, error: expect.stringMatching(/JSON/) }),
    );
    expect(
      report.failures.map((f) => f.conv_id),
      JSON.stringify(report.failures),
    ).not.toContain(fine);
    // The others went on: the good legacy row was converted.
    const converted = await env.DB.prepare("SELECT tip_chain FROM turn_snapshots WHERE conv_id = ?1")
      .bind(fine)
      .first<{ tip_chain: string | null }>();
    expect(converted!.tip_chain).toBe("");
    const health = await json(await call("GET", "/healthz", { token: null }));
    // Its legacy row failed the conversion step too: set aside there as well.
    expect(health.maintenance).toEqual({ deletions_failing: 1, conversions_failing: 1, moves_unfinished: 0 });
    // Not retried before its time; the next run goes past it.
    const next = await runMaintenance(env, Date.now());
    expect(next.failures.filter((f) => f.step === "deletion")).toEqual([]);
    const waiting = await env.DB.prepare("SELECT failures, retry_at_ms > ?2 AS later FROM conversation_deletions WHERE conv_id = ?1")
      .bind(broken, Date.now())
      .first();
    expect(waiting).toEqual({ failures: 1, later: 1 });
    // Clean up: the row repaired, the deletion finishes when it is due.
    await env.DB.prepare("UPDATE turn_snapshots SET block_refs_json = '[]' WHERE conv_id = ?1").bind(broken).run();
    const later = await runMaintenance(env, Date.now() + 86_400_000 + 1);
    expect(later.deleted_conversations).toContain(broken);
  });

  /** `db`, with every statement matching `pattern` failing as D1 fails. */
  function failingOn(db: D1Database, pattern: RegExp): D1Database {
    return new Proxy(db, {
      get(target, key) {
        if (key === "prepare") {
          return (sql: string) => {
            if (pattern.test(sql)) throw new Error("D1_ERROR: injected failure");
            return target.prepare(sql);
          };
        }
        if (key === "withSession") return (c?: string) => failingOn(target.withSession(c) as unknown as D1Database, pattern);
        const value = Reflect.get(target, key);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
  }

  it("a step that fails for a whole database (collecting blocks, retention's listing) is logged and counted; the steps after it go on", async () => {
    const gone = uid("conv-tombstone");
    await env.DB.prepare("INSERT INTO conversation_tombstones (conv_id, deleted_at_ms) VALUES (?1, 1)").bind(gone).run();
    const broken = failingOn(env.DB, /^DELETE FROM blocks|FROM conversations WHERE last_activity_ms </);
    const report = await runMaintenance({ ...env, DB: broken, RETENTION_DAYS: "30" } as Env, Date.now());
    expect(report.failures).toEqual([
      expect.objectContaining({ step: "retention", database: "DB", conv_id: "", error: expect.stringMatching(/injected/) }),
      expect.objectContaining({ step: "collect_blocks", database: "DB", conv_id: "", error: expect.stringMatching(/injected/) }),
    ]);
    // The step after it ran: the tombstone no token can need any more is gone.
    const left = await env.DB.prepare("SELECT count(*) AS n FROM conversation_tombstones WHERE conv_id = ?1").bind(gone).first<number>("n");
    expect(left).toBe(0);
  });

  it("a conversation whose legacy rows fail to convert is set aside; the others are converted", async () => {
    const broken = uid("conv-unconvertible");
    const fine = uid("conv-convertible");
    await legacySnapshot(broken, "[[1,");
    await legacySnapshot(fine, "[]");
    const report = await runMaintenance(env, Date.now());
    expect(report.failures).toContainEqual(
      expect.objectContaining({ step: "conversion", conv_id: broken, error: expect.stringMatching(/JSON/) }),
    );
    expect(
      report.failures.map((f) => f.conv_id),
      JSON.stringify(report.failures),
    ).not.toContain(fine);
    const converted = await env.DB.prepare("SELECT tip_chain FROM turn_snapshots WHERE conv_id = ?1")
      .bind(fine)
      .first<{ tip_chain: string | null }>();
    expect(converted!.tip_chain).toBe("");
    const health = await json(await call("GET", "/healthz", { token: null }));
    expect(health.maintenance.conversions_failing).toBeGreaterThanOrEqual(1);
    await env.DB.prepare("DELETE FROM turn_snapshots WHERE conv_id = ?1").bind(broken).run();
    await env.DB.prepare("DELETE FROM conversion_failures WHERE conv_id = ?1").bind(broken).run();
  });
});
