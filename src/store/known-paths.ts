/**
 * The block paths this isolate has stored, per conversation: the tip of each snapshot it wrote
 * (conv_id + chain) with the weight of its path (read-weight.ts), most recent last, bounded. A full post repeats its conversation's history; when
 * this isolate stored an earlier snapshot of that history, the one-batch write sends only the blocks
 * after that tip, as a delta post would, and checks inside the batch that the tip is still stored
 * (the guard of INSERT_SNAPSHOTS). So this is a hint, never trusted: a tip that is gone (the conversation was deleted
 * and written again, or another isolate's memory differs) fails the batch and the write falls back
 * to the read-then-write path, which looks at every node.
 */
import { BoundedMemory } from "../turn/bounded-memory";

const tips = new BoundedMemory<string, number>(16_384);

const key = (convId: string, chain: string) => `${convId}\u0000${chain}`;

export function rememberTip(convId: string, chain: string, pathWeight: number): void {
  if (chain === "") return;
  tips.set(key(convId, chain), pathWeight);
}

/** The weight of a path this isolate stored a tip of, or undefined. */
export function knownTipWeight(convId: string, chain: string): number | undefined {
  return tips.get(key(convId, chain));
}

export function forgetTip(convId: string, chain: string): void {
  tips.delete(key(convId, chain));
}

/** The index of the deepest of `path`'s nodes this isolate stored as a tip in `convId`, or -1. */
export function deepestKnownTip(convId: string, path: ReadonlyArray<{ chain: string }>): number {
  for (let i = path.length - 1; i >= 0; i--) if (tips.has(key(convId, path[i]!.chain))) return i;
  return -1;
}

/** Forgets every tip (tests that compare a write with and without this isolate's memory). */
export function forgetAllTips(): void {
  tips.clear();
}
