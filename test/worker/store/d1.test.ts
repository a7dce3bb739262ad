/**
 * The JSON parameters every write sends (src/store/d1.ts, jsonParameterChunks): a statement's rows
 * packed into JSON arrays within a byte budget, and a row that alone would pass the budget refused
 * (ROW_TOO_LARGE) rather than sent — D1 would fail the whole batch with SQLITE_TOOBIG, a 500 (issue 29).
 * The budget counts a chunk's brackets and a comma after each of its rows, so a chunk's text is at
 * most `budget − 1` bytes of UTF-8.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { jsonParameterChunks, MAX_JSON_PARAMETER_BYTES } from "../../../src/store/d1";
import { StoreError } from "../../../src/store/errors";

const bytes = (text: string) => new TextEncoder().encode(text).length;

/** The refusal: a StoreError ROW_TOO_LARGE saying how large the row would be. */
function refusalOf(rows: readonly unknown[], budget?: number): StoreError {
  try {
    jsonParameterChunks(rows, budget);
  } catch (error) {
    expect(error).toBeInstanceOf(StoreError);
    return error as StoreError;
  }
  throw new Error("jsonParameterChunks sent a row over its budget");
}

describe("jsonParameterChunks", () => {
  it("refuses a row that alone passes its budget, counting its JSON as sent (escapes, UTF-8), and sends one that fits it exactly", () => {
    const budget = 100;
    // `[row]`: two brackets around the row's JSON, at most budget − 1 bytes.
    for (const [fits, over] of [
      ["a".repeat(budget - 5), "a".repeat(budget - 4)],
      // `"` is sent as \" (two bytes), 🚀 as four bytes of UTF-8, a control character as \u0001 (six).
      [`${'"'.repeat(40)}${"a".repeat(budget - 85)}`, `${'"'.repeat(40)}${"a".repeat(budget - 84)}`],
      [`${"🚀".repeat(20)}${"a".repeat(budget - 85)}`, `${"🚀".repeat(20)}${"a".repeat(budget - 84)}`],
      [`${"\u0001".repeat(10)}${"a".repeat(budget - 65)}`, `${"\u0001".repeat(10)}${"a".repeat(budget - 64)}`],
    ]) {
      const chunks = jsonParameterChunks([fits], budget);
      expect(chunks).toEqual([`[${JSON.stringify(fits)}]`]);
      expect(bytes(chunks[0]!)).toBe(budget - 1);
      const refused = refusalOf([over], budget);
      expect(refused.code).toBe("ROW_TOO_LARGE");
      expect(refused.message).toBe(`a row would be sent to D1 as ${budget - 1} bytes of JSON; at most ${budget - 3} fit one statement`);
    }
    // Among rows that fit, one that does not refuses the whole statement: nothing is sent.
    expect(refusalOf(["a", "a".repeat(budget), "b"], budget).code).toBe("ROW_TOO_LARGE");
  });

  it("at the real budget: a row of 1,949,997 bytes of JSON is sent alone, one byte more is refused", () => {
    const text = '"'.repeat(10_000) + "a".repeat(MAX_JSON_PARAMETER_BYTES - 3 - 2 - 20_000);
    expect(bytes(JSON.stringify(text))).toBe(MAX_JSON_PARAMETER_BYTES - 3);
    const chunks = jsonParameterChunks([text]);
    expect(chunks).toHaveLength(1);
    expect(bytes(chunks[0]!)).toBe(MAX_JSON_PARAMETER_BYTES - 1);
    expect(refusalOf([`${text}a`]).code).toBe("ROW_TOO_LARGE");
  });

  it("splits rows exactly at the budget: two rows that fill a chunk stay together, one byte more starts a new chunk", () => {
    const budget = 50;
    // ["x…","y…"]: 2 brackets, the two rows' JSON, one comma — budget − 1 bytes in all.
    const x = "x".repeat(20);
    const y = "y".repeat(budget - 1 - 3 - (x.length + 2) - 2);
    expect(jsonParameterChunks([x, y], budget)).toEqual([JSON.stringify([x, y])]);
    expect(bytes(JSON.stringify([x, y]))).toBe(budget - 1);
    expect(jsonParameterChunks([x, `${y}y`], budget)).toEqual([JSON.stringify([x]), JSON.stringify([`${y}y`])]);
  });

  /** Rows of what statements send: strings with what JSON escapes, arrays and objects of them, numbers, null. */
  const text = fc.stringMatching(/^[a"\\\u0001\u0085\u2028🚀é<]{0,40}$/u);
  const row = fc.oneof(
    text,
    fc.integer(),
    fc.constant(null),
    fc.array(fc.oneof(text, fc.integer(), fc.constant(null)), { maxLength: 8 }),
    fc.dictionary(fc.constantFrom("conv_id", "chain", "payload_json", "weight"), fc.oneof(text, fc.integer())),
  );

  it("packs any rows greedily: every row once and in order, no chunk over the budget, no split where the next row would have fit (property, 2,000 statements)", () => {
    fc.assert(
      fc.property(fc.array(row, { maxLength: 40 }), fc.integer({ min: 8, max: 400 }), (rows, budget) => {
        const largest = Math.max(0, ...rows.map((r) => bytes(JSON.stringify(r))));
        if (largest > budget - 3) {
          expect(refusalOf(rows, budget).code).toBe("ROW_TOO_LARGE");
          return;
        }
        const chunks = jsonParameterChunks(rows, budget);
        const parsed = chunks.map((c) => JSON.parse(c) as unknown[]);
        expect(JSON.stringify(parsed.flat())).toBe(JSON.stringify(rows));
        parsed.forEach((rowsOfChunk, i) => {
          expect(rowsOfChunk.length).toBeGreaterThan(0);
          expect(bytes(chunks[i]!)).toBeLessThanOrEqual(budget - 1);
          // The chunk ends only where its next row would not fit it.
          const next = parsed[i + 1]?.[0];
          if (next !== undefined) expect(bytes(chunks[i]!) + 1 + bytes(JSON.stringify(next))).toBeGreaterThan(budget - 1);
        });
      }),
      { numRuns: 2_000 },
    );
  });
});
