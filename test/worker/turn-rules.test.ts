/** The pure turn rules: Go-compatible block hashing, normalization, YAML in and out, history segments. */
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { blockContentHash, blockHashMaterial, goCompatibleJson, sha256Hex } from "../../src/turn/block-hash";
import { segmentRuntimeHistory } from "../../src/turn/runtime-history";
import { prepareSnapshot } from "../../src/turn/snapshot";
import { nestingDepth, normalizeTurn, parseTurnYaml, TurnFormatError, turnToYaml } from "../../src/turn/turn";

describe("block content hash (CONTRACT §2 vectors)", () => {
  it.each([
    ['{"kind":"llm_text","role":"assistant","payload":{"text":"hello"},"metadata":{}}', "ce91356a62c47ed722bcc81b324ff38eb95c55b36eb79fa8f664d00b49dc21a5"],
    ['{"kind":"user","role":"user","payload":{},"metadata":{}}', "ecc0ca7c37646b24b8a90abff555e78d53783e32519c103abe7eac1fcd2162d7"],
  ])("sha256(%s)", async (material, hash) => {
    expect(await sha256Hex(material)).toBe(hash);
  });

  it("builds the material in contract order with defaults, and hashes to the vector", async () => {
    const block = { kind: "llm_text" as const, role: "assistant", payload: { text: "hello" }, metadata: {} };
    expect(blockHashMaterial(block)).toBe('{"kind":"llm_text","role":"assistant","payload":{"text":"hello"},"metadata":{}}');
    expect(await blockContentHash(block)).toBe("ce91356a62c47ed722bcc81b324ff38eb95c55b36eb79fa8f664d00b49dc21a5");
  });

  it("sorts nested keys by UTF-8 bytes and escapes like Go's encoder", () => {
    // U+FF5E (3 UTF-8 bytes, one UTF-16 unit) sorts before U+1F600 (4 bytes, surrogate pair) in both,
    // but "é" (0xC3 0xA9) must come after "z" (0x7A): byte order, not locale order.
    expect(goCompatibleJson({ z: 1, "é": 2, a: { y: 1, b: 2 }, "😀": 3, "～": 4 })).toBe('{"a":{"b":2,"y":1},"z":1,"é":2,"～":4,"😀":3}');
    expect(goCompatibleJson({ t: "<b>&\u2028" })).toBe('{"t":"\\u003cb\\u003e\\u0026\\u2028"}');
    expect(goCompatibleJson({ arr: [{ b: 1, a: 2 }] })).toBe('{"arr":[{"a":2,"b":1}]}');
  });

  it("keeps a __proto__ key as data", () => {
    const value = JSON.parse('{"__proto__":{"x":1},"a":1}');
    expect(goCompatibleJson(value)).toBe('{"__proto__":{"x":1},"a":1}');
  });
});

describe("turn normalization", () => {
  it("maps unknown kinds to other, gives llm_text without role the assistant role, and ids <turn_id>#<ordinal>", () => {
    const turn = normalizeTurn(
      { id: "t1", blocks: [{ kind: "llm_text" }, { kind: "telepathy", role: "x" }, { id: "given", kind: "user", role: "user" }] },
      undefined,
    );
    expect(turn.blocks).toEqual([
      { id: "t1#0", kind: "llm_text", role: "assistant", payload: {}, metadata: {} },
      { id: "t1#1", kind: "other", role: "x", payload: {}, metadata: {} },
      { id: "given", kind: "user", role: "user", payload: {}, metadata: {} },
    ]);
    expect(turn.metadata).toEqual({});
    expect(turn.data).toEqual({});
  });

  it("takes turn_id from the request when the turn has no id, and refuses disagreement", () => {
    expect(normalizeTurn({ blocks: [] }, "from-request").id).toBe("from-request");
    expect(() => normalizeTurn({ id: "a", blocks: [] }, "b")).toThrow(/disagrees/);
    expect(() => normalizeTurn({ blocks: [] }, undefined)).toThrow(TurnFormatError);
  });

  it("refuses wrong shapes with a path", () => {
    const shape = (raw: unknown) => {
      try {
        normalizeTurn(raw, "t");
      } catch (error) {
        return (error as TurnFormatError).message;
      }
      return "accepted";
    };
    expect(shape({ blocks: "nope" })).toMatch(/^turn\.blocks:/);
    expect(shape({ blocks: [{ kind: 3 }] })).toMatch(/^turn\.blocks\[0\]\.kind:/);
    expect(shape({ blocks: [], metadata: [] })).toMatch(/^turn\.metadata:/);
    expect(shape({ blocks: [], extra: 1 })).toMatch(/unknown field/);
  });

  it("bounds nesting without recursion", () => {
    let deep: unknown = {};
    for (let i = 0; i < 10_000; i++) deep = { a: deep };
    expect(nestingDepth(deep)).toBeGreaterThan(64);
    expect(() => normalizeTurn({ blocks: [{ kind: "user", payload: deep }] }, "t")).toThrow(/nested deeper/);
  });
});

describe("YAML turns", () => {
  const GO_YAML = "id: turn-1\nblocks:\n  - id: turn-1-b1\n    kind: llm_text\n    role: assistant\n    payload:\n      text: hello\n";

  it("parses the Go implementation's YAML", () => {
    const turn = normalizeTurn(parseTurnYaml(GO_YAML), undefined);
    expect(turn).toEqual({
      id: "turn-1",
      blocks: [{ id: "turn-1-b1", kind: "llm_text", role: "assistant", payload: { text: "hello" }, metadata: {} }],
      metadata: {},
      data: {},
    });
  });

  it("writes YAML that parses back to the same turn", () => {
    const turn = normalizeTurn(
      {
        id: "t: 'quoted' #1",
        blocks: [{ kind: "tool_call", payload: { name: "lookup", args: { q: "yes", n: 1.5, list: [1, "2", null] } }, metadata: { "x.y@v1": true } }],
        metadata: { "geppetto.runtime@v1": { runtime_key: "planner" } },
        data: { emoji: "🚀", multi: "line1\nline2" },
      },
      undefined,
    );
    const yaml = turnToYaml(turn);
    expect(yaml.startsWith("id: ")).toBe(true);
    expect(normalizeTurn(parse(yaml), undefined)).toEqual(turn);
  });

  it("refuses YAML that is not a mapping or not valid", () => {
    expect(() => parseTurnYaml("- a\n- b\n")).toThrow(/must be a YAML mapping/);
    expect(() => parseTurnYaml("just text")).toThrow(/must be a YAML mapping/);
    expect(() => parseTurnYaml("id: [unclosed\n")).toThrow(/not valid YAML/);
    expect(() => parseTurnYaml("a: 1\na: 2\n")).toThrow(/not valid YAML/);
  });

  it("refuses alias bombs", () => {
    const bomb = ["a: &a [x,x,x,x,x,x,x,x,x]"];
    for (let i = 1; i < 10; i++) bomb.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [*${String.fromCharCode(96 + i)},*${String.fromCharCode(96 + i)},*${String.fromCharCode(96 + i)},*${String.fromCharCode(96 + i)},*${String.fromCharCode(96 + i)},*${String.fromCharCode(96 + i)},*${String.fromCharCode(96 + i)},*${String.fromCharCode(96 + i)},*${String.fromCharCode(96 + i)}]`);
    expect(() => parseTurnYaml(bomb.join("\n") + "\n")).toThrow(TurnFormatError);
  });
});

describe("snapshot preparation", () => {
  it("resolves explicit values over metadata, metadata over nothing, never anything else", async () => {
    const metadata = { "geppetto.runtime@v1": { runtime_key: "from-meta" }, "geppetto.inference_id@v1": "inf-meta" };
    const explicit = await prepareSnapshot({ conv_id: "c", session_id: "s", runtime_key: " explicit ", inference_id: "inf-x", turn: { id: "t", blocks: [], metadata } }, 5);
    expect([explicit.runtimeKey, explicit.inferenceId]).toEqual(["explicit", "inf-x"]);
    const blankExplicit = await prepareSnapshot({ conv_id: "c", session_id: "s", runtime_key: "  ", turn: { id: "t", blocks: [], metadata } }, 5);
    expect([blankExplicit.runtimeKey, blankExplicit.inferenceId]).toEqual(["from-meta", "inf-meta"]);
    const none = await prepareSnapshot({ conv_id: "c", session_id: "s", turn: { id: "t", blocks: [] } }, 5);
    expect([none.runtimeKey, none.inferenceId, none.phase, none.createdAtMs]).toEqual(["", "", "final", 5]);
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
