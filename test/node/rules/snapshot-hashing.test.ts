/**
 * A snapshot's blocks are content-addressed (src/turn/snapshot.ts hashBlocks): each content the
 * snapshot repeats is hashed once, whatever the isolate's memory holds — a request of 2,000 copies
 * of one block costs one SHA-256 of it, not 2,000 — and every position gets the same hash and weight.
 */
import { createHash } from "node:crypto";
import { afterEach, describe, expect, it, vi } from "vitest";
import { hashBlocks, readSnapshot } from "../../../src/turn/snapshot";

afterEach(() => vi.restoreAllMocks());

describe("hashBlocks", () => {
  it("hashes each content of a snapshot once, however often the snapshot repeats it", async () => {
    // Contents this process has not seen (its memory of recent blocks would answer for them).
    const texts = [0, 1, 2].map((i) => `${crypto.randomUUID()} ${i}`);
    const blocks = Array.from({ length: 2_000 }, (_, i) => ({ id: `b${i % 7}`, kind: "user", payload: { text: texts[i % 3] } }));
    const snapshot = readSnapshot(
      { conv_id: "c", session_id: "s", created_at_ms: 1, turn: { id: "t", blocks } },
      { nowMs: 2, maxClockSkewMs: 0 },
    );

    const digest = vi.spyOn(crypto.subtle, "digest");
    await hashBlocks(snapshot);
    const hashed = digest.mock.calls
      .map(([, data]) => new TextDecoder().decode(data as Uint8Array))
      .filter((text) => text.startsWith('{"kind":'));
    expect(hashed.sort()).toEqual(texts.map((text) => `{"kind":"user","role":"","payload":{"text":"${text}"},"metadata":{}}`).sort());

    const sha = (text: string) => createHash("sha256").update(text).digest("hex");
    snapshot.blocks.forEach((b, i) => {
      expect(b.contentHash).toBe(sha(`{"kind":"user","role":"","payload":{"text":"${texts[i % 3]}"},"metadata":{}}`));
      expect(b.contentWeight).toBe(snapshot.blocks[i % 3]!.contentWeight);
    });
  });
});
