/** The pure turn rules: Go-compatible block hashing, the turn reader, YAML in and out, history segments. */
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import casesText from "../../fixtures/block-normalization-cases.json?raw";
import { blockContent, blockContentHash, blockHashMaterial, sha256Hex } from "../../../src/turn/block-hash";
import { canonicalJson, compareUtf8 } from "../../../src/turn/canonical-json";
import { identifierProblem } from "../../../src/turn/identifier";
import { segmentRuntimeHistory } from "../../../src/turn/runtime-history";
import { prepareSnapshot } from "../../../src/turn/snapshot";
import { nestingDepth, parseTurnYaml, readTurn, TurnFormatError, turnToJson, turnToYaml } from "../../../src/turn/turn";

// Parsed from text: a JSON module import would turn the "__proto__" key of one case into a prototype.
const cases = JSON.parse(casesText) as {
  turn_id: string;
  cases: Array<{ name: string; block: Record<string, unknown>; normalized: unknown; material: string; sha256: string }>;
};
const read = (raw: unknown, turnId?: string) => readTurn(raw, { turnId, where: "turn", shapeError: "INVALID_REQUEST" });
const live = { nowMs: 5, maxClockSkewMs: 300_000 };

describe("block content hash (CONTRACT §2 and §5.2 vectors)", () => {
  it.each([
    [
      '{"kind":"llm_text","role":"assistant","payload":{"text":"hello"},"metadata":{}}',
      "ce91356a62c47ed722bcc81b324ff38eb95c55b36eb79fa8f664d00b49dc21a5",
    ],
    ['{"kind":"user","role":"user","payload":{},"metadata":{}}', "ecc0ca7c37646b24b8a90abff555e78d53783e32519c103abe7eac1fcd2162d7"],
    [
      '{"kind":"user","role":"user","payload":{"10":"a","9":"b"},"metadata":{}}',
      "2af4264fbe9dca8ded109273f9d8a6b59fc4893ebeca828fb08b875620c1e927",
    ],
  ])("sha256(%s)", async (material, hash) => {
    expect(await sha256Hex(material)).toBe(hash);
  });

  it("writes integer-like keys in UTF-8 byte order, which no JavaScript object can hold", async () => {
    const block = { kind: "user", role: "user", payload: { "9": "b", "10": "a" }, metadata: {} };
    expect(Object.keys(block.payload)).toEqual(["9", "10"]); // JavaScript's own order
    expect(blockHashMaterial(blockContent(block))).toBe('{"kind":"user","role":"user","payload":{"10":"a","9":"b"},"metadata":{}}');
    expect(await blockContentHash(block)).toBe("2af4264fbe9dca8ded109273f9d8a6b59fc4893ebeca828fb08b875620c1e927");
  });

  it("orders keys by UTF-8 bytes (code points), not UTF-16 units", () => {
    // U+FF5E is one UTF-16 unit above the surrogates, U+1F600 a surrogate pair: UTF-16 order would swap them.
    expect(["😀", "～", "é", "z", "10", "9"].sort(compareUtf8)).toEqual(["10", "9", "z", "é", "～", "😀"]);
    expect(canonicalJson({ t: "<b>&\u2028" })).toBe('{"t":"\\u003cb\\u003e\\u0026\\u2028"}');
    expect(canonicalJson(JSON.parse('{"__proto__":{"x":1},"a":1}'))).toBe('{"__proto__":{"x":1},"a":1}');
  });
});

describe("block normalization table (test/fixtures/block-normalization-cases.json)", () => {
  it.each(cases.cases.map((c) => [c.name, c] as const))("%s", async (_name, c) => {
    const turn = read({ id: cases.turn_id, blocks: [c.block] });
    const block = turn.blocks[0]!;
    expect(block).toEqual(c.normalized);
    expect(blockHashMaterial(blockContent(block))).toBe(c.material);
    expect(await blockContentHash(block)).toBe(c.sha256);
  });

  it("prepareSnapshot stores exactly the hashed content", async () => {
    for (const c of cases.cases) {
      const snapshot = await prepareSnapshot({ conv_id: "c", session_id: "s", turn: { id: cases.turn_id, blocks: [c.block] } }, live);
      const stored = snapshot.blocks[0]!;
      expect(stored.contentHash).toBe(c.sha256);
      expect(
        `{"kind":${JSON.stringify(stored.kind)},"role":${JSON.stringify(stored.role)},"payload":${stored.payloadJson},"metadata":${stored.metadataJson}}`,
      ).toBe(c.material);
    }
  });
});

describe("the turn reader", () => {
  it("keeps unknown turn and block keys verbatim and returns them", () => {
    const turn = read({ id: "t1", version: 1, run_id: "run-9", blocks: [{ kind: "user", turn_id: "t0", payload: { text: "hi" } }] });
    expect(turn.extra).toEqual({ version: 1, run_id: "run-9" });
    expect(turn.blocks[0]!.extra).toEqual({ turn_id: "t0" });
    expect(turnToJson(turn)).toEqual({
      id: "t1",
      blocks: [{ id: "t1#0", kind: "user", role: "", payload: { text: "hi" }, metadata: {}, turn_id: "t0" }],
      metadata: {},
      data: {},
      version: 1,
      run_id: "run-9",
    });
    expect(parse(turnToYaml(turn))).toEqual(turnToJson(turn));
  });

  it("takes turn_id from the request when the turn has no id, and refuses disagreement", () => {
    expect(read({ blocks: [] }, "from-request").id).toBe("from-request");
    expect(() => read({ id: "a", blocks: [] }, "b")).toThrow(/disagrees/);
    expect(() => read({ blocks: [] })).toThrow(TurnFormatError);
  });

  it("refuses wrong shapes with a path", () => {
    const shape = (raw: unknown) => {
      try {
        read(raw, "t");
      } catch (error) {
        return (error as TurnFormatError).message;
      }
      return "accepted";
    };
    expect(shape({ blocks: "nope" })).toMatch(/^turn\.blocks must be an array/);
    expect(shape({ blocks: [{ kind: 3 }] })).toMatch(/^turn\.blocks\[0\]\.kind must be a string/);
    expect(shape({ blocks: [{ role: ["x"] }] })).toMatch(/^turn\.blocks\[0\]\.role must be a string/);
    expect(shape({ blocks: [{ payload: "x" }] })).toMatch(/^turn\.blocks\[0\]\.payload must be an object/);
    expect(shape({ blocks: [], metadata: [] })).toMatch(/^turn\.metadata must be an object/);
    expect(shape([])).toMatch(/^turn must be an object/);
    expect(shape({ blocks: [], extra: 1 })).toBe("accepted");
  });

  it("bounds nesting without recursion", () => {
    let deep: unknown = {};
    for (let i = 0; i < 10_000; i++) deep = { a: deep };
    expect(nestingDepth(deep)).toBeGreaterThan(64);
    expect(() => read({ blocks: [{ kind: "user", payload: deep }] }, "t")).toThrow(/nested deeper/);
  });
});

describe("ids: no lookalikes (CONTRACT §5.2)", () => {
  it.each([
    ["zero-width space", "X\u200b"],
    ["BOM", "\ufeffX"],
    ["right-to-left override", "conv-\u202egnp.exe"],
    ["zero-width joiner", "a\u200db"],
    ["NFD", "cafe\u0301"],
  ])("refuses %s", (_name, id) => {
    expect(identifierProblem("conv_id", id)).toMatch(/format characters|NFC/);
  });

  it("accepts NFC text, emoji and punctuation", () => {
    for (const id of ["café", "X", "会話-1", "🚀 launch", "a/b%c'd\"e"]) expect(identifierProblem("conv_id", id)).toBeNull();
  });
});

describe("ids as people write them: emoji sequences may hold format characters (CONTRACT §6.1)", () => {
  it.each([
    ["a technologist (woman, ZWJ, laptop)", "sess-👩‍💻"],
    ["a family (three ZWJs)", "👨‍👩‍👧 family chat"],
    ["a subdivision flag (tag characters)", "team-🏴󠁧󠁢󠁳󠁣󠁴󠁿"],
    ["a rainbow flag (ZWJ, variation selector)", "🏳️‍🌈-room"],
    ["two sequences in a row", "👩‍💻👨‍👩‍👧"],
  ])("accepts %s", (_name, id) => {
    expect(identifierProblem("session_id", id)).toBeNull();
  });

  it.each([
    ["a lone joiner", "a\u200db", 1],
    ["a joiner after an emoji (trailing)", "👩\u200d", 2],
    ["a joiner before an emoji", "\u200d💻", 0],
    ["a zero-width space between emoji", "👩\u200b💻", 2],
    ["a BOM", "\ufeff👩‍💻", 0],
    ["a bidi override next to an emoji", "👩‍💻\u202e", 5],
    ["a tag character outside a flag", "x\u{E0067}", 1],
  ])("refuses %s, naming where", (_name, id, index) => {
    expect(identifierProblem("session_id", id)).toMatch(new RegExp(`format characters \\(found U\\+[0-9A-F]+ at index ${index};`));
  });
});

describe("YAML turns (YAML 1.2 core, as Go reads and writes them)", () => {
  const GO_YAML =
    "id: turn-1\nblocks:\n    - id: turn-1-b1\n      kind: llm_text\n      role: assistant\n      payload:\n        text: hello\n";

  it("parses the Go implementation's YAML (4-space indent)", () => {
    const turn = read(parseTurnYaml(GO_YAML));
    expect(turn).toEqual({
      id: "turn-1",
      blocks: [{ id: "turn-1-b1", kind: "llm_text", role: "assistant", payload: { text: "hello" }, metadata: {}, extra: {} }],
      metadata: {},
      data: {},
      extra: {},
    });
  });

  it("reads YAML 1.1 look-alikes as YAML 1.2 core does: yes and dates are strings", () => {
    const value = parseTurnYaml(
      "id: t\ndata:\n  a: yes\n  b: 2001-12-14\n  c: on\n  d: 0o17\n  e: 0x1F\n  f: 1e3\n  g: ~\n  h: '0777'\n  1.0: key text\n",
    );
    expect((value as { data: unknown }).data).toEqual({
      a: "yes",
      b: "2001-12-14",
      c: "on",
      d: 15,
      e: 31,
      f: 1000,
      g: null,
      h: "0777",
      "1.0": "key text",
    });
  });

  it.each([
    ["a %YAML 1.1 directive", "%YAML 1.1\n---\nid: t\n", /only %YAML 1.2/],
    ["a %TAG directive", "%TAG !e! tag:example.com,2000:\n---\nid: t\n", /%TAG/],
    ["an anchor", "id: t\ndata: &a {x: 1}\n", /anchors/],
    ["an alias", "id: t\ndata:\n  a: &x 1\n  b: *x\n", /anchors|aliases/],
    ["!!set", "id: t\ndata: !!set {a: null}\n", /core schema/],
    ["!!binary", "id: t\ndata:\n  b: !!binary aGVsbG8=\n", /core schema/],
    ["a custom tag", "id: t\ndata:\n  b: !thing 3\n", /core schema/],
    ["a merge key", "id: t\ndata:\n  <<: {a: 1}\n", /merge keys/],
    [".inf", "id: t\ndata:\n  x: .inf\n", /JSON can hold/],
    [".nan", "id: t\ndata:\n  x: .nan\n", /JSON can hold/],
    ["an integer beyond 2^53", "id: t\ndata:\n  x: 9007199254740993\n", /beyond/],
    ["a Go octal 0777", "id: t\ndata:\n  x: 0777\n", /reads differently/],
    ["underscores 1_000", "id: t\ndata:\n  x: 1_000\n", /reads differently/],
    ["binary 0b101", "id: t\ndata:\n  x: 0b101\n", /reads differently/],
    ["signed hex -0x1F", "id: t\ndata:\n  x: -0x1F\n", /reads differently/],
    ["two documents", "id: t\n---\nid: u\n", /not valid YAML/],
    ["a duplicate key", "id: t\nid: u\n", /not valid YAML/],
    ["a sequence", "- a\n- b\n", /must be a YAML mapping/],
    ["plain text", "just text", /must be a YAML mapping/],
    ["unclosed flow", "id: [unclosed\n", /not valid YAML/],
  ])("refuses %s", (_name, yaml, message) => {
    expect(() => parseTurnYaml(yaml)).toThrow(TurnFormatError);
    expect(() => parseTurnYaml(yaml)).toThrow(message);
  });

  it("refuses alias bombs before expanding anything", () => {
    const bomb = ["a: &a [x,x,x,x,x,x,x,x,x]"];
    for (let i = 1; i < 10; i++) {
      const prev = String.fromCharCode(96 + i);
      bomb.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9).fill(`*${prev}`).join(",")}]`);
    }
    expect(() => parseTurnYaml(`${bomb.join("\n")}\n`)).toThrow(/anchors|aliases/);
  });

  it("bounds YAML nesting", () => {
    expect(() => parseTurnYaml(`id: t\ndata: ${"[".repeat(100)}${"]".repeat(100)}\n`)).toThrow(/nested deeper/);
    try {
      parseTurnYaml(`id: t\ndata: ${"[".repeat(100)}${"]".repeat(100)}\n`);
    } catch (error) {
      expect((error as TurnFormatError).code).toBe("NESTING_TOO_DEEP");
    }
  });

  it("writes YAML that both readers read back to the same turn", () => {
    const turn = read({
      id: "t: 'quoted' #1",
      blocks: [
        {
          kind: "tool_call",
          payload: { name: "lookup", args: { q: "yes", n: 1.5, list: [1, "2", null, "1_000", "0777", "<<", "-0x1F", "0b1"] } },
          metadata: { "x.y@v1": true },
        },
      ],
      metadata: { "geppetto.runtime@v1": { runtime_key: "planner" } },
      data: { emoji: "🚀", multi: "line1\nline2", trailing: "x\n", "10": "ten", "9": "nine", "": "empty key" },
    });
    const yaml = turnToYaml(turn);
    expect(yaml.startsWith("id: \"t: 'quoted' #1\"\nblocks:\n")).toBe(true);
    expect(read(parse(yaml))).toEqual(turn);
    expect(read(parseTurnYaml(yaml))).toEqual(turn);
  });
});

describe("snapshot preparation", () => {
  it("resolves explicit values over metadata, metadata over nothing, never anything else", async () => {
    const metadata = { "geppetto.runtime@v1": { runtime_key: "from-meta" }, "geppetto.inference_id@v1": "inf-meta" };
    const explicit = await prepareSnapshot(
      { conv_id: "c", session_id: "s", runtime_key: " explicit ", inference_id: "inf-x", turn: { id: "t", blocks: [], metadata } },
      live,
    );
    expect([explicit.runtimeKey, explicit.inferenceId]).toEqual(["explicit", "inf-x"]);
    const blankExplicit = await prepareSnapshot(
      { conv_id: "c", session_id: "s", runtime_key: "  ", turn: { id: "t", blocks: [], metadata } },
      live,
    );
    expect([blankExplicit.runtimeKey, blankExplicit.inferenceId]).toEqual(["from-meta", "inf-meta"]);
    const none = await prepareSnapshot({ conv_id: "c", session_id: "s", turn: { id: "t", blocks: [] } }, live);
    expect([none.runtimeKey, none.inferenceId, none.phase, none.createdAtMs]).toEqual(["", "", "final", 5]);
  });

  it("bounds event times: more than the skew ahead of the clock is refused, history is not", async () => {
    const at = (created_at_ms: number) =>
      prepareSnapshot({ conv_id: "c", session_id: "s", created_at_ms, turn: { id: "t" } }, { nowMs: 1_000_000, maxClockSkewMs: 300_000 });
    await expect(at(1_300_000)).resolves.toBeTruthy();
    await expect(at(1)).resolves.toBeTruthy();
    await expect(at(1_300_001)).rejects.toMatchObject({ code: "EVENT_TIME_IN_FUTURE" });
    await expect(at(Number.MAX_SAFE_INTEGER)).rejects.toMatchObject({ code: "EVENT_TIME_IN_FUTURE" });
  });
});

describe("runtime history segments", () => {
  it("groups consecutive turns by runtime", () => {
    const turns = [
      { turnId: "t1", runtimeKey: "inventory", createdAtMs: 1, updatedAtMs: 2 },
      { turnId: "t2", runtimeKey: "inventory", createdAtMs: 3, updatedAtMs: 9 },
      { turnId: "t3", runtimeKey: "planner", createdAtMs: 4, updatedAtMs: 5 },
      { turnId: "t4", runtimeKey: "", createdAtMs: 6, updatedAtMs: 6 },
      { turnId: "t5", runtimeKey: "inventory", createdAtMs: 7, updatedAtMs: 8 },
    ];
    expect(segmentRuntimeHistory(turns)).toEqual([
      { runtime_key: "inventory", first_turn_id: "t1", last_turn_id: "t2", from_ms: 1, to_ms: 9, turn_count: 2 },
      { runtime_key: "planner", first_turn_id: "t3", last_turn_id: "t3", from_ms: 4, to_ms: 5, turn_count: 1 },
      { runtime_key: "", first_turn_id: "t4", last_turn_id: "t4", from_ms: 6, to_ms: 6, turn_count: 1 },
      { runtime_key: "inventory", first_turn_id: "t5", last_turn_id: "t5", from_ms: 7, to_ms: 8, turn_count: 1 },
    ]);
    expect(segmentRuntimeHistory([])).toEqual([]);
  });
});
