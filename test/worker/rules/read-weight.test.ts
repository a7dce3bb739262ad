/**
 * The read weight of a snapshot (src/turn/read-weight.ts) bounds what every read of it returns: its
 * YAML (the debug payload) and its JSON (`parsed`, the latest turn, exports) together — for any
 * content, however nested, escaped or multi-line (CONTRACT §6.3). Property-tested over thousands of
 * random turns against the writers the reads use.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { blockReadWeight, readSnapshot } from "../../../src/turn/snapshot";
import { turnToJson, turnToYaml } from "../../../src/turn/turn";

/** Text with what YAML and JSON each escape or indent: quotes, backslashes, controls, line breaks, non-printables, astral. */
const text = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.stringMatching(/^[<>&"\\\n\r\t\u0000\u0085\u2028\ufeff 🚀a-z:#-]{0,60}$/u),
  fc.constantFrom("", " leading", "trailing ", "line\nbreak\n", "- dash", "key: value", "0777", "1_000", "true", "null", "~"),
);

const json: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    text,
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie("value"), { maxLength: 4 }),
    fc.dictionary(text, tie("value"), { maxKeys: 4 }),
  ),
})).value;

const object = fc.dictionary(text, json, { maxKeys: 5 });

const block = fc.record(
  {
    id: fc
      .string({ minLength: 1, maxLength: 12 })
      .filter(
        (s) =>
          s.trim() !== "" && !/[\u0000-\u001f\u007f-\u009f\p{Cf}\p{Cs}]/u.test(s) && s.normalize("NFC") === s && s !== "." && s !== "..",
      ),
    kind: fc.constantFrom("user", "llm_text", "tool_call", "tool_use", "system", "reasoning", "other"),
    role: text,
    payload: object,
    metadata: object,
    turn_id: text,
    extra: json,
  },
  { requiredKeys: ["kind"] },
);

const turn = fc.record({
  id: fc.constant("t"),
  blocks: fc.array(block, { maxLength: 6 }),
  metadata: object,
  data: object,
  run_id: text,
});

/** What reads return for a snapshot's turn, in characters: its YAML and its JSON. */
const rendered = (t: ReturnType<typeof readSnapshot>["turn"]) => turnToYaml(t).length + JSON.stringify(turnToJson(t)).length;

describe("read weight", () => {
  it("bounds the YAML and JSON of any snapshot, block by block and in all (property, 3,000 turns)", () => {
    fc.assert(
      fc.property(turn, (raw) => {
        const snapshot = readSnapshot(
          { conv_id: "c", session_id: "s", turn: JSON.parse(JSON.stringify(raw)) },
          { nowMs: 1, maxClockSkewMs: 0 },
        );
        expect(snapshot.carriedWeight).toBeGreaterThanOrEqual(rendered(snapshot.turn));
        snapshot.turn.blocks.forEach((b, i) => {
          const alone = { ...snapshot.turn, blocks: [b] };
          const without = { ...snapshot.turn, blocks: [] };
          expect(blockReadWeight(snapshot.blocks[i]!)).toBeGreaterThanOrEqual(rendered(alone) - rendered(without));
        });
      }),
      { numRuns: 3_000 },
    );
  });

  it("counts YAML's indentation: a small payload nested 60 deep weighs far more than its JSON", () => {
    let payload: Record<string, unknown> = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, i]));
    for (let d = 0; d < 60; d++) payload = { a: payload };
    const snapshot = readSnapshot(
      { conv_id: "c", session_id: "s", turn: { id: "t", blocks: [{ kind: "tool_call", payload }] } },
      { nowMs: 1, maxClockSkewMs: 0 },
    );
    const storedJson = snapshot.blocks[0]!.payloadJson.length;
    expect(rendered(snapshot.turn)).toBeGreaterThan(10 * storedJson);
    expect(snapshot.carriedWeight).toBeGreaterThanOrEqual(rendered(snapshot.turn));
  });
});
