// The YAML writer (src/turn/yaml.ts) replaced the `yaml` package's stringify for debug payloads and
// exports (issue 17: the package cost ~16x the page's SQL). Properties, against that package:
//  - any JSON value written reads back to exactly that value, with the `yaml` package (YAML 1.2 core)
//    and with our reader (which reads as Go's yaml.v3 does);
//  - for plain values — names, ids, ordinary text, integers, booleans, null, nested maps and lists —
//    the text is exactly what the first release wrote (stringify with aliasDuplicateObjects: false,
//    lineWidth: 0). Strings a reader could take for something else are quoted where the package
//    might not quote them; that is the writer's purpose and is not compared.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { turnToYaml, type Turn } from "../../../src/turn/turn";
import { readYaml, writeYaml } from "../../../src/turn/yaml";

const FIRST_RELEASE = { aliasDuplicateObjects: false, lineWidth: 0 } as const;

/** Strings chosen to trip a YAML writer: lookalikes of other types, indicators, breaks, odd characters. */
const trickyString = fc.oneof(
  fc.string({ unit: "grapheme", maxLength: 12 }),
  fc.string({ unit: "binary", maxLength: 8 }),
  fc.constantFrom(
    "",
    " ",
    "  lead",
    "trail ",
    "yes",
    "no",
    "on",
    "off",
    "y",
    "n",
    "true",
    "False",
    "NULL",
    "~",
    "null",
    "0777",
    "0o17",
    "0x1F",
    "-0x1F",
    "0b101",
    "1_000",
    "1e3",
    "1.0",
    ".5",
    "-.inf",
    ".NaN",
    "+1",
    "2026-04-20",
    "12:30:00",
    "a: b",
    "a #b",
    "#c",
    "- x",
    "? k",
    ": v",
    "[x]",
    "{y}",
    "&a",
    "*a",
    "!tag",
    "!!str x",
    "%YAML",
    "@at",
    "`tick",
    "'q'",
    '"dq"',
    "---",
    "...",
    "<<",
    "line\nbreak",
    "ends\n",
    "\n",
    "two\n\n",
    "tab\there",
    "cr\r\nlf",
    "\u0085nel",
    "\u2028ls",
    "\u0000nul",
    "\u001bx",
    "\ufeffbom",
    "emoji \u{1F600}",
    "é",
    "a:b",
    "x:",
  ),
);

const key = fc.oneof(trickyString, fc.constantFrom("id", "kind", "payload", "1", "1.0", "true", "null", "<<", "a b"));

const jsonValue = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small", maxDepth: 4 },
    trickyString,
    fc.integer({ min: -(2 ** 53 - 1), max: 2 ** 53 - 1 }),
    fc.double({ noNaN: true, noDefaultInfinity: true }).filter((n) => !Object.is(n, -0)),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie("value"), { maxLength: 4 }),
    fc.dictionary(key, tie("value"), { maxKeys: 4 }),
  ),
})).value;

const entries = fc.uniqueArray(fc.tuple(key, jsonValue), { maxLength: 6, selector: ([k]) => k });

const plainString = fc
  .stringMatching(/^[a-zA-Z][a-zA-Z0-9_./-]{0,15}( [a-zA-Z0-9_./-]{1,8}){0,3}$/)
  .filter((s) => !/^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF|null|Null|NULL)$/.test(s));
const plainValue = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small", maxDepth: 4 },
    plainString,
    fc.integer({ min: -(2 ** 53 - 1), max: 2 ** 53 - 1 }),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie("value"), { maxLength: 4 }),
    fc.dictionary(plainString, tie("value"), { maxKeys: 4 }),
  ),
})).value;
const plainEntries = fc.uniqueArray(fc.tuple(plainString, plainValue), { minLength: 1, maxLength: 6, selector: ([k]) => k });

describe("writeYaml against the yaml package", () => {
  it("every JSON value reads back exactly, with the yaml package (YAML 1.2 core) and with our Go-compatible reader", () => {
    fc.assert(
      fc.property(entries, (pairs) => {
        const text = writeYaml(pairs);
        const expected = JSON.parse(JSON.stringify(Object.fromEntries(pairs)));
        expect(parse(text, { version: "1.2", schema: "core", uniqueKeys: true })).toEqual(expected);
        expect(readYaml(text, "payload", 200)).toEqual(expected);
      }),
      { numRuns: 2_000 },
    );
  });

  it("plain values are written exactly as the first release wrote them", () => {
    fc.assert(
      fc.property(plainEntries, (pairs) => {
        expect(writeYaml(pairs)).toBe(stringify(Object.fromEntries(pairs), FIRST_RELEASE));
      }),
      { numRuns: 2_000 },
    );
  });

  it("a whole turn (ids, kinds, roles, text payloads, metadata) is written as the first release wrote it", () => {
    const turn = {
      id: "turn-7",
      blocks: [
        { id: "turn-7#0", kind: "user", role: "user", payload: { text: "How many widgets are left" }, metadata: {} },
        {
          id: "b-2",
          kind: "tool_call",
          role: "",
          payload: { name: "inventory.count", args: { sku: "W-1", warehouse: 3 } },
          metadata: { source: "planner" },
        },
        {
          id: "b-3",
          kind: "llm_text",
          role: "assistant",
          payload: { text: "There are 42 left" },
          metadata: { "geppetto.runtime@v1": "inventory" },
        },
      ],
      metadata: { "geppetto.inference_id@v1": "inf-9", tags: ["a", "b"], empty: [] },
      data: {},
    };
    expect(writeYaml(Object.entries(turn))).toBe(stringify(turn, FIRST_RELEASE));
  });
});

describe("turnToYaml (each block's YAML written once and reused)", () => {
  const block = fc.record({
    id: plainString,
    kind: fc.constantFrom("user", "llm_text", "tool_call", "tool_use", "system", "reasoning", "other"),
    role: fc.oneof(fc.constant(""), plainString),
    payload: fc.dictionary(key, jsonValue, { maxKeys: 3 }),
    metadata: fc.dictionary(key, jsonValue, { maxKeys: 2 }),
    extra: fc.dictionary(fc.constantFrom("turn_id", "x-extra", "run_id"), jsonValue, { maxKeys: 2 }),
  });
  const turn = fc.record({
    id: plainString,
    blocks: fc.array(block, { maxLength: 5 }),
    metadata: fc.dictionary(key, jsonValue, { maxKeys: 3 }),
    data: fc.dictionary(key, jsonValue, { maxKeys: 2 }),
    extra: fc.dictionary(fc.constantFrom("run_id", "version", "x"), jsonValue, { maxKeys: 2 }),
  });

  it("is exactly the document written in one go, and stays so when blocks are shared between turns", () => {
    fc.assert(
      fc.property(turn, turn, (a, b) => {
        // b shares a's first blocks (as snapshots of one conversation share their path's blocks).
        const shared = { ...b, blocks: [...a.blocks.slice(0, 2), ...b.blocks] } as Turn;
        for (const t of [a as Turn, shared, a as Turn]) {
          const whole = writeYaml([
            ["id", t.id],
            [
              "blocks",
              t.blocks.map((x) =>
                Object.fromEntries([
                  ["id", x.id],
                  ["kind", x.kind],
                  ["role", x.role],
                  ["payload", x.payload],
                  ["metadata", x.metadata],
                  ...Object.entries(x.extra),
                ]),
              ),
            ],
            ["metadata", t.metadata],
            ["data", t.data],
            ...Object.entries(t.extra),
          ]);
          expect(turnToYaml(t)).toBe(whole);
        }
      }),
      { numRuns: 500 },
    );
  });
});
