/**
 * The viewer's line diff (src/viewer/client/diff.ts) outside a browser: jsdiff's edit script turned
 * into numbered rows keeps every line once and in order, keeps as many lines as a longest common
 * subsequence (checked against an independent LCS on random inputs), pairs replacements side by side,
 * and folds unchanged stretches.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  diffCounts,
  foldUnchanged,
  lineDiff,
  MAX_EDIT_LENGTH,
  payloadLines,
  sideBySide,
  type DiffOp,
} from "../../../src/viewer/client/diff";

/** Plain table LCS length, written independently of the viewer's. */
function lcsLength(a: readonly string[], b: readonly string[]): number {
  const table: number[][] = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      table[i]![j] = a[i - 1] === b[j - 1] ? table[i - 1]![j - 1]! + 1 : Math.max(table[i - 1]![j]!, table[i]![j - 1]!);
    }
  }
  return table[a.length]![b.length]!;
}

const leftOf = (ops: DiffOp[]) => ops.flatMap((o) => (o.op === "ins" ? [] : [o.left]));
const rightOf = (ops: DiffOp[]) => ops.flatMap((o) => (o.op === "del" ? [] : [o.right]));
const kept = (ops: DiffOp[]) => ops.filter((o): o is Extract<DiffOp, { op: "eq" }> => o.op === "eq");

function checkDiff(left: string[], right: string[], { minimal = true } = {}) {
  const ops = lineDiff(left, right);
  // Every line of each side appears exactly once, in order.
  expect(leftOf(ops)).toEqual(left.map((_, i) => i));
  expect(rightOf(ops)).toEqual(right.map((_, i) => i));
  // Kept lines really are equal, and (within the edit budget) as many are kept as possible.
  for (const o of kept(ops)) expect(left[o.left]).toBe(right[o.right]);
  if (minimal) expect(kept(ops)).toHaveLength(lcsLength(left, right));
  return ops;
}

describe("line diff", () => {
  it("handles the simple cases", () => {
    expect(checkDiff([], [])).toEqual([]);
    expect(checkDiff(["a", "b"], ["a", "b"]).every((o) => o.op === "eq")).toBe(true);
    expect(checkDiff([], ["x"])).toEqual([{ op: "ins", right: 0 }]);
    expect(checkDiff(["x"], [])).toEqual([{ op: "del", left: 0 }]);
    expect(checkDiff(["a", "b", "c"], ["a", "c"])).toEqual([
      { op: "eq", left: 0, right: 0 },
      { op: "del", left: 1 },
      { op: "eq", left: 2, right: 1 },
    ]);
  });

  it("pairs a replaced line side by side", () => {
    const rows = sideBySide(checkDiff(["id: t1", "text: old", "end"], ["id: t1", "text: new", "end"]));
    expect(rows).toEqual([
      { change: false, left: 0, right: 0 },
      { change: true, left: 1, right: 1 },
      { change: false, left: 2, right: 2 },
    ]);
    expect(diffCounts(rows)).toEqual({ removed: 1, added: 1 });
  });

  it("shows appended blocks of a growing turn as additions only", () => {
    const before = ["id: t1", "blocks:", "  - kind: user", "    text: hi", "metadata: {}"];
    const after = ["id: t1", "blocks:", "  - kind: user", "    text: hi", "  - kind: llm_text", "    text: hello", "metadata: {}"];
    const ops = checkDiff(before, after);
    expect(ops.filter((o) => o.op === "del")).toHaveLength(0);
    expect(ops.flatMap((o) => (o.op === "ins" ? [after[o.right]] : []))).toEqual(["  - kind: llm_text", "    text: hello"]);
  });

  it("keeps empty lines as lines", () => {
    checkDiff(["a", "", "b"], ["", "a", "", "", "b"]);
  });

  it("is a longest-common-subsequence diff on random inputs", () => {
    const lines = fc.array(fc.constantFrom("a", "b", "c", "d", ""), { maxLength: 24 });
    fc.assert(
      fc.property(lines, lines, (left, right) => {
        const rows = sideBySide(checkDiff(left, right));
        expect(rows.filter((r) => r.left !== null).map((r) => r.left)).toEqual(left.map((_, i) => i));
        expect(rows.filter((r) => r.right !== null).map((r) => r.right)).toEqual(right.map((_, i) => i));
      }),
      { numRuns: 300 },
    );
  });

  it("gives up aligning two unrelated large payloads: the middle is removed, then added", () => {
    const size = MAX_EDIT_LENGTH;
    const left = ["head", ...Array.from({ length: size }, (_, i) => `left ${i}`), "tail"];
    const right = ["head", ...Array.from({ length: size }, (_, i) => `right ${i}`), "tail"];
    const started = Date.now();
    const ops = checkDiff(left, right, { minimal: false });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(ops[0]).toEqual({ op: "eq", left: 0, right: 0 });
    expect(ops.at(-1)).toEqual({ op: "eq", left: size + 1, right: size + 1 });
    expect(ops.slice(1, size + 1).every((o) => o.op === "del")).toBe(true);
    expect(ops.slice(size + 1, -1).every((o) => o.op === "ins")).toBe(true);
  });
});

describe("folding and payload lines", () => {
  it("splits a YAML payload into lines without a trailing empty one", () => {
    expect(payloadLines("id: t1\nblocks: []\n")).toEqual(["id: t1", "blocks: []"]);
    expect(payloadLines("")).toEqual([""]);
  });

  it("shows changes with three lines of context and folds the rest into counts", () => {
    const left = Array.from({ length: 20 }, (_, i) => `line ${i}`);
    const right = left.map((line, i) => (i === 10 ? "changed" : line));
    const shown = foldUnchanged(sideBySide(lineDiff(left, right)));
    expect(shown).toEqual([
      { folded: 7 },
      ...[7, 8, 9].map((i) => ({ row: { change: false, left: i, right: i } })),
      { row: { change: true, left: 10, right: 10 } },
      ...[11, 12, 13].map((i) => ({ row: { change: false, left: i, right: i } })),
      { folded: 6 },
    ]);
  });

  it("does not fold a gap that context already covers", () => {
    const rows = sideBySide(lineDiff(["a", "b", "c"], ["x", "b", "y"]));
    expect(foldUnchanged(rows).every((s) => "row" in s)).toBe(true);
  });
});
