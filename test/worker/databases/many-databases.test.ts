/**
 * Many D1 databases (CONTRACT §6.4), in the worker-3db project: DB, DB_1 and DB_2 hold
 * conversations. Placement on first write, each conversation wholly in one database, debug walks
 * merged across them, conversation tokens carrying the placement, batches refused whole when they
 * span databases, a one-database deployment grown to three with nothing moved, and moves — whole,
 * under concurrent writes, and interrupted at every statement then resumed.
 */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { runMaintenance } from "../../../src/scheduled";
import type { D1Handle } from "../../../src/store/d1";
import { moveConversation } from "../../../src/store/moves";
import { placeConversation } from "../../../src/turn/placement";
import { call, expectError, get, json, post, turnBody, uid } from "../harness";

const BINDINGS = ["DB", "DB_1", "DB_2"] as const;
type Binding = (typeof BINDINGS)[number];
const database = (binding: string) => (env as unknown as Record<string, D1Database>)[binding]!;
const ADMIN = { token: env.ADMIN_TOKEN };
const CONVERSATION_TABLES = ["conversations", "turns", "turn_snapshots", "block_nodes", "turn_block_membership", "conversation_deletions"];

/** Where the rows of a conversation are: binding → rows per table (only databases holding any). */
async function rowsOf(convId: string): Promise<Record<string, Record<string, number>>> {
  const found: Record<string, Record<string, number>> = {};
  for (const binding of BINDINGS) {
    const db = database(binding);
    const counts = await db.batch<{ n: number }>(
      CONVERSATION_TABLES.map((t) => db.prepare(`SELECT count(*) AS n FROM ${t} WHERE conv_id = ?1`).bind(convId)),
    );
    const byTable = Object.fromEntries(CONVERSATION_TABLES.map((t, i) => [t, counts[i]!.results[0]!.n]));
    if (Object.values(byTable).some((n) => n > 0)) found[binding] = byTable;
  }
  return found;
}

async function directoryOf(convId: string) {
  return env.DB.prepare("SELECT binding, moving_to, moved_from FROM conversation_directory WHERE conv_id = ?1").bind(convId).first<{
    binding: string;
    moving_to: string | null;
    moved_from: string | null;
  }>();
}

/** A conversation of `turns` turns, two phases each, with a runtime switch halfway; one batch per turn. */
async function writeConversation(convId: string, turns: number, base = 1_000_000): Promise<void> {
  for (let t = 0; t < turns; t++) {
    const runtime = t < turns / 2 ? "inventory" : "planner";
    const items = ["pre_inference", "final"].map((phase, p) =>
      turnBody({
        conv_id: convId,
        session_id: "s1",
        turn_id: `t${t}`,
        phase,
        created_at_ms: base + t * 10 + p,
        runtime_key: runtime,
        inference_id: `inf-${t}`,
        text: `answer ${t} of ${convId} ${"x".repeat(t * 50)}`,
      }),
    );
    const res = await post("/api/turns/batch", { items });
    expect(res.status, JSON.stringify(await res.clone().json())).toBe(201);
  }
}

/** Everything the debug API and the export say about a conversation (what a move must keep). */
async function readBack(convId: string): Promise<unknown> {
  const enc = encodeURIComponent(convId);
  const conversation = await json(await get(`/api/debug/conversations/${enc}`));
  const turns = await json(await get(`/api/debug/turns?conv_id=${enc}&limit=200`));
  const exported = await (await get(`/api/debug/conversations/${enc}/export?format=jsonl`)).text();
  const detail = await json(await get(`/api/debug/turn/${enc}/s1/t0`));
  return { conversation, turns, exported, detail };
}

/** A conversation id the placement rule puts on `binding` (over the three open databases). */
function idPlacedOn(binding: Binding, prefix: string): string {
  for (let i = 0; ; i++) {
    const id = `${prefix}-${i}`;
    if (placeConversation(id, BINDINGS) === binding) return id;
  }
}

describe("placement", () => {
  const convs = Array.from({ length: 300 }, (_, i) => `spread-${i.toString().padStart(3, "0")}`);

  beforeAll(async () => {
    // Ties on purpose: ten conversations share each activity time, so pages cut between databases.
    for (const [i, convId] of convs.entries()) {
      const res = await post(
        "/api/turns",
        turnBody({
          conv_id: convId,
          session_id: "spread-session",
          turn_id: "t",
          created_at_ms: 5_000_000 + Math.floor(i / 10),
          runtime_key: `rt-${i % 3}`,
        }),
      );
      expect(res.status).toBe(201);
    }
  });

  it("spreads 300 conversations over all three databases, each wholly in one, as the directory says", async () => {
    const perDatabase: Record<string, number> = {};
    for (const convId of convs) {
      const where = await rowsOf(convId);
      expect(Object.keys(where), convId).toHaveLength(1);
      const binding = Object.keys(where)[0]!;
      expect(where[binding]!.turn_snapshots).toBe(1);
      expect((await directoryOf(convId))?.binding).toBe(binding);
      expect(binding).toBe(placeConversation(convId, BINDINGS));
      perDatabase[binding] = (perDatabase[binding] ?? 0) + 1;
    }
    expect(Object.keys(perDatabase).sort()).toEqual([...BINDINGS]);
    for (const binding of BINDINGS) expect(perDatabase[binding]).toBeGreaterThan(60);
  });

  it("walks the conversation list across databases: each exactly once, in order, ties included", async () => {
    for (const limit of [1, 7, 50]) {
      const seen: Array<{ conv_id: string; last_activity_ms: number }> = [];
      let cursor: string | null = null;
      do {
        const url: string = `/api/debug/conversations?limit=${limit}&since_ms=5000000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
        const res = await get(url);
        const body = await json(res);
        expect(res.status, JSON.stringify(body.error)).toBe(200);
        seen.push(...body.items);
        cursor = body.next_cursor;
      } while (cursor !== null);
      const ours = seen.filter((c) => c.conv_id.startsWith("spread-"));
      expect(ours.map((c) => c.conv_id).sort()).toEqual([...convs].sort());
      // Newest activity first, then conv_id: the one-database order.
      const expected = [...ours].sort(
        (a, b) => b.last_activity_ms - a.last_activity_ms || (a.conv_id < b.conv_id ? -1 : a.conv_id > b.conv_id ? 1 : 0),
      );
      expect(ours.map((c) => c.conv_id)).toEqual(expected.map((c) => c.conv_id));
    }
  });

  it("walks turns by session and by runtime across databases, each exactly once", async () => {
    for (const query of ["session_id=spread-session", "session_id=spread-session&runtime_key=rt-1"]) {
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const url: string = `/api/debug/turns?${query}&limit=9${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
        const res = await get(url);
        const body = await json(res);
        expect(res.status, JSON.stringify(body.error)).toBe(200);
        seen.push(...body.items.map((t: { conv_id: string }) => t.conv_id));
        cursor = body.next_cursor;
      } while (cursor !== null);
      const expected = query.includes("runtime") ? convs.filter((_, i) => i % 3 === 1) : convs;
      expect(seen.filter((c) => c.startsWith("spread-")).sort()).toEqual([...expected].sort());
      expect(new Set(seen).size).toBe(seen.length);
    }
  });

  it("keeps every placed conversation where it is when a database is added; new ones use it", () => {
    const ids = Array.from({ length: 2_000 }, (_, i) => `stable-${i}`);
    let moved = 0;
    for (const id of ids) {
      const before = placeConversation(id, ["DB", "DB_1"]);
      const after = placeConversation(id, ["DB", "DB_1", "DB_2"]);
      // Rendezvous: a conversation either stays or goes to the new database, never between old ones.
      if (after !== before) {
        expect(after).toBe("DB_2");
        moved += 1;
      }
    }
    expect(moved / ids.length).toBeGreaterThan(0.25);
    expect(moved / ids.length).toBeLessThan(0.42);
  });

  it("keeps a written conversation in its database after another is opened", async () => {
    const two = { env: { CONVERSATION_DATABASES: "DB,DB_1" } as Partial<Env> };
    const convId = uid("opened");
    expect((await post("/api/turns", turnBody({ conv_id: convId, session_id: "s", turn_id: "a", created_at_ms: 10 }), two)).status).toBe(
      201,
    );
    const first = Object.keys(await rowsOf(convId));
    expect(first).toHaveLength(1);
    expect(["DB", "DB_1"]).toContain(first[0]);
    expect((await post("/api/turns", turnBody({ conv_id: convId, session_id: "s", turn_id: "b", created_at_ms: 20 }))).status).toBe(201);
    expect(Object.keys(await rowsOf(convId))).toEqual(first);
  });
});

describe("a one-database deployment grown to three", () => {
  it("moves nothing: old conversations stay readable and writable in DB, new ones spread", async () => {
    const one = { env: { CONVERSATION_DATABASES: "DB" } as Partial<Env> };
    const old = Array.from({ length: 12 }, (_, i) => uid(`grown-${i}`));
    for (const convId of old) {
      expect((await post("/api/turns", turnBody({ conv_id: convId, session_id: "s", turn_id: "a", created_at_ms: 100 }), one)).status).toBe(
        201,
      );
    }
    for (const convId of old) {
      expect(Object.keys(await rowsOf(convId))).toEqual(["DB"]);
      expect(await directoryOf(convId)).toBeNull();
    }
    // Now three databases: reads find them in DB; their next writes stay there.
    for (const convId of old) {
      const res = await get(`/api/debug/conversations/${encodeURIComponent(convId)}`);
      expect(res.status).toBe(200);
      expect((await post("/api/turns", turnBody({ conv_id: convId, session_id: "s", turn_id: "b", created_at_ms: 200 }))).status).toBe(201);
      expect(await rowsOf(convId)).toEqual({ DB: expect.objectContaining({ turn_snapshots: 2 }) });
    }
  });
});

describe("batches and tokens", () => {
  it("refuses a batch whose conversations live in two databases, whole; one conversation always fits", async () => {
    const a = idPlacedOn("DB_1", uid("batch-a"));
    const b = idPlacedOn("DB_2", uid("batch-b"));
    const items = [a, b].map((convId) => turnBody({ conv_id: convId, session_id: "s", turn_id: "t", created_at_ms: 1_000 }));
    const res = await post("/api/turns/batch", { items });
    await expectError(res, 422, "BATCH_SPANS_DATABASES", /DB_1 and DB_2|DB_2 and DB_1/);
    expect(await rowsOf(a)).toEqual({});
    expect(await rowsOf(b)).toEqual({});
    expect(await directoryOf(a)).toBeNull();
    expect(await directoryOf(b)).toBeNull();
    expect((await post("/api/turns/batch", { items: [items[0], { ...items[0], phase: "final" }] })).status).toBe(201);
    expect(Object.keys(await rowsOf(a))).toEqual(["DB_1"]);
  });

  it("takes back the placement of a first write the database refuses: a refused request leaves no row", async () => {
    const convId = idPlacedOn("DB_1", uid("refused"));
    // Refused inside the write, after placement: more new blocks than one request may store.
    const blocks = (turn: string) => Array.from({ length: 5_001 }, (_, i) => ({ id: `${turn}-${i}`, kind: "user", payload: {} }));
    const items = ["t0", "t1"].map((turnId) => ({
      conv_id: convId,
      session_id: "s",
      created_at_ms: 1,
      turn: { id: turnId, blocks: blocks(turnId) },
    }));
    await expectError(await post("/api/turns/batch", { items }), 413, "TOO_MANY_BLOCKS");
    expect(await directoryOf(convId)).toBeNull();
    expect(await rowsOf(convId)).toEqual({});
    expect((await post("/api/turns", turnBody({ conv_id: convId, session_id: "s", turn_id: "t", created_at_ms: 1 }))).status).toBe(201);
    expect(await directoryOf(convId)).toEqual({ binding: "DB_1", moving_to: null, moved_from: null });
  });

  it("costs a placing write one extra round trip (to the directory), an already placed one none", async () => {
    // Every call a statement or batch makes to D1, per binding: a round trip each.
    const trips: string[] = [];
    const TERMINAL = new Set<string | symbol>(["first", "run", "all", "raw"]);
    const countingStatement = (binding: string, statement: D1PreparedStatement): D1PreparedStatement =>
      new Proxy(statement, {
        get(target, key) {
          const value = Reflect.get(target, key);
          if (key === "bind") return (...args: unknown[]) => countingStatement(binding, target.bind(...args));
          if (TERMINAL.has(key)) {
            return (...args: unknown[]) => {
              trips.push(binding);
              return value.apply(target, args);
            };
          }
          return typeof value === "function" ? value.bind(target) : value;
        },
      });
    const counting = (binding: string, db: D1Database | D1DatabaseSession): D1Database =>
      new Proxy(db as D1Database, {
        get(target, key) {
          const value = Reflect.get(target, key);
          if (key === "withSession") return (c?: string) => counting(binding, target.withSession(c));
          if (key === "prepare") return (sql: string) => countingStatement(binding, target.prepare(sql));
          if (key === "batch") {
            return (statements: D1PreparedStatement[]) => {
              trips.push(binding);
              return target.batch(statements);
            };
          }
          return typeof value === "function" ? value.bind(target) : value;
        },
      });
    const countingEnv = Object.fromEntries(BINDINGS.map((b) => [b, counting(b, database(b))])) as Partial<Env>;
    const convId = idPlacedOn("DB_2", uid("trips"));
    const write = (turnId: string) =>
      call("POST", "/api/turns", {
        body: turnBody({ conv_id: convId, session_id: "s", turn_id: turnId, created_at_ms: 1 }),
        env: countingEnv,
      });

    expect((await write("t1")).status).toBe(201);
    expect(trips).toEqual(["DB", "DB_2"]);
    trips.length = 0;
    expect((await write("t2")).status).toBe(201);
    expect(trips).toEqual(["DB_2"]);
  });

  it("mints conversation tokens that carry the placement, and writes with them land there", async () => {
    const convId = idPlacedOn("DB_2", uid("token"));
    const minted = await json(await post("/api/tokens", { conv_id: convId }));
    const claims = JSON.parse(atob(minted.token.split(".")[2]!.replace(/-/g, "+").replace(/_/g, "/")));
    expect(claims.d).toBe("DB_2");
    const res = await post("/api/turns", turnBody({ conv_id: convId, session_id: "s", turn_id: "t", created_at_ms: 1 }), {
      token: minted.token,
    });
    expect(res.status).toBe(201);
    expect(Object.keys(await rowsOf(convId))).toEqual(["DB_2"]);
  });
});

describe("moving a conversation", () => {
  const move = (convId: string, to: string) => post(`/api/conversations/${encodeURIComponent(convId)}/move`, { to }, ADMIN);

  it("copies, verifies, switches and removes the source: it reads back identically, nothing of it left behind", async () => {
    const convId = idPlacedOn("DB_1", uid("mover"));
    const neighbour = idPlacedOn("DB_1", uid("neighbour"));
    await writeConversation(convId, 6);
    // A neighbour sharing blocks: the source keeps what it still uses.
    await writeConversation(neighbour, 2);
    const before = await readBack(convId);
    const res = await move(convId, "DB_2");
    const body = await json(res);
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body).toMatchObject({ conv_id: convId, from: "DB_1", to: "DB_2", complete: true, snapshots: 12 });
    expect(body.blocks).toBeGreaterThan(0);
    expect(body.digest).toMatch(/^[0-9a-f]{64}$/);
    expect(await readBack(convId)).toEqual(before);
    expect(Object.keys(await rowsOf(convId))).toEqual(["DB_2"]);
    expect(await directoryOf(convId)).toEqual({ binding: "DB_2", moving_to: null, moved_from: null });
    // The source keeps the neighbour whole, and no block only the moved conversation used.
    expect((await rowsOf(neighbour)).DB_1).toMatchObject({ turn_snapshots: 4 });
    const orphans = await env
      .DB_1!.prepare(
        "SELECT count(*) AS n FROM blocks WHERE NOT EXISTS (SELECT 1 FROM block_nodes AS n WHERE n.block_id = blocks.block_id AND n.content_hash = blocks.content_hash)",
      )
      .first<{ n: number }>();
    expect(orphans?.n).toBe(0);
    // Writes go to the new home; moving it where it is changes nothing.
    expect(
      (await post("/api/turns", turnBody({ conv_id: convId, session_id: "s1", turn_id: "after", created_at_ms: 2_000_000 }))).status,
    ).toBe(201);
    expect((await rowsOf(convId)).DB_2).toMatchObject({ turn_snapshots: 13 });
    const again = await json(await move(convId, "DB_2"));
    expect(again).toMatchObject({ from: "DB_2", to: "DB_2", complete: true, snapshots: 13 });
  });

  it("moves a conversation of a database from before the directory, and back again", async () => {
    const convId = uid("homecoming");
    await post("/api/turns", turnBody({ conv_id: convId, session_id: "s1", turn_id: "t0", created_at_ms: 5 }), {
      env: { CONVERSATION_DATABASES: "DB" },
    });
    expect(await directoryOf(convId)).toBeNull();
    const before = await readBack(convId);
    expect((await json(await move(convId, "DB_1"))).complete).toBe(true);
    expect(Object.keys(await rowsOf(convId))).toEqual(["DB_1"]);
    expect((await json(await move(convId, "DB"))).complete).toBe(true);
    expect(Object.keys(await rowsOf(convId))).toEqual(["DB"]);
    expect(await readBack(convId)).toEqual(before);
  });

  it("answers 409 CONVERSATION_MOVING with Retry-After to writes while it runs, and keeps every write acknowledged", async () => {
    const convId = idPlacedOn("DB", uid("busy"));
    await writeConversation(convId, 8);
    const acknowledged: number[] = [];
    const refused: number[] = [];
    let moving = true;
    const writer = (async () => {
      for (let i = 0; moving || i < 40; i++) {
        const res = await post(
          "/api/turns",
          turnBody({ conv_id: convId, session_id: "s1", turn_id: `w${i}`, created_at_ms: 3_000_000 + i }),
        );
        if (res.status === 201) acknowledged.push(i);
        else {
          expect(res.status).toBe(409);
          expect(res.headers.get("retry-after")).toBe("2");
          expect((await json(res)).error.code).toBe("CONVERSATION_MOVING");
          refused.push(i);
        }
        if (i > 400) break;
      }
    })();
    // The move in small steps (a few statements per call), interleaved with the writer.
    let result: Awaited<ReturnType<typeof moveConversation>> = null;
    for (let calls = 0; !result?.complete; calls++) {
      result = await moveConversation(database, convId, "DB_2", { nowMs: Date.now(), statements: 12 });
      expect(calls).toBeLessThan(200);
    }
    moving = false;
    await writer;
    expect(refused.length).toBeGreaterThan(0);
    expect(acknowledged.length).toBeGreaterThan(0);
    // Every acknowledged write is in the new home, and nothing is left in the old one.
    expect(Object.keys(await rowsOf(convId))).toEqual(["DB_2"]);
    const { results } = await env
      .DB_2!.prepare("SELECT turn_id FROM turn_snapshots WHERE conv_id = ?1 AND turn_id LIKE 'w%'")
      .bind(convId)
      .all<{ turn_id: string }>();
    expect(results.map((r) => Number(r.turn_id.slice(1))).sort((a, b) => a - b)).toEqual(acknowledged);
  });

  it("sends a write that reaches the old database after the move to where the conversation lives now", async () => {
    const convId = idPlacedOn("DB_1", uid("stale"));
    const minted = await json(await post("/api/tokens", { conv_id: convId }));
    await writeConversation(convId, 1);
    // Moved behind this isolate's back (it still remembers DB_1, and the token says DB_1).
    let result = await moveConversation(database, convId, "DB", { nowMs: Date.now() });
    while (!result?.complete) result = await moveConversation(database, convId, "DB", { nowMs: Date.now() });
    const res = await post("/api/turns", turnBody({ conv_id: convId, session_id: "s1", turn_id: "late", created_at_ms: 9_000_000 }), {
      token: minted.token,
    });
    expect(res.status, JSON.stringify(await res.clone().json())).toBe(201);
    expect(Object.keys(await rowsOf(convId))).toEqual(["DB"]);
    expect((await rowsOf(convId)).DB).toMatchObject({ turn_snapshots: 3 });
  });

  it("resumes after an interruption at every statement, ending identical, nothing lost or left behind", async () => {
    const failAt = (n: number) => {
      let count = 0;
      const tick = () => {
        count += 1;
        if (count === n) throw new Error(`injected failure at statement ${n}`);
      };
      const wrapStatement = (s: D1PreparedStatement): D1PreparedStatement =>
        new Proxy(s, {
          get(target, prop) {
            const value = Reflect.get(target, prop, target) as (...a: unknown[]) => unknown;
            if (prop === "bind") return (...a: unknown[]) => wrapStatement(value.apply(target, a) as D1PreparedStatement);
            if (prop === "run" || prop === "first" || prop === "all" || prop === "raw")
              return (...a: unknown[]) => {
                tick();
                return value.apply(target, a);
              };
            return typeof value === "function" ? value.bind(target) : value;
          },
        });
      return (binding: string): D1Handle => {
        const db = database(binding);
        return {
          prepare: (sql: string) => wrapStatement(db.prepare(sql)),
          batch: (<T>(statements: D1PreparedStatement[]) => {
            tick();
            return db.batch<T>(statements);
          }) as D1Database["batch"],
        };
      };
    };
    let interrupted = 0;
    for (let n = 1; ; n++) {
      const convId = idPlacedOn("DB_1", uid(`resume-${n}`));
      await writeConversation(convId, 2);
      const before = await readBack(convId);
      let failed = false;
      try {
        await moveConversation(failAt(n), convId, "DB_2", { nowMs: Date.now() });
      } catch {
        failed = true;
      }
      if (!failed) break;
      interrupted += 1;
      // Meanwhile the conversation is readable as it was; then the route resumes the move.
      expect(await readBack(convId)).toEqual(before);
      const res = await move(convId, "DB_2");
      expect(res.status).toBe(200);
      expect((await json(res)).complete).toBe(true);
      expect(await readBack(convId), `interrupted at statement ${n}`).toEqual(before);
      expect(
        Object.keys(await rowsOf(convId)),
        `interrupted at statement ${n}: ${JSON.stringify(await rowsOf(convId))} ${JSON.stringify(await directoryOf(convId))}`,
      ).toEqual(["DB_2"]);
      expect(n).toBeLessThan(100);
    }
    expect(interrupted).toBeGreaterThan(10);
  });

  it("is continued by the scheduled handler when a call stops short", async () => {
    const convId = idPlacedOn("DB_2", uid("cron-move"));
    await writeConversation(convId, 4);
    const first = await moveConversation(database, convId, "DB", { nowMs: Date.now(), statements: 10 });
    expect(first?.complete).toBe(false);
    expect((await json(await call("GET", "/healthz"))).maintenance.moves_unfinished).toBeGreaterThan(0);
    for (let run = 0; run < 20 && (await directoryOf(convId))?.moved_from !== null; run++) await runMaintenance(env);
    for (let run = 0; run < 20 && (await directoryOf(convId))?.binding !== "DB"; run++) await runMaintenance(env);
    expect(await directoryOf(convId)).toEqual({ binding: "DB", moving_to: null, moved_from: null });
    expect(Object.keys(await rowsOf(convId))).toEqual(["DB"]);
  });

  it("refuses what it cannot do: unknown database, unknown conversation, another move under way, no admin token", async () => {
    const convId = idPlacedOn("DB", uid("refused"));
    await writeConversation(convId, 1);
    await expectError(await move(convId, "DB_9"), 422, "UNKNOWN_DATABASE");
    await expectError(await move(convId, "lowercase"), 400, "INVALID_REQUEST");
    await expectError(await move(uid("nobody"), "DB_1"), 404, "NOT_FOUND");
    await expectError(await post(`/api/conversations/${convId}/move`, { to: "DB_1" }, { token: env.INGEST_TOKEN }), 401, "UNAUTHORIZED");
    const started = await moveConversation(database, convId, "DB_1", { nowMs: Date.now(), statements: 6 });
    expect(started?.complete).toBe(false);
    await expectError(await move(convId, "DB_2"), 409, "CONVERSATION_MOVING", /DB_1/);
    const del = await call("DELETE", `/api/conversations/${convId}`, ADMIN);
    await expectError(del, 409, "CONVERSATION_MOVING");
    expect((await json(await move(convId, "DB_1"))).complete).toBe(true);
  });
});

describe("/healthz", () => {
  it("lists every database with its schema", async () => {
    const body = await json(await call("GET", "/healthz"));
    expect(body.databases.map((d: { binding: string }) => d.binding)).toEqual(["DB", "DB_1", "DB_2"]);
    for (const d of body.databases) expect(d.schema).toBe(body.expected_schema);
  });
});
