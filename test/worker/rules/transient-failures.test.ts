/**
 * Concurrency and faults, against the real miniflare D1: concurrent writers (Promise.all through
 * the fetch handler), failures inside a write batch (a real D1 constraint error in the middle of
 * the batch), and the backfill step re-run over data the Worker wrote. Re-applying the migration
 * chain and an interrupted backfill on legacy data are covered in migration.test.ts.
 */
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { D1Handle } from "../../../src/store/d1";
import { saveSnapshots } from "../../../src/store/writes";
import { extractInferenceId, extractRuntimeKey } from "../../../src/turn/attribution";
import { attributionProblem } from "../../../src/turn/attribution-value";
import { prepareSnapshot } from "../../../src/turn/snapshot";
import { call, databaseDigest, get, json, post, tableCounts, turnBody, uid } from "../harness";

// Many writes: keep their info lines out of the report (5xx error lines still go to console.error).
beforeAll(() => {
  vi.spyOn(console, "log").mockImplementation(() => {});
});
afterAll(() => {
  vi.restoreAllMocks();
});

async function snapshotRows(conv: string) {
  const { results } = await env.DB.prepare(
    "SELECT session_id, turn_id, phase, created_at_ms, runtime_key FROM turn_snapshots WHERE conv_id = ?1 ORDER BY created_at_ms, turn_id, phase",
  )
    .bind(conv)
    .all<{ session_id: string; turn_id: string; phase: string; created_at_ms: number; runtime_key: string }>();
  return results;
}

async function conversation(conv: string) {
  const res = await get(`/api/debug/conversations/${encodeURIComponent(conv)}`);
  expect(res.status).toBe(200);
  return json(res);
}

const RUNTIMES = ["inventory", "planner", "research", "support"];

describe("concurrent writers", () => {
  it("N writers on one conversation (single posts, batches and switches at once): every snapshot once, counts and pointer right", async () => {
    const conv = uid("conv-many");
    // 24 single posts + 4 batches of 4 + 6 switches, all in flight together. Event times are
    // distinct, so the newest event is well defined; the slowest writer is not the newest.
    const singles = Array.from({ length: 24 }, (_, i) =>
      turnBody({
        conv_id: conv,
        session_id: "s",
        turn_id: `t${i % 8}`,
        phase: `p${Math.floor(i / 8)}`,
        created_at_ms: 1000 + i * 7,
        runtime_key: RUNTIMES[i % 4],
        inference_id: `inf-${i}`,
      }),
    );
    const batches = Array.from({ length: 4 }, (_, b) =>
      Array.from({ length: 4 }, (_, j) =>
        turnBody({
          conv_id: conv,
          session_id: "s",
          turn_id: `bt${b}`,
          phase: `q${j}`,
          created_at_ms: 2000 + b * 10 + j,
          runtime_key: j === 3 ? "" : RUNTIMES[(b + j) % 4],
        }),
      ),
    );
    const switches = Array.from({ length: 6 }, (_, k) => ({ runtime_key: `switch-${k}`, session_id: "s", at_ms: 1500 + k * 200 }));
    const responses = await Promise.all([
      ...singles.map((body) => post("/api/turns", body)),
      ...batches.map((items) => post("/api/turns/batch", { items })),
      ...switches.map((body) => call("PUT", `/api/conversations/${conv}/runtime`, { body })),
    ]);
    expect(responses.map((r) => r.status)).toEqual([...singles.map(() => 201), ...batches.map(() => 201), ...switches.map(() => 200)]);

    const expected = [...singles, ...batches.flat()]
      .map((b) => ({
        session_id: "s",
        turn_id: b.turn_id!,
        phase: b.phase!,
        created_at_ms: b.created_at_ms!,
        runtime_key: b.runtime_key ?? "",
      }))
      .sort((a, b) => a.created_at_ms - b.created_at_ms || a.turn_id.localeCompare(b.turn_id));
    expect(await snapshotRows(conv)).toEqual(expected);

    // Newest event: switch-5 at 2500 vs the batches (up to 2033) and singles (up to 1161) → switch-5.
    expect(await conversation(conv)).toMatchObject({
      resolved_runtime_key: "switch-5",
      turn_count: 8 + 4,
      snapshot_count: 24 + 16,
      created_at_ms: 1000,
      last_activity_ms: 2500,
    });
    // Every turn's runtime is its own newest snapshot's, not the pointer.
    for (let t = 0; t < 8; t++) {
      const own = singles.filter((b) => b.turn_id === `t${t}`).sort((a, b) => b.created_at_ms! - a.created_at_ms!)[0]!;
      const row = await env.DB.prepare("SELECT runtime_key, inference_id FROM turns WHERE conv_id = ?1 AND turn_id = ?2")
        .bind(conv, `t${t}`)
        .first();
      expect(row).toEqual({ runtime_key: own.runtime_key, inference_id: own.inference_id });
    }
    for (let b = 0; b < 4; b++) {
      const row = await env.DB.prepare("SELECT runtime_key FROM turns WHERE conv_id = ?1 AND turn_id = ?2")
        .bind(conv, `bt${b}`)
        .first<string>("runtime_key");
      // q3 (newest) has no runtime, so the turn keeps q2's.
      expect(row).toBe(RUNTIMES[(b + 2) % 4]);
    }
  });

  it("writers on many conversations at once, each with its own pointer", async () => {
    const convs = Array.from({ length: 12 }, (_, i) => uid(`conv-par${i}`));
    const responses = await Promise.all(
      convs.flatMap((conv, i) =>
        Array.from({ length: 5 }, (_, j) =>
          post(
            "/api/turns",
            turnBody({ conv_id: conv, session_id: `s${i}`, turn_id: `t${j}`, created_at_ms: 100 + j, runtime_key: RUNTIMES[(i + j) % 4] }),
          ),
        ),
      ),
    );
    expect(responses.every((r) => r.status === 201)).toBe(true);
    for (const [i, conv] of convs.entries()) {
      expect((await snapshotRows(conv)).map((r) => r.turn_id)).toEqual(["t0", "t1", "t2", "t3", "t4"]);
      expect(await conversation(conv)).toMatchObject({
        session_id: `s${i}`,
        resolved_runtime_key: RUNTIMES[(i + 4) % 4],
        turn_count: 5,
        snapshot_count: 5,
      });
    }
  });

  it("the same snapshot posted 12 times at once is stored once: one 201, the rest 200, all with the same body", async () => {
    const conv = uid("conv-same");
    const body = turnBody({ conv_id: conv, session_id: "s", turn_id: "t", created_at_ms: 42, runtime_key: "planner", inference_id: "inf" });
    const before = await tableCounts();
    const responses = await Promise.all(Array.from({ length: 12 }, () => post("/api/turns", body)));
    const statuses = responses.map((r) => r.status).sort();
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 201]);
    const bodies = await Promise.all(responses.map((r) => r.json()));
    for (const b of bodies)
      expect(b).toEqual({
        conv_id: conv,
        session_id: "s",
        turn_id: "t",
        phase: "final",
        created_at_ms: 42,
        runtime_key: "planner",
        inference_id: "inf",
      });
    expect(await snapshotRows(conv)).toHaveLength(1);
    expect(await conversation(conv)).toMatchObject({ turn_count: 1, snapshot_count: 1 });
    const after = await tableCounts();
    expect({
      snapshots: after.turn_snapshots! - before.turn_snapshots!,
      turns: after.turns! - before.turns!,
      blocks: after.blocks! - before.blocks!,
    }).toEqual({ snapshots: 1, turns: 1, blocks: 2 });
  });

  it("overlapping batches at once: every snapshot stored exactly once, counters counted once", async () => {
    const conv = uid("conv-overlap");
    const item = (i: number) => turnBody({ conv_id: conv, session_id: "s", turn_id: `t${i}`, created_at_ms: 10 + i });
    // Batch k holds items k..k+4: neighbours share four items.
    const responses = await Promise.all(
      Array.from({ length: 8 }, (_, k) => post("/api/turns/batch", { items: [0, 1, 2, 3, 4].map((j) => item(k + j)) })),
    );
    expect(responses.map((r) => r.status).every((s) => s === 201 || s === 200)).toBe(true);
    for (const r of responses) expect((await json(r)).items).toHaveLength(5);
    expect((await snapshotRows(conv)).map((r) => r.turn_id)).toEqual(Array.from({ length: 12 }, (_, i) => `t${i}`));
    expect(await conversation(conv)).toMatchObject({ turn_count: 12, snapshot_count: 12 });
  });

  it("different snapshots under one identity at once: exactly one is stored, the others get 409", async () => {
    const conv = uid("conv-race");
    const responses = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        post("/api/turns", turnBody({ conv_id: conv, session_id: "s", turn_id: "t", created_at_ms: 7, text: `version ${i}` })),
      ),
    );
    const statuses = responses.map((r) => r.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(7);
    const winner = statuses.indexOf(201);
    const detail = await json(await get(`/api/debug/turn/${conv}/s/t`));
    expect(detail.items).toHaveLength(1);
    expect(detail.items[0]!.parsed.blocks[1]!.payload.text).toBe(`version ${winner}`);
    expect(await conversation(conv)).toMatchObject({ turn_count: 1, snapshot_count: 1 });
  });
});

describe("a failure inside a write batch leaves no partial rows", () => {
  // A real D1 constraint error raised by the database in the middle of the batch: the trigger
  // fires on the turns upsert, the last statement, after the snapshot, block and conversation
  // statements of the same batch have run.
  beforeAll(async () => {
    await env.DB.batch([
      env.DB.prepare(
        "CREATE TRIGGER refuse_turn_poison BEFORE INSERT ON turns WHEN NEW.conv_id LIKE 'poison-%' BEGIN SELECT RAISE(ABORT, 'injected: turn refused'); END",
      ),
      env.DB.prepare(
        "CREATE TRIGGER refuse_block_poison BEFORE INSERT ON blocks WHEN NEW.block_id = 'poison-block' BEGIN SELECT RAISE(ABORT, 'injected: block refused'); END",
      ),
      env.DB.prepare(
        "CREATE TRIGGER refuse_pointer_poison BEFORE UPDATE ON conversations WHEN NEW.current_runtime_key = 'poison-runtime' BEGIN SELECT RAISE(ABORT, 'injected: pointer refused'); END",
      ),
    ]);
  });
  afterAll(async () => {
    await env.DB.batch(
      ["refuse_turn_poison", "refuse_block_poison", "refuse_pointer_poison"].map((t) => env.DB.prepare(`DROP TRIGGER IF EXISTS ${t}`)),
    );
  });

  async function expectInternalErrorAndNoChange(send: () => Promise<Response>) {
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    const before = await databaseDigest();
    const res = await send();
    expect(res.status).toBe(500);
    expect((await json(res)).error.code).toBe("INTERNAL");
    expect(await databaseDigest()).toBe(before);
    // The cause is logged (once), with the request id the client was given.
    expect(errors).toHaveBeenCalledTimes(1);
    expect(String(errors.mock.calls[0]![0])).toContain(res.headers.get("x-request-id")!);
    expect(String(errors.mock.calls[0]![0])).toContain("injected");
    errors.mockRestore();
  }

  it("a batch whose last item's turn row is refused stores none of its items", async () => {
    const good = uid("conv-good");
    const poison = uid("poison");
    const items = [
      turnBody({ conv_id: good, session_id: "s", turn_id: "a", created_at_ms: 1, runtime_key: "planner" }),
      turnBody({ conv_id: good, session_id: "s", turn_id: "b", created_at_ms: 2, runtime_key: "research" }),
      turnBody({ conv_id: poison, session_id: "s", turn_id: "c", created_at_ms: 3 }),
    ];
    await expectInternalErrorAndNoChange(() => post("/api/turns/batch", { items }));
    expect((await get(`/api/debug/conversations/${good}`)).status).toBe(404);

    // Without the poisoned item the same batch goes through, counted once: the aborted attempt
    // left no counter increments behind.
    const res = await post("/api/turns/batch", { items: items.slice(0, 2) });
    expect(res.status).toBe(201);
    expect(await conversation(good)).toMatchObject({ resolved_runtime_key: "research", turn_count: 2, snapshot_count: 2 });
  });

  it("a refused block row (second statement) leaves nothing of the snapshot or its conversation", async () => {
    const conv = uid("conv-block");
    await expectInternalErrorAndNoChange(() =>
      post(
        "/api/turns",
        turnBody({
          conv_id: conv,
          session_id: "s",
          turn_id: "t",
          created_at_ms: 1,
          blocks: [
            { kind: "user", payload: { text: "ok" } },
            { id: "poison-block", kind: "user" },
          ],
        }),
      ),
    );
    expect((await get(`/api/debug/conversations/${conv}`)).status).toBe(404);
  });

  it("a refused pointer update on an existing conversation leaves the snapshot unstored and the pointer as it was", async () => {
    const conv = uid("conv-pointer");
    expect(
      (await post("/api/turns", turnBody({ conv_id: conv, session_id: "s", turn_id: "t1", created_at_ms: 1, runtime_key: "planner" })))
        .status,
    ).toBe(201);
    await expectInternalErrorAndNoChange(() =>
      post("/api/turns", turnBody({ conv_id: conv, session_id: "s", turn_id: "t2", created_at_ms: 2, runtime_key: "poison-runtime" })),
    );
    await expectInternalErrorAndNoChange(() =>
      call("PUT", `/api/conversations/${conv}/runtime`, { body: { runtime_key: "poison-runtime", at_ms: 5 } }),
    );
    expect(await conversation(conv)).toMatchObject({
      resolved_runtime_key: "planner",
      turn_count: 1,
      snapshot_count: 1,
      last_activity_ms: 1,
    });
  });

  it("store level: any statement failing after the writes rolls the whole batch back (D1 batch atomicity)", async () => {
    const conv = uid("conv-store");
    const snapshots = await Promise.all(
      [1, 2, 3].map((i) =>
        prepareSnapshot(
          {
            conv_id: conv,
            session_id: "s",
            turn_id: `t${i}`,
            created_at_ms: i,
            runtime_key: "planner",
            turn: { blocks: [{ kind: "user", payload: { i } }] },
          },
          { nowMs: 0, maxClockSkewMs: Number.POSITIVE_INFINITY },
        ),
      ),
    );
    // The store's own statements, then one the database refuses (NOT NULL constraint).
    const failing = env.DB.prepare("INSERT INTO turn_snapshots (conv_id) VALUES (NULL)");
    const handle: D1Handle = {
      prepare: (query) => env.DB.prepare(query),
      batch: <T>(statements: D1PreparedStatement[]) => env.DB.batch<T>([...statements, failing]),
    };
    const before = await databaseDigest();
    await expect(saveSnapshots(handle, snapshots)).rejects.toThrow(/NOT NULL constraint failed/);
    expect(await databaseDigest()).toBe(before);
    // The same snapshots with the real handle: stored once.
    expect((await saveSnapshots(env.DB, snapshots)).outcomes).toEqual(["created", "created", "created"]);
    expect(await snapshotRows(conv)).toHaveLength(3);
  });
});

describe("the backfill step over data the Worker wrote", () => {
  const backfill = () => env.TEST_MIGRATIONS.find((m) => m.name.includes("backfill"))!.queries;

  it("re-running it changes nothing (pointers moved by switches, explicit runtimes that differ from metadata, unknown values)", async () => {
    const conv = uid("conv-rerun");
    const writes = [
      // Explicit runtime disagreeing with the metadata: the explicit one is the truth and stays.
      turnBody({
        conv_id: conv,
        session_id: "s",
        turn_id: "t1",
        created_at_ms: 10,
        runtime_key: "explicit",
        inference_id: "inf-x",
        metadata: { "geppetto.runtime@v1": "from-metadata", inference_id: "inf-m" },
      }),
      // From metadata only.
      turnBody({ conv_id: conv, session_id: "s", turn_id: "t2", created_at_ms: 20, metadata: { runtime: { slug: "slugged" } } }),
      // Unknown: stays ''.
      turnBody({ conv_id: conv, session_id: "s", turn_id: "t3", created_at_ms: 30, metadata: { other: 1 } }),
      // Metadata that is not what the rule reads.
      turnBody({
        conv_id: conv,
        session_id: "s",
        turn_id: "t4",
        created_at_ms: 40,
        metadata: { runtime: [1], inference_id: { nested: { too: { deep: "x" } } } },
      }),
    ];
    for (const body of writes) expect((await post("/api/turns", body)).status).toBe(201);
    // A switch newer than every turn: the pointer names a runtime no turn has.
    expect((await call("PUT", `/api/conversations/${conv}/runtime`, { body: { runtime_key: "switched", at_ms: 50 } })).status).toBe(200);
    expect((await conversation(conv)).resolved_runtime_key).toBe("switched");

    const before = await databaseDigest();
    for (const query of backfill()) await env.DB.prepare(query).run();
    expect(await databaseDigest()).toBe(before);
  });

  // Ingestion (TypeScript) and the backfill (SQL) implement one extraction rule: blank a stored
  // turn's values and the backfill must re-derive, from the stored metadata, exactly what ingestion
  // extracted. Numbers are limited to integers below 2^53 and decimals with few digits — see the
  // known divergence below.
  it("re-derives from stored metadata exactly what ingestion extracted (random metadata)", { timeout: 60_000 }, async () => {
    const leaf = fc.oneof(
      fc.constantFrom("planner", " padded \t", "", " ", "\n", "inf-1", "0", "x y"),
      fc.string({ unit: "grapheme", maxLength: 6 }),
      fc.integer({ min: -(2 ** 53 - 1), max: 2 ** 53 - 1 }),
      fc.integer({ min: -1e6, max: 1e6 }).map((n) => n / 100),
      fc.constantFrom(null, true, false, [], ["planner"], {}),
    );
    const keys = fc.constantFrom("runtime_key", "key", "slug", "profile", "profile_key", "inference_id", "id", "other");
    const value = fc.letrec((tie) => ({
      v: fc.oneof({ depthSize: "small", maxDepth: 3 }, leaf, fc.dictionary(keys, tie("v"), { maxKeys: 3 })),
    })).v;
    const metadata = fc.dictionary(
      fc.constantFrom("geppetto.runtime@v1", "runtime", "runtime_key", "geppetto.inference_id@v1", "inference_id", "note"),
      value,
      { maxKeys: 5 },
    );
    await fc.assert(
      fc.asyncProperty(metadata, async (meta) => {
        const conv = uid("conv-rule");
        const res = await post("/api/turns", turnBody({ conv_id: conv, session_id: "s", turn_id: "t", created_at_ms: 5, metadata: meta }));
        const stored = JSON.parse(JSON.stringify(meta));
        // New writes refuse values the rule for runtime keys and inference ids refuses (control or
        // format characters, not NFC: attribution-value.ts); the backfill of old rows does not apply it.
        if ([extractRuntimeKey(stored), extractInferenceId(stored)].some((v) => attributionProblem("value", v) !== null)) {
          expect(res.status).toBe(422);
          return;
        }
        expect(res.status).toBe(201);
        const answered = await json(res);
        expect({ runtime_key: answered.runtime_key, inference_id: answered.inference_id }).toEqual({
          runtime_key: extractRuntimeKey(stored),
          inference_id: extractInferenceId(stored),
        });
        await env.DB.prepare(
          "UPDATE turns SET runtime_key = '', inference_id = '', runtime_key_at_ms = 0, inference_id_at_ms = 0 WHERE conv_id = ?1",
        )
          .bind(conv)
          .run();
        for (const query of backfill()) await env.DB.prepare(query).run();
        const row = await env.DB.prepare("SELECT runtime_key, inference_id FROM turns WHERE conv_id = ?1").bind(conv).first();
        expect(row).toEqual({ runtime_key: answered.runtime_key, inference_id: answered.inference_id });
      }),
      { numRuns: 40, interruptAfterTimeLimit: 45_000, markInterruptAsFailure: true },
    );
  });

  // KNOWN DIVERGENCE (reported, not fixed here): for numbers SQLite prints with 15 significant
  // digits and its own exponent style, so the SQL rule and the TypeScript rule disagree on e.g.
  // 1e21 ("1.0e+21" vs "1e+21") and 0.30000000000000004 ("0.3" vs "0.30000000000000004"). Only a
  // runtime or inference id written as such a number in old metadata is affected. it.fails keeps
  // the case visible: it starts failing (and should become a plain test) once the rules agree.
  it.fails("known divergence: the backfill formats large and long numbers unlike ingestion", async () => {
    for (const [n, i] of [[1e21, 0.30000000000000004]] as const) {
      const conv = uid("conv-num");
      const res = await post(
        "/api/turns",
        turnBody({ conv_id: conv, session_id: "s", turn_id: "t", created_at_ms: 5, metadata: { runtime: n, inference_id: i } }),
      );
      const answered = await json(res);
      await env.DB.prepare(
        "UPDATE turns SET runtime_key = '', inference_id = '', runtime_key_at_ms = 0, inference_id_at_ms = 0 WHERE conv_id = ?1",
      )
        .bind(conv)
        .run();
      for (const query of backfill()) await env.DB.prepare(query).run();
      const row = await env.DB.prepare("SELECT runtime_key, inference_id FROM turns WHERE conv_id = ?1").bind(conv).first();
      expect(row).toEqual({ runtime_key: answered.runtime_key, inference_id: answered.inference_id });
    }
  });
});
