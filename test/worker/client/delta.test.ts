/**
 * The frontend client (src/client/turnstore-client.ts) against the Worker's fetch handler: full the
 * first time, deltas afterwards, the same stored snapshots as full posts, and a full retry when the
 * Worker does not have what the client thought.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../../src/index";
import { TurnstoreClient } from "../../../src/client/turnstore-client";
import { get, json, post, uid } from "../harness";

async function workerFetch(input: string, init: RequestInit): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await worker.fetch(new Request(input, init), env, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

const client = (token: string) => new TurnstoreClient({ baseUrl: "https://turnstore.test", token, fetch: workerFetch });

/** A geppetto-like conversation: every snapshot carries the whole history; a tool result of `toolBytes`. */
function conversation(turns: number, toolBytes = 40) {
  const history: Array<Record<string, unknown>> = [{ kind: "system", role: "system", payload: { text: "You are helpful." } }];
  const snapshots: Array<{ turn: string; phase: string; blocks: Array<Record<string, unknown>> }> = [];
  for (let t = 0; t < turns; t++) {
    history.push({ id: `u${t}`, kind: "user", role: "user", payload: { text: `question ${t}` } });
    snapshots.push({ turn: `t${t}`, phase: "pre_inference", blocks: [...history] });
    history.push(
      { id: `c${t}`, kind: "tool_call", payload: { name: "lookup", args: { q: t } } },
      { id: `r${t}`, kind: "tool_use", payload: { result: "x".repeat(toolBytes) } },
    );
    snapshots.push({ turn: `t${t}`, phase: "post_tools", blocks: [...history] });
    history.push({ id: `a${t}`, kind: "llm_text", payload: { text: `answer ${t}` } });
    snapshots.push({ turn: `t${t}`, phase: "final", blocks: [...history] });
  }
  return snapshots;
}

const readAll = async (conv: string) =>
  (await json(await get(`/api/debug/turns?conv_id=${encodeURIComponent(conv)}&limit=1000`))).items.map(
    ({ conv_id: _c, ...rest }: Record<string, unknown>) => rest,
  );

describe("TurnstoreClient", () => {
  it("posts full the first time and deltas afterwards; the Worker stores what full posts store", async () => {
    const viaClient = uid("conv-client");
    const viaFull = uid("conv-full");
    const { token } = await json(await post("/api/tokens", { conv_id: viaClient }));
    const c = client(token);
    const sent: Array<{ sent: string; bytes: number }> = [];
    let at = 1;
    for (const s of conversation(12, 2_000)) {
      at += 1;
      const result = await c.postSnapshot({
        conv_id: viaClient,
        session_id: "s",
        phase: s.phase,
        created_at_ms: at,
        turn: { id: s.turn, blocks: s.blocks },
      });
      expect(result.status).toBe(201);
      sent.push({ sent: result.sent, bytes: result.requestBytes });
      expect(
        (
          await post("/api/turns", {
            conv_id: viaFull,
            session_id: "s",
            phase: s.phase,
            created_at_ms: at,
            turn: { id: s.turn, blocks: s.blocks },
          })
        ).status,
      ).toBe(201);
    }
    expect(await readAll(viaClient)).toEqual(await readAll(viaFull));
    expect(sent[0]!.sent).toBe("full");
    expect(sent.slice(1).every((s) => s.sent === "delta")).toBe(true);
    // A delta carries only what is new: flat, while the full snapshot grows with the history.
    const fullBytes = JSON.stringify({ turn: { blocks: conversation(12, 2_000).at(-1)!.blocks } }).length;
    expect(sent.at(-1)!.bytes).toBeLessThan(1_000);
    expect(fullBytes).toBeGreaterThan(24_000);
  });

  it("sends blocks it has sent before as references when the snapshot diverges from known paths", async () => {
    const conv = uid("conv-client-ref");
    const c = client(env.INGEST_TOKEN);
    const a = { id: "a", kind: "user", role: "user", payload: { text: "A".repeat(5_000) } };
    const b = { id: "b", kind: "llm_text", payload: { text: "B".repeat(5_000) } };
    expect((await c.postSnapshot({ conv_id: conv, session_id: "s", created_at_ms: 1, turn: { id: "t1", blocks: [a, b] } })).status).toBe(
      201,
    );
    // Reordered: no common prefix, but both blocks are stored, so both go as references.
    const result = await c.postSnapshot({ conv_id: conv, session_id: "s", created_at_ms: 2, turn: { id: "t2", blocks: [b, a] } });
    expect(result).toMatchObject({ status: 201, sent: "delta" });
    expect(result.requestBytes).toBeLessThan(1_000);
    const detail = await json(await get(`/api/debug/turn/${conv}/s/t2`));
    expect(detail.items[0]!.parsed.blocks.map((x: { id: string }) => x.id)).toEqual(["b", "a"]);
  });

  it("retries in full when the Worker does not have what the client remembers", async () => {
    const conv = uid("conv-client-gone");
    const c = client(env.INGEST_TOKEN);
    const blocks = conversation(2)[5]!.blocks;
    expect(
      (await c.postSnapshot({ conv_id: conv, session_id: "s", created_at_ms: 1, turn: { id: "t1", blocks: blocks.slice(0, 3) } })).status,
    ).toBe(201);
    // The conversation's paths disappear behind the client's back (deleted elsewhere).
    await env.DB.batch([
      env.DB.prepare("DELETE FROM block_nodes WHERE conv_id = ?1").bind(conv),
      env.DB.prepare("DELETE FROM turn_snapshots WHERE conv_id = ?1").bind(conv),
    ]);
    const result = await c.postSnapshot({ conv_id: conv, session_id: "s", created_at_ms: 2, turn: { id: "t1", blocks } });
    expect(result).toMatchObject({ status: 201, sent: "full" });
    const detail = await json(await get(`/api/debug/turn/${conv}/s/t1`));
    expect(detail.items).toHaveLength(1);
    expect(detail.items[0]!.parsed.blocks).toHaveLength(blocks.length);
  });

  it("needs stable block ids for deltas across turns: a block without id is new in every turn (docs/API.md, Delta posts)", async () => {
    const ask = { kind: "user", role: "user", payload: { text: "Q".repeat(2_000) } };
    const answer = { kind: "llm_text", payload: { text: "A".repeat(2_000) } };
    const more = { kind: "user", role: "user", payload: { text: "and more?" } };
    const post = (c: TurnstoreClient, conv: string, at: number, phase: string, id: string, blocks: Array<Record<string, unknown>>) =>
      c.postSnapshot({ conv_id: conv, session_id: "s", phase, created_at_ms: at, turn: { id, blocks } });

    // Without ids: the phases of one turn share the default ids (t1#0, t1#1), so the second is a delta…
    const bare = uid("conv-client-bare");
    const c = client(env.INGEST_TOKEN);
    expect((await post(c, bare, 1, "draft", "t1", [ask])).sent).toBe("full");
    expect((await post(c, bare, 2, "final", "t1", [ask, answer])).sent).toBe("delta");
    // …but the next turn's copies are t2#0, t2#1: new blocks, sent and stored in full.
    const next = await post(c, bare, 3, "final", "t2", [ask, answer, more]);
    expect(next).toMatchObject({ status: 201, sent: "full" });
    expect(next.requestBytes).toBeGreaterThan(4_000);

    // With ids kept from turn to turn, the next turn sends only its new block.
    const stable = uid("conv-client-ids");
    const [a, b, m] = [
      { id: "u1", ...ask },
      { id: "a1", ...answer },
      { id: "u2", ...more },
    ];
    expect((await post(c, stable, 1, "final", "t1", [a, b])).sent).toBe("full");
    const delta = await post(c, stable, 3, "final", "t2", [a, b, m]);
    expect(delta).toMatchObject({ status: 201, sent: "delta" });
    expect(delta.requestBytes).toBeLessThan(1_000);
    const stored = await json(await get(`/api/debug/turn/${stable}/s/t2`));
    expect(stored.items[0]!.parsed.blocks.map((x: { id: string }) => x.id)).toEqual(["u1", "a1", "u2"]);
  });

  it("passes refusals through unchanged", async () => {
    const c = client(env.INGEST_TOKEN);
    const result = await c.postSnapshot({ conv_id: uid("c"), session_id: "s", created_at_ms: Date.now() + 3_600_000, turn: { id: "t" } });
    expect(result.status).toBe(422);
    expect((result.body as { error: { code: string } }).error.code).toBe("EVENT_TIME_IN_FUTURE");
  });
});

describe("ids (CONTRACT §6.1)", () => {
  it("posts an emoji session id with joiners, and refuses a zero-width space or a bidi override before sending", async () => {
    const sent: string[] = [];
    const recording = new TurnstoreClient({
      baseUrl: "https://turnstore.test",
      token: env.INGEST_TOKEN,
      fetch: (input, init) => {
        sent.push(String(init.body));
        return workerFetch(input, init);
      },
    });
    const conv = `${uid("client-ids")}-👨‍👩‍👧`;
    const turn = { id: "t-👩‍💻", blocks: [{ kind: "user", role: "user", payload: { text: "hi" } }] };
    const ok = await recording.postSnapshot({ conv_id: conv, session_id: "sess-👩‍💻", created_at_ms: 1, turn });
    expect(ok.status).toBe(201);
    expect(ok.body).toMatchObject({ conv_id: conv, session_id: "sess-👩‍💻", turn_id: "t-👩‍💻" });
    await expect(recording.postSnapshot({ conv_id: conv, session_id: "sess-\u200b", created_at_ms: 2, turn })).rejects.toThrow(
      /session_id must not contain invisible format characters \(found U\+200B/,
    );
    await expect(recording.postSnapshot({ conv_id: `\u202e${conv}`, session_id: "s", created_at_ms: 2, turn })).rejects.toThrow(/U\+202E/);
    expect(sent).toHaveLength(1);
  });

  it("checks runtime_key / inference_id by the Worker's one rule before sending, trimming as it does (CONTRACT §6.3)", async () => {
    const sent: string[] = [];
    const recording = new TurnstoreClient({
      baseUrl: "https://turnstore.test",
      token: env.INGEST_TOKEN,
      fetch: (input, init) => {
        sent.push(String(init.body));
        return workerFetch(input, init);
      },
    });
    const conv = uid("client-attr");
    const turn = { id: "t", blocks: [] };
    for (const [field, value, message] of [
      ["runtime_key", "plan\u200bner", /runtime_key must not contain invisible format characters/],
      ["inference_id", "inf\u0000", /inference_id must not contain control characters/],
      ["runtime_key", "r".repeat(257), /runtime_key must be at most 256 characters/],
    ] as const) {
      await expect(recording.postSnapshot({ conv_id: conv, session_id: "s", created_at_ms: 1, turn, [field]: value })).rejects.toThrow(
        message,
      );
    }
    expect(sent).toHaveLength(0);
    const ok = await recording.postSnapshot({ conv_id: conv, session_id: "s", created_at_ms: 1, turn, runtime_key: " planner\n" });
    expect(ok.body).toMatchObject({ runtime_key: "planner" });
  });
});
