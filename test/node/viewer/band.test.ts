/**
 * Runtime colours and the runtime history band (src/viewer/client/band.ts): one colour per runtime in
 * the order met, segments that stay readable however many there are, one legend entry per runtime.
 */
import { describe, expect, it } from "vitest";
import type { RuntimeSegment } from "../../../src/viewer/client/api-types";
import {
  bandSegments,
  historySequence,
  legendEntries,
  makePalette,
  PALETTE_SIZE,
  REM_PER_TURN,
  SEGMENT_MIN_REM,
} from "../../../src/viewer/client/band";

const T0 = Date.UTC(2026, 3, 20, 9, 0, 0);

function segment(runtimeKey: string, turns: number, index = 0): RuntimeSegment {
  return {
    runtime_key: runtimeKey,
    first_turn_id: `turn-${index}-a`,
    last_turn_id: `turn-${index}-z`,
    from_ms: T0 + index * 60_000,
    to_ms: T0 + index * 60_000 + 30_000,
    turn_count: turns,
  };
}

/** A hundred switches between three runtimes, as a long-lived conversation may have. */
const manySegments = Array.from({ length: 100 }, (_, i) => segment(["inventory", "planner", "returns"][i % 3]!, 1 + (i % 4), i));

describe("palette", () => {
  it("gives each runtime one colour in the order met, and unknown its own", () => {
    const palette = makePalette();
    expect(["inventory", "planner", "inventory", "", "returns"].map(palette)).toEqual(["rt-0", "rt-1", "rt-0", "rt-unknown", "rt-2"]);
  });

  it("reuses the palette's colours after eight runtimes", () => {
    const palette = makePalette();
    const colours = Array.from({ length: PALETTE_SIZE + 2 }, (_, i) => palette(`runtime-${i}`));
    expect(colours.slice(0, PALETTE_SIZE)).toEqual(Array.from({ length: PALETTE_SIZE }, (_, i) => `rt-${i}`));
    expect(colours.slice(PALETTE_SIZE)).toEqual(["rt-0", "rt-1"]);
  });
});

describe("band segments", () => {
  it("draws a switch inventory → planner as two segments in order, width following turn count", () => {
    const segments = bandSegments([segment("inventory", 2, 0), segment("planner", 2, 1)], makePalette());
    expect(segments.map((s) => [s.label, s.colour, s.grow])).toEqual([
      ["inventory", "rt-0", 2],
      ["planner", "rt-1", 2],
    ]);
    expect(segments[0]!.title).toBe(
      "inventory · 2 turns · turn-0-a → turn-0-z · 2026-04-20 09:00:00.000 UTC → 2026-04-20 09:00:30.000 UTC",
    );
  });

  it("keeps a hundred segments readable: none narrower than the minimum, widths still in proportion", () => {
    const segments = bandSegments(manySegments, makePalette());
    expect(segments).toHaveLength(100);
    for (const [i, s] of segments.entries()) {
      expect(s.basisRem).toBeGreaterThanOrEqual(SEGMENT_MIN_REM);
      expect(s.basisRem).toBe(Math.max(SEGMENT_MIN_REM, manySegments[i]!.turn_count * REM_PER_TURN));
      expect(s.grow).toBe(manySegments[i]!.turn_count);
    }
    expect(new Set(segments.map((s) => s.colour))).toEqual(new Set(["rt-0", "rt-1", "rt-2"]));
  });

  it("labels the unknown runtime", () => {
    expect(bandSegments([segment("", 1)], makePalette())[0]).toMatchObject({ label: "unknown", colour: "rt-unknown" });
  });

  it("renders a segment with out-of-range times", () => {
    const far = { ...segment("planner", 1), from_ms: Number.MAX_SAFE_INTEGER, to_ms: Number.MAX_SAFE_INTEGER };
    expect(bandSegments([far], makePalette())[0]!.title).toContain("9007199254740991 ms → 9007199254740991 ms");
  });
});

describe("legend and history", () => {
  it("has one entry per runtime however many segments, with its totals", () => {
    const entries = legendEntries(manySegments, makePalette());
    expect(entries.map((e) => e.label)).toEqual(["inventory", "planner", "returns"]);
    const turnsOf = (key: string) => manySegments.filter((s) => s.runtime_key === key).reduce((sum, s) => sum + s.turn_count, 0);
    for (const entry of entries) {
      expect(entry.turns).toBe(turnsOf(entry.runtimeKey));
      expect(entry.segments).toBe(manySegments.filter((s) => s.runtime_key === entry.runtimeKey).length);
    }
  });

  it("spells a short history out and shortens a long one", () => {
    expect(historySequence([])).toBe("no turns yet");
    expect(historySequence([segment("inventory", 2), segment("planner", 2), segment("", 1)])).toBe("inventory → planner → unknown");
    expect(historySequence(manySegments)).toBe("inventory → planner → returns → … → returns → inventory (100 segments)");
  });
});
