/**
 * The viewer's browser script outside a browser: it parses, and its line diff is a correct
 * longest-common-subsequence diff (checked against an independent LCS length on random inputs).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LINE_DIFF_SOURCE, VIEWER_SCRIPT } from "../../src/routes/viewer/viewer.script";

type Op = { op: "eq" | "del" | "ins"; left?: number; right?: number };
type Row = { change: boolean; left: number | null; right: number | null };

const { lineDiff, sideBySide } = new Function(`${LINE_DIFF_SOURCE}\nreturn { lineDiff, sideBySide };`)() as {
  lineDiff(left: string[], right: string[]): Op[];
  sideBySide(ops: Op[]): Row[];
};

/** Plain recursive-table LCS length, written independently of the viewer's. */
function lcsLength(a: string[], b: string[]): number {
  const table: number[][] = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      table[i]![j] = a[i - 1] === b[j - 1] ? table[i - 1]![j - 1]! + 1 : Math.max(table[i - 1]![j]!, table[i]![j - 1]!);
    }
  }
  return table[a.length]![b.length]!;
}

function checkDiff(left: string[], right: string[]) {
  const ops = lineDiff(left, right);
  // Every line of each side appears exactly once, in order.
  expect(ops.filter((o) => o.op !== "ins").map((o) => o.left)).toEqual(left.map((_, i) => i));
  expect(ops.filter((o) => o.op !== "del").map((o) => o.right)).toEqual(right.map((_, i) => i));
  // Kept lines really are equal, and as many are kept as possible.
  for (const o of ops.filter((o) => o.op === "eq")) expect(left[o.left!]).toBe(right[o.right!]);
  expect(ops.filter((o) => o.op === "eq")).toHaveLength(lcsLength(left, right));
  return ops;
}

describe("viewer script", () => {
  it("is valid JavaScript with no template interpolation left in it", () => {
    expect(() => new Function(VIEWER_SCRIPT)).not.toThrow();
    expect(VIEWER_SCRIPT).not.toContain("${");
    expect(VIEWER_SCRIPT).not.toContain("`");
  });
});

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
  });

  it("shows appended blocks of a growing turn as additions only", () => {
    const before = ["id: t1", "blocks:", "  - kind: user", "    text: hi", "metadata: {}"];
    const after = ["id: t1", "blocks:", "  - kind: user", "    text: hi", "  - kind: llm_text", "    text: hello", "metadata: {}"];
    const ops = checkDiff(before, after);
    expect(ops.filter((o) => o.op === "del")).toHaveLength(0);
    expect(ops.filter((o) => o.op === "ins").map((o) => after[o.right!])).toEqual(["  - kind: llm_text", "    text: hello"]);
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
});
