/**
 * Chains (src/turn/block-path.ts): the first 16 bytes (hex) of SHA-256 over the canonical JSON
 * [parent chain, block_id, content_hash, extra_json], whatever the per-isolate memory holds — its
 * keys must never let one step answer for another.
 */
import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { chainOf, pathNodes, type PathStep } from "../../../src/turn/block-path";
import { canonicalJson } from "../../../src/turn/canonical-json";

const expected = (parent: string, step: PathStep) =>
  createHash("sha256")
    .update(canonicalJson([parent, step.blockId, step.contentHash, step.extraJson]))
    .digest("hex")
    .slice(0, 32);

describe("chainOf", () => {
  it("is the truncated SHA-256 of the canonical material, for steps whose fields run into each other", async () => {
    const hash = "a".repeat(64);
    // Each pair would share a key if the fields were only joined with a separator.
    const steps: Array<[string, PathStep]> = [
      ["", { blockId: "c", contentHash: hash, extraJson: "a|b" }],
      ["", { blockId: "b|c", contentHash: hash, extraJson: "a" }],
      ["", { blockId: "b", contentHash: `${hash}|x`, extraJson: "" }],
      ["", { blockId: "b", contentHash: hash, extraJson: "x|" }],
      ["", { blockId: "b", contentHash: hash, extraJson: '{"k":"<&>"}' }],
      ["f".repeat(32), { blockId: "b\u2028", contentHash: hash, extraJson: "" }],
    ];
    for (const [parent, step] of steps) expect(await chainOf(parent, step), JSON.stringify(step)).toBe(expected(parent, step));
    // Asked again (answered from the memory): the same.
    for (const [parent, step] of steps) expect(await chainOf(parent, step)).toBe(expected(parent, step));
  });

  it("answers from its memory exactly what it would compute (property)", async () => {
    const text = fc.string({ unit: fc.constantFrom("a", "b", "|", "0", "1", "\u2028", "<", '"'), maxLength: 6 });
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.constantFrom("", "0".repeat(32)), text, text, text), { minLength: 1, maxLength: 30 }),
        async (steps) => {
          for (const [parent, blockId, contentHash, extraJson] of [...steps, ...steps]) {
            const step = { blockId, contentHash, extraJson };
            expect(await chainOf(parent, step)).toBe(expected(parent, step));
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe("pathNodes", () => {
  it("chains each step from the one before, from the memory or hashed, as chainOf does (property)", async () => {
    const text = fc.string({ unit: fc.constantFrom("a", "b", "|", "\u2028", "<"), maxLength: 4 });
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(text, text, text), { minLength: 0, maxLength: 12 }), fc.nat(5), async (list, depth) => {
        const steps = list.map(([blockId, contentHash, extraJson]) => ({ blockId, contentHash, extraJson }));
        const parent = depth === 0 ? "" : "f".repeat(32);
        // Twice: computed, then answered from the memory.
        for (let round = 0; round < 2; round++) {
          const nodes = await pathNodes(steps, parent, depth);
          let chain = parent;
          nodes.forEach((node, i) => {
            expect(node).toEqual({ ...steps[i], parentChain: chain, chain: expected(chain, steps[i]!), depth: depth + i + 1 });
            chain = node.chain;
          });
          expect(nodes).toHaveLength(steps.length);
        }
      }),
      { numRuns: 200 },
    );
  });
});
