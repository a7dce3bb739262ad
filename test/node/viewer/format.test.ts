/**
 * The viewer's formatting (src/viewer/client/format.ts): any stored time renders, including ones a
 * Date cannot hold, which are shown as the raw number instead of throwing and blanking the page.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { count, formatTime, inferenceLabel, pretty, runtimeLabel } from "../../../src/viewer/client/format";

describe("formatTime", () => {
  it("shows times a Date holds as UTC", () => {
    expect(formatTime(Date.UTC(2026, 3, 20, 9, 7, 0))).toBe("2026-04-20 09:07:00.000 UTC");
    expect(formatTime(0)).toBe("1970-01-01 00:00:00.000 UTC");
    expect(formatTime(8.64e15)).toBe("+275760-09-13 00:00:00.000 UTC");
  });

  it("shows a stored time beyond what a Date holds as its raw value", () => {
    expect(() => new Date(Number.MAX_SAFE_INTEGER).toISOString()).toThrow(RangeError);
    expect(formatTime(Number.MAX_SAFE_INTEGER)).toBe("9007199254740991 ms");
    expect(formatTime(8.64e15 + 1)).toBe("8640000000000001 ms");
    expect(formatTime(-Number.MAX_SAFE_INTEGER)).toBe("-9007199254740991 ms");
    expect(formatTime(Number.POSITIVE_INFINITY)).toBe("Infinity ms");
  });

  it("marks a missing time", () => {
    expect(formatTime(undefined)).toBe("—");
    expect(formatTime(null)).toBe("—");
    expect(formatTime(Number.NaN)).toBe("—");
  });

  it("never throws on any integer a column can hold and JSON can carry", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.maxSafeInteger(),
          fc.integer({ min: -1, max: 1 }).map((d) => 8.64e15 + d),
        ),
        (ms) => {
          const text = formatTime(ms);
          expect(text.endsWith(" UTC") || text === `${ms} ms`).toBe(true);
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe("labels", () => {
  it("counts with the right plural", () => {
    expect([count(0, "turn"), count(1, "turn"), count(2, "block")]).toEqual(["0 turns", "1 turn", "2 blocks"]);
  });

  it("shows the unknown runtime and inference as unknown, never as empty", () => {
    expect(runtimeLabel("")).toBe("unknown");
    expect(runtimeLabel("planner")).toBe("planner");
    expect(inferenceLabel("")).toBe("inference unknown");
    expect(inferenceLabel("inf-1")).toBe("inference inf-1");
  });

  it("pretty-prints JSON values and strings that hold JSON, and leaves other text alone", () => {
    expect(pretty({ a: 1 })).toBe('{\n  "a": 1\n}');
    expect(pretty(' {"a":[1]} ')).toBe('{\n  "a": [\n    1\n  ]\n}');
    expect(pretty("{not json")).toBe("{not json");
    expect(pretty("<script>alert(1)</script>")).toBe("<script>alert(1)</script>");
    expect(pretty(undefined)).toBe("(none)");
  });
});
