/**
 * Data lifecycle (CONTRACT §5.6): DELETE /api/conversations/:conv_id removes every row of the
 * conversation and every block no other conversation references, leaves the rest as it was,
 * recovers from an interrupted run, and the scheduled handler applies RETENTION_DAYS.
 */
import { env } from "cloudflare:workers";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { runMaintenance } from "../../../src/scheduled";
import type { D1Handle } from "../../../src/store/d1";
import { call, DEBUG_TOKEN, get, INGEST_TOKEN, json, post, ROW_ORDER, TABLES, uid, uidOn } from "../harness";

const ADMIN = env.ADMIN_TOKEN;
const del = (conv: string, options: Parameters<typeof call>[2] = {}) =>
  call("DELETE", `/api/conversations/${encodeURIComponent(conv)}`, { token: ADMIN, ...options });

beforeAll(() => {
  vi.spyOn(console, "log").mockImplementation(() => {});
});
afterAll(() => {
  vi.restoreAllMocks();
});

const shared = { id: "shared-system", kind: "system", role: "system", payload: { text: "the same system prompt everywhere" } };

/** A conversation of `turns` turns × 3 phases, each snapshot repeating its history, plus a switch. */
async function seed(conv: string, turns: number, at = 1_000) {
  const history: unknown[] = [shared];
  const items = [];
  for (let t = 0; t < turns; t++) {
    history.push({ id: `${conv}-u${t}`, kind: "user", role: "user", payload: { text: `q${t}` } });
    items.push({
      conv_id: conv,
      session_id: "s",
      phase: "pre_inference",
      created_at_ms: at + t * 10,
      runtime_key: "inventory",
      turn: { id: `t${t}`, blocks: [...history] },
    });
    history.push({ id: `${conv}-a${t}`, kind: "llm_text", payload: { text: `a${t}` } });
    items.push({
      conv_id: conv,
      session_id: "s",
      phase: "final",
      created_at_ms: at + t * 10 + 1,
      runtime_key: "planner",
      turn: { id: `t${t}`, blocks: [...history] },
    });
  }
  for (let i = 0; i < items.length; i += 100) expect((await post("/api/turns/batch", { items: items.slice(i, i + 100) })).status).toBe(201);
  expect(
    (
      await call("PUT", `/api/conversations/${encodeURIComponent(conv)}/runtime`, {
        body: { runtime_key: "research", at_ms: at + turns * 10 },
      })
    ).status,
  ).toBe(200);
}

/** Every row of every table that does not belong to `conv` (ref_count aside: shared blocks lose references). */
async function everythingBut(conv: string): Promise<string> {
  const rows = await env.DB.batch(
    TABLES.map((t) =>
      t === "blocks"
        ? env.DB.prepare(
            "SELECT block_id, content_hash, kind, role, payload_json, block_metadata_json, first_seen_at_ms FROM blocks WHERE block_id NOT LIKE ?1 ORDER BY block_id, content_hash",
          ).bind(`${conv}-%`)
        : env.DB.prepare(`SELECT * FROM ${t} WHERE conv_id <> ?1 ORDER BY ${ROW_ORDER(t)}`).bind(conv),
    ),
  );
  return JSON.stringify(rows.map((r) => r.results));
}

async function rowsOf(conv: string): Promise<Record<string, number>> {
  const counts = await env.DB.batch(
    TABLES.map((t) =>
      t === "blocks"
        ? env.DB.prepare("SELECT count(*) AS n FROM blocks WHERE block_id LIKE ?1").bind(`${conv}-%`)
        : env.DB.prepare(`SELECT count(*) AS n FROM ${t} WHERE conv_id = ?1`).bind(conv),
    ),
  );
  return Object.fromEntries(TABLES.map((t, i) => [t, (counts[i]!.results[0] as { n: number }).n]));
}

/** Nothing of a deleted conversation is left but its tombstone (the time of its deletion: CONTRACT §6.3). */
const nothing = Object.fromEntries(TABLES.map((t) => [t, t === "conversation_tombstones" ? 1 : 0]));

describe("DELETE /api/conversations/:conv_id", () => {
  it("removes every row of the conversation and its unshared blocks; shared blocks and other conversations stay as they were", async () => {
    const gone = uidOn("DB", "conv-del");
    const kept = uidOn("DB", "conv-keep");
    await seed(gone, 20);
    await seed(kept, 5);
    const keptReads = JSON.stringify([
      await json(await get(`/api/debug/turns?conv_id=${kept}`)),
      await json(await get(`/api/debug/conversations/${kept}`)),
    ]);
    const others = await everythingBut(gone);

    const res = await del(gone);
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({
      conv_id: gone,
      complete: true,
      deleted: { turns: 20, snapshots: 40, block_nodes: 41, blocks: 40, membership: 0 },
    });
    expect(await rowsOf(gone)).toEqual(nothing);
    expect(await everythingBut(gone)).toBe(others);
    // The shared block survives with the references of the other conversation only.
    expect(await env.DB.prepare("SELECT ref_count FROM blocks WHERE block_id = 'shared-system'").first("ref_count")).toBeGreaterThan(0);
    expect(
      JSON.stringify([
        await json(await get(`/api/debug/turns?conv_id=${kept}`)),
        await json(await get(`/api/debug/conversations/${kept}`)),
      ]),
    ).toBe(keptReads);
    // No orphan: every block is referenced by a path (or legacy data).
    const orphans = await env.DB.prepare(
      "SELECT count(*) AS n FROM blocks b WHERE NOT EXISTS (SELECT 1 FROM block_nodes n WHERE n.block_id = b.block_id AND n.content_hash = b.content_hash)",
    ).first("n");
    expect(orphans).toBe(0);
    // It is gone from every read.
    expect((await get(`/api/debug/conversations/${gone}`)).status).toBe(404);
    expect((await json(await get(`/api/debug/turns?conv_id=${gone}`))).items).toEqual([]);
    expect((await get(`/api/debug/turn/${gone}/s/t0`)).status).toBe(404);
    expect((await del(gone)).status).toBe(404);
  });

  it("404 for an unknown conversation; the credentials of other surfaces are refused", async () => {
    const conv = uid("conv-auth");
    await seed(conv, 1);
    expect((await del(uid("never"))).status).toBe(404);
    for (const token of [INGEST_TOKEN, DEBUG_TOKEN, "wrong", null]) {
      const res = await del(conv, { token });
      expect(res.status).toBe(401);
    }
    const { token } = await json(await post("/api/tokens", { conv_id: conv }));
    const scoped = await del(conv, { token });
    expect(scoped.status).toBe(403);
    expect((await json(scoped)).error.code).toBe("FORBIDDEN");
    expect(await rowsOf(conv)).not.toEqual(nothing);
  });

  it("does not exist while ADMIN_TOKEN is unset: 404 for every method", async () => {
    const conv = uid("conv-off");
    await seed(conv, 1);
    for (const method of ["DELETE", "GET", "POST", "PUT", "PATCH"]) {
      for (const token of [ADMIN, "x", null]) {
        const res = await call(method, `/api/conversations/${conv}`, { token, env: { ADMIN_TOKEN: "" } as Partial<Env> });
        expect(res.status, `${method} ${token}`).toBe(404);
      }
    }
    // Its sub-routes are not gated.
    expect(
      (await call("PUT", `/api/conversations/${conv}/runtime`, { body: { runtime_key: "x" }, env: { ADMIN_TOKEN: "" } as Partial<Env> }))
        .status,
    ).toBe(200);
  });

  it("an interrupted deletion is unreadable at once and finished by a re-run or the scheduled handler", async () => {
    for (const finish of ["route", "scheduled"] as const) {
      const conv = uidOn("DB", `conv-int-${finish}`);
      await seed(conv, 30);
      // The deletion's second batch (its first purge) fails, after the conversation row is gone.
      let batches = 0;
      const failing: D1Handle & Pick<D1Database, "withSession"> = {
        prepare: (sql) => env.DB.prepare(sql),
        batch: async (statements) => {
          batches += 1;
          if (batches === 2) throw new Error("D1_ERROR: injected failure");
          return env.DB.batch(statements);
        },
        withSession: () => ({ ...failing, getBookmark: () => null }) as unknown as D1DatabaseSession,
      } as D1Handle & Pick<D1Database, "withSession">;
      const interrupted = await del(conv, { env: { DB: failing as unknown as D1Database } });
      expect(interrupted.status).toBeGreaterThanOrEqual(500);
      expect((await get(`/api/debug/conversations/${conv}`)).status).toBe(404);
      expect((await json(await get(`/api/debug/turns?conv_id=${conv}`))).items).toEqual([]);
      // Writes cannot recreate it meanwhile.
      const write = await post("/api/turns", { conv_id: conv, session_id: "s", created_at_ms: 5, turn: { id: "late" } });
      expect(write.status).toBe(409);
      expect((await json(write)).error.code).toBe("CONVERSATION_DELETING");
      expect((await call("PUT", `/api/conversations/${conv}/runtime`, { body: { runtime_key: "x", session_id: "s" } })).status).toBe(409);
      expect(await rowsOf(conv)).not.toEqual(nothing);
      if (finish === "route") {
        const again = await del(conv);
        expect(again.status).toBe(200);
        expect((await json(again)).complete).toBe(true);
      } else {
        const report = await runMaintenance(env);
        expect(report.deleted_conversations).toContain(conv);
      }
      expect(await rowsOf(conv)).toEqual(nothing);
      // Afterwards the id is free again.
      expect((await post("/api/turns", { conv_id: conv, session_id: "s", created_at_ms: 5, turn: { id: "new" } })).status).toBe(201);
    }
  });
});

describe("writes racing a deletion", () => {
  it("a deletion that begins between a write's read and its write batch: the batch is refused, the write answers 409 and stores nothing", async () => {
    const conv = uidOn("DB", "conv-race");
    await seed(conv, 1);
    const before = await rowsOf(conv);
    // Block references take the read-then-write path; the deletion begins right after its read.
    let batches = 0;
    const racing: D1Handle & Pick<D1Database, "withSession"> = {
      prepare: (sql) => env.DB.prepare(sql),
      batch: async (statements) => {
        batches += 1;
        if (batches === 2)
          await env.DB.prepare("INSERT INTO conversation_deletions (conv_id, requested_at_ms, reason) VALUES (?1, 1, 'test')")
            .bind(conv)
            .run();
        return env.DB.batch(statements);
      },
      withSession: () => ({ ...racing, getBookmark: () => null }) as unknown as D1DatabaseSession,
    } as D1Handle & Pick<D1Database, "withSession">;
    const hash = (await env.DB.prepare("SELECT content_hash FROM block_nodes WHERE conv_id = ?1 AND block_id = ?2")
      .bind(conv, shared.id)
      .first<string>("content_hash"))!;
    const write = await call("POST", "/api/turns", {
      body: {
        conv_id: conv,
        session_id: "s",
        created_at_ms: 5_000,
        turn: {
          id: "late",
          blocks: [
            { id: shared.id, content_hash: hash },
            { id: "new", kind: "user", payload: { text: "n" } },
          ],
        },
      },
      env: { DB: racing as unknown as D1Database },
    });
    expect(write.status).toBe(409);
    expect((await json(write)).error.code).toBe("CONVERSATION_DELETING");
    // The refused batch was planned again (a read, which saw the deletion): nothing was written.
    expect(batches).toBe(3);
    await env.DB.prepare("DELETE FROM conversation_deletions WHERE conv_id = ?1").bind(conv).run();
    expect(await rowsOf(conv)).toEqual(before);
  });
});

describe("retention (RETENTION_DAYS, scheduled handler)", () => {
  it("deletes only conversations idle past the limit, and logs one line per run", async () => {
    const now = Date.UTC(2026, 10, 30);
    const day = 86_400_000;
    const old = uidOn("DB", "conv-old");
    const recent = uidOn("DB", "conv-recent");
    await seed(old, 3, now - 40 * day);
    await seed(recent, 3, now - 10 * day);
    expect((await runMaintenance({ ...env, RETENTION_DAYS: "" }, now)).deleted_conversations).toEqual([]);
    const report = await runMaintenance({ ...env, RETENTION_DAYS: "30" }, now);
    expect(report.deleted_conversations).toContain(old);
    expect(report.deleted_conversations).not.toContain(recent);
    expect(await rowsOf(old)).toEqual(nothing);
    expect((await get(`/api/debug/conversations/${recent}`)).status).toBe(200);

    const lines: string[] = [];
    const spy = vi.spyOn(console, "log").mockImplementation((line: string) => void lines.push(line));
    const { scheduled } = await import("../../../src/scheduled");
    await scheduled({ cron: "*/10 * * * *", scheduledTime: now, noRetry: () => {} } as ScheduledController, {
      ...env,
      RETENTION_DAYS: "30",
    });
    spy.mockImplementation(() => {});
    const logged = lines.map((l) => JSON.parse(l)).filter((l) => l.event === "maintenance");
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({
      level: "info",
      retention_days: 30,
      deleted_conversations: expect.any(Array),
      deleted: expect.any(Object),
    });
  });
});
