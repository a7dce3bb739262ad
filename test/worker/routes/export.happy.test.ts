/**
 * GET /api/debug/conversations/:conv_id/export (CONTRACT §5.5): every format of a conversation with
 * tool calls, reasoning, unicode, extra turn and block keys, a block reference, equal times and
 * zero-block snapshots — and the JSON Lines file posted back through POST /api/turns/batch into a
 * fresh conversation reads back the same through every debug read.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { parse as parseYaml } from "yaml";
import { blockContentHash } from "../../../src/turn/block-hash";
import { readYaml } from "../../../src/turn/yaml";
import { get, json, post, turnBody, uid } from "../harness";

beforeAll(() => {
  vi.spyOn(console, "log").mockImplementation(() => {});
});
afterAll(() => {
  vi.restoreAllMocks();
});

const BATCH_KEYS = ["conv_id", "session_id", "turn_id", "phase", "created_at_ms", "runtime_key", "inference_id", "turn"];
const UNICODE = 'Grüße, 世界 👋 — "quotes" <b>&amp;</b> \u2028 line sep';

const exportOf = (conv: string, query: string) => get(`/api/debug/conversations/${encodeURIComponent(conv)}/export${query}`);

async function exportText(conv: string, query: string): Promise<string> {
  const res = await exportOf(conv, query);
  expect(res.status).toBe(200);
  return new TextDecoder().decode(await res.arrayBuffer());
}

/**
 * Posted out of time order on purpose. Turns by creation: t1 (1000), t2 (2000), t3 (2500), t4 (4000).
 */
async function richConversation(conv: string): Promise<void> {
  const send = async (items: unknown[]) => expect((await post("/api/turns/batch", { items })).status).toBe(201);
  const question = { kind: "user", role: "user", payload: { text: UNICODE } };
  await send([
    { conv_id: conv, session_id: "s1", phase: "draft", created_at_ms: 1000, turn: { id: "t1", blocks: [question] } },
    {
      conv_id: conv,
      session_id: "s1",
      phase: "final",
      created_at_ms: 1001,
      turn: {
        id: "t1",
        version: 2,
        run_id: "run-9",
        blocks: [
          question,
          { id: "call-1", kind: "tool_call", payload: { id: "c1", name: "get_weather", args: { city: "Zürich ```" } }, turn_id: "t1" },
          { id: "result-1", kind: "tool_use", payload: { id: "c1", result: { temp: 21, unit: "°C" } } },
          { kind: "reasoning", payload: { text: "The user wants </details> the weather." } },
          { kind: "LLM_TEXT", payload: { text: "# Sunny\n\n1. warm\n2. dry" }, metadata: { "geppetto.usage@v1": { tokens: 12 } } },
        ],
        metadata: { "geppetto.runtime@v1": { runtime_key: "inventory" }, "geppetto.inference_id@v1": "inf-1" },
        data: { "<>&": true },
      },
    },
  ]);
  // Equal times: the final arrives after the zero-block pre_inference and wins the tie.
  await send([
    {
      conv_id: conv,
      session_id: "s1",
      phase: "pre_inference",
      created_at_ms: 2000,
      runtime_key: "planner",
      turn: { id: "t2", blocks: [] },
    },
  ]);
  const questionHash = await blockContentHash({ kind: "user", role: "user", payload: { text: UNICODE }, metadata: {} });
  await send([
    {
      conv_id: conv,
      session_id: "s1",
      phase: "final",
      created_at_ms: 2000,
      runtime_key: "planner",
      turn: {
        id: "t2",
        blocks: [
          { id: "t1#0", content_hash: questionHash },
          { kind: "llm_text", payload: { text: "Switched to planner." } },
        ],
      },
    },
    // Another session; its post_tools arrives after its final but is older.
    {
      conv_id: conv,
      session_id: "s2",
      phase: "final",
      created_at_ms: 3000,
      turn: { id: "t3", blocks: [{ kind: "weird", role: " critic ", payload: { "10": "a", "9": "b" } }] },
    },
    { conv_id: conv, session_id: "s2", phase: "post_tools", created_at_ms: 2500, turn: { id: "t3", blocks: [] } },
    { conv_id: conv, session_id: "s2", phase: "final", created_at_ms: 4000, inference_id: "inf-4", turn: { id: "t4", blocks: [] } },
  ]);
}

describe("formats", () => {
  const conv = `${uid("conv-export")}/ü 1`;
  beforeAll(() => richConversation(conv));

  it("headers: content type, attachment named after the conversation, not cached", async () => {
    const safe = conv.replace(/[^A-Za-z0-9._-]/g, "_");
    for (const [format, type, ext] of [
      ["json", "application/json; charset=utf-8", "json"],
      ["jsonl", "application/x-ndjson; charset=utf-8", "jsonl"],
      ["yaml", "application/yaml; charset=utf-8", "yaml"],
      ["markdown", "text/markdown; charset=utf-8", "md"],
    ] as const) {
      const res = await exportOf(conv, `?format=${format}`);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe(type);
      expect(res.headers.get("content-disposition")).toBe(`attachment; filename="turnstore-${safe}.${ext}"`);
      expect(res.headers.get("cache-control")).toBe("no-store");
      expect(res.headers.get("x-request-id")).toBeTruthy();
      await res.arrayBuffer();
    }
    expect((await exportOf(conv, "")).headers.get("content-type")).toBe("application/json; charset=utf-8");
  });

  it("json: every snapshot, oldest first (equal times by arrival), each a batch item with the turn the debug API shows", async () => {
    const doc = JSON.parse(await exportText(conv, "?format=json"));
    expect(Object.keys(doc)).toEqual(["conv_id", "exported_at_ms", "snapshots"]);
    expect(doc.conv_id).toBe(conv);
    expect(doc.exported_at_ms).toBeGreaterThan(Date.now() - 60_000);
    expect(doc.snapshots.map((s: any) => `${s.turn_id}/${s.phase}@${s.created_at_ms}`)).toEqual([
      "t1/draft@1000",
      "t1/final@1001",
      "t2/pre_inference@2000",
      "t2/final@2000",
      "t3/post_tools@2500",
      "t3/final@3000",
      "t4/final@4000",
    ]);
    for (const s of doc.snapshots) {
      expect(Object.keys(s)).toEqual(BATCH_KEYS);
      const detail = await json(await get(`/api/debug/turn/${encodeURIComponent(conv)}/${s.session_id}/${s.turn_id}`));
      const item = detail.items.find((i) => i.phase === s.phase && i.created_at_ms === s.created_at_ms);
      if (!item) throw new Error(`no snapshot ${s.turn_id}/${s.phase}@${s.created_at_ms} in the debug API`);
      expect(s.turn).toEqual(item.parsed);
      expect([s.runtime_key, s.inference_id]).toEqual([item.runtime_key, item.inference_id]);
    }
    const t1 = doc.snapshots[1];
    expect([t1.runtime_key, t1.inference_id]).toEqual(["inventory", "inf-1"]);
    expect(t1.turn.blocks.map((b: any) => b.kind)).toEqual(["user", "tool_call", "tool_use", "reasoning", "llm_text"]);
    expect(t1.turn.blocks[0].payload.text).toBe(UNICODE);
    expect(t1.turn.blocks[1].turn_id).toBe("t1");
    expect([t1.turn.version, t1.turn.run_id]).toEqual([2, "run-9"]);
    // The reference was stored as the block it names.
    expect(doc.snapshots[3].turn.blocks[0]).toEqual({ id: "t1#0", kind: "user", role: "user", payload: { text: UNICODE }, metadata: {} });
    expect(doc.snapshots[2].turn.blocks).toEqual([]);
  });

  it("jsonl: the same snapshots, one a line", async () => {
    const doc = JSON.parse(await exportText(conv, "?format=json"));
    const text = await exportText(conv, "?format=jsonl");
    expect(text.endsWith("\n")).toBe(true);
    const lines = text.slice(0, -1).split("\n");
    expect(lines.map((l) => JSON.parse(l))).toEqual(doc.snapshots);
    // U+2028 is escaped, so no reader splits a record.
    expect(text).not.toMatch(/[\u2028\u2029\r]/);
  });

  it("yaml: the same document, read by the strict Go-safe reader and by a general one", async () => {
    const doc = JSON.parse(await exportText(conv, "?format=json"));
    const text = await exportText(conv, "?format=yaml");
    expect(text).toMatch(/^conv_id: .*\nexported_at_ms: [0-9]+\nsnapshots:\n {2}- conv_id: /);
    const { exported_at_ms: _a, ...fromYaml } = readYaml(text, "export", 128) as Record<string, unknown>;
    const { exported_at_ms: _b, ...fromJson } = doc;
    expect(fromYaml).toEqual(fromJson);
    const general = parseYaml(text);
    expect(general.snapshots).toEqual(doc.snapshots);
  });

  it("phase filter", async () => {
    const finals = JSON.parse(await exportText(conv, "?format=json&phase=final")).snapshots;
    expect(finals.map((s: any) => s.turn_id)).toEqual(["t1", "t2", "t3", "t4"]);
    expect(finals.every((s: any) => s.phase === "final")).toBe(true);
    expect(await exportText(conv, "?format=jsonl&phase=nothing")).toBe("");
    expect(JSON.parse(await exportText(conv, "?format=json&phase=nothing")).snapshots).toEqual([]);
    expect(readYaml(await exportText(conv, "?format=yaml&phase=nothing"), "export", 8)).toMatchObject({ snapshots: [] });
  });

  it("markdown: each turn's newest snapshot in creation order, blocks by role, runtime and time", async () => {
    const md = await exportText(conv, "?format=markdown");
    expect(md.startsWith(`# Conversation \`${conv}\`\n`)).toBe(true);
    expect(md.match(/^## .*$/gm)).toEqual([
      "## Turn `t1` · runtime `inventory` · 1970-01-01T00:00:01.001Z",
      "## Turn `t2` · runtime `planner` · 1970-01-01T00:00:02.000Z",
      "## Turn `t3` · runtime _unknown_ · 1970-01-01T00:00:03.000Z",
      "## Turn `t4` · runtime _unknown_ · 1970-01-01T00:00:04.000Z",
    ]);
    const t1 = md.slice(md.indexOf("## Turn `t1`"), md.indexOf("## Turn `t2`"));
    expect(t1).toContain("phase `final` · session `s1` · inference `inf-1`");
    expect(t1).toContain('**User**\n\nGrüße, 世界 👋 — "quotes" \\<b>\\&amp;\\</b> \u2028 line sep');
    expect(t1).toContain('**Tool call** `get_weather`\n\n````json\n{\n  "args": {\n    "city": "Zürich ```"\n  },');
    expect(t1).toContain("**Tool result** `c1`\n\n```json\n");
    expect(t1).toContain("<details><summary>Reasoning</summary>\n\nThe user wants \\</details> the weather.\n\n</details>");
    expect(t1).toContain("**Assistant**\n\n\\# Sunny\n\n1\\. warm\\\n2\\. dry");
    const t2 = md.slice(md.indexOf("## Turn `t2`"), md.indexOf("## Turn `t3`"));
    expect(t2).toContain("phase `final`");
    expect(t2).toContain("**Assistant**\n\nSwitched to planner.");
    expect(md).toContain("**Other block** (role `critic`)");
    expect(md.slice(md.indexOf("## Turn `t4`"))).toContain("_(no blocks)_");
  });

  it("markdown with a phase: each turn's newest snapshot of that phase; turns without one are left out", async () => {
    const md = await exportText(conv, "?format=markdown&phase=post_tools");
    expect(md).toContain("shows its newest snapshot in phase `post_tools`");
    expect(md.match(/^## .*$/gm)).toEqual(["## Turn `t3` · runtime _unknown_ · 1970-01-01T00:00:02.500Z"]);
    expect(await exportText(conv, "?format=markdown&phase=nothing")).toContain("_No turn has a snapshot in phase `nothing`._");
  });
});

describe("markdown of a geppetto conversation (every turn carries the history)", () => {
  /** Turn k: turn k−1's blocks, then its own question and answer (k from 1). */
  const history = (k: number) =>
    Array.from({ length: k }, (_, i) => [
      { id: `q${i + 1}`, kind: "user", role: "user", payload: { text: `question number ${i + 1}` } },
      { id: `a${i + 1}`, kind: "llm_text", role: "assistant", payload: { text: `answer number ${i + 1}` } },
    ]).flat();

  async function growing(conv: string, turns: number, edit?: { at: number }) {
    const items = Array.from({ length: turns }, (_, i) => {
      let blocks = history(i + 1);
      // An edited earlier block: the turn diverges from the one before it at that block.
      if (edit && i + 1 === edit.at)
        blocks = blocks.map((b) => (b.id === "a1" ? { ...b, payload: { text: "answer number 1, edited" } } : b));
      return {
        conv_id: conv,
        session_id: "s",
        phase: "final",
        created_at_ms: 1000 + i,
        runtime_key: i < turns / 2 ? "inventory" : "planner",
        turn: { id: `t${i + 1}`, blocks },
      };
    });
    for (let i = 0; i < items.length; i += 100)
      expect((await post("/api/turns/batch", { items: items.slice(i, i + 100) })).status).toBe(201);
  }

  const count = (text: string, needle: string) => text.split(needle).length - 1;

  it("shows each block once, in the turn that brought it, across export pages (250 turns)", async () => {
    const conv = uid("conv-md-growing");
    await growing(conv, 250);
    const md = await exportText(conv, "?format=markdown");
    expect(md.match(/^## Turn /gm)).toHaveLength(250);
    for (const k of [1, 2, 100, 101, 200, 201, 250]) {
      // "number 1" would also match 10…; the text ends the line.
      expect(count(md, `question number ${k}\n`), `question ${k}`).toBe(1);
      expect(count(md, `answer number ${k}\n`), `answer ${k}`).toBe(1);
      const section = md.slice(md.indexOf(`## Turn \`t${k}\``)).split(/\n(?=## Turn )/)[0]!;
      expect(section).toContain(`question number ${k}\n`);
      if (k > 1) expect(section).toContain(`_The first ${2 * (k - 1)} blocks repeat turn \`t${k - 1}\` above and are not shown again._`);
      else expect(section).not.toContain("not shown again");
    }
  });

  it("a turn that edits an earlier block shows everything from the edit on", async () => {
    const conv = uid("conv-md-edit");
    await growing(conv, 4, { at: 3 });
    const md = await exportText(conv, "?format=markdown");
    const t3 = md.slice(md.indexOf("## Turn `t3`"), md.indexOf("## Turn `t4`"));
    expect(t3).toContain("_The first block repeats turn `t2` above and is not shown again._");
    expect(t3).toContain("answer number 1, edited");
    expect(t3).toContain("question number 2\n");
    // t4 goes back to the original answer: it diverges from t3 at the same block.
    const t4 = md.slice(md.indexOf("## Turn `t4`"));
    expect(t4).toContain("_The first block repeats turn `t3` above and is not shown again._");
    expect(t4).toContain("answer number 1\n");
  });
});

describe("JSON Lines re-import through POST /api/turns/batch", () => {
  /** Every debug read of a conversation, with its id replaced so two conversations compare. */
  async function debugReads(conv: string) {
    const enc = encodeURIComponent(conv);
    const replaceId = (value: unknown) => JSON.parse(JSON.stringify(value).split(JSON.stringify(conv).slice(1, -1)).join("<conv>"));
    const conversation = await json(await get(`/api/debug/conversations/${enc}`));
    const list = await json(await get(`/api/debug/turns?conv_id=${enc}&limit=1000`));
    const summaries = await json(await get(`/api/debug/turns?conv_id=${enc}&limit=1000&payload=none`));
    const turns = new Map<string, unknown>();
    for (const item of list.items) {
      const key = `${item.session_id}/${item.turn_id}`;
      if (!turns.has(key))
        turns.set(
          key,
          await json(await get(`/api/debug/turn/${enc}/${encodeURIComponent(item.session_id)}/${encodeURIComponent(item.turn_id)}`)),
        );
    }
    const latest = await json(await get(`/api/conversations/${enc}/turns/latest`));
    const latestFinal = await json(await get(`/api/conversations/${enc}/turns/latest?phase=final&session_id=s1`));
    return replaceId({ conversation, list, summaries, turns: [...turns.entries()].sort(), latest, latestFinal });
  }

  it("a conversation of 250 snapshots copied line by line reads back identically", async () => {
    const source = uid("conv-roundtrip");
    await richConversation(source);
    // A growing conversation on top: each snapshot repeats its history (block paths), 243 more.
    const items = [];
    const history: unknown[] = [];
    for (let i = 0; i < 81; i++) {
      history.push({ kind: "user", role: "user", payload: { text: `question ${i} — ${UNICODE}` } });
      for (const [k, phase] of ["pre_inference", "post_inference", "final"].entries()) {
        const blocks = phase === "pre_inference" ? [...history] : [...history, { kind: "llm_text", payload: { text: `answer ${i}` } }];
        items.push(
          turnBody({
            conv_id: source,
            session_id: i % 2 ? "s1" : "s3",
            turn_id: `g${i}`,
            phase,
            created_at_ms: 10_000 + i * 10 + k,
            runtime_key: i < 40 ? "inventory" : "planner",
            blocks,
          }),
        );
      }
      history.push({ kind: "llm_text", payload: { text: `answer ${i}` } });
    }
    for (let i = 0; i < items.length; i += 100)
      expect((await post("/api/turns/batch", { items: items.slice(i, i + 100) })).status).toBe(201);

    const lines = (await exportText(source, "?format=jsonl")).split("\n").filter(Boolean);
    expect(lines).toHaveLength(250);
    const copy = uid("conv-roundtrip-copy");
    const rewritten = lines.map((line) => ({ ...JSON.parse(line), conv_id: copy }));
    for (const item of rewritten) expect(Object.keys(item)).toEqual(BATCH_KEYS);
    for (let i = 0; i < rewritten.length; i += 100) {
      const res = await post("/api/turns/batch", { items: rewritten.slice(i, i + 100) });
      expect(res.status).toBe(201);
    }
    const [original, copied] = [await debugReads(source), await debugReads(copy)];
    expect(original.list.items).toHaveLength(250);
    expect(original.turns).toHaveLength(85);
    expect(copied).toEqual(original);
    // And the copy exports the same lines.
    const again = (await exportText(copy, "?format=jsonl")).split("\n").filter(Boolean);
    expect(again).toEqual(rewritten.map((item) => JSON.stringify(item).replace(/\u2028/g, "\\u2028")));
    // Posting the file again is an identical replay: nothing changes.
    expect((await post("/api/turns/batch", { items: rewritten.slice(0, 100) })).status).toBe(200);
  }, 60_000);
});
