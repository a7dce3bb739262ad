/**
 * Saving snapshots (CONTRACT §4, §5.4, §6.3): all or nothing, with a constant number of statements
 * per request however many items and blocks it carries. A snapshot costs its new blocks plus a
 * constant, whatever history it repeats: the store writes only the path nodes (src/turn/block-path.ts)
 * the conversation does not have, and block contents (or one more reference to stored ones) for them.
 *
 * Two ways, same result — statements.ts holds their SQL:
 *  - one-round-trip.ts: requests whose blocks are all in the request, in one batch that decides
 *    inside D1 what exists and refuses itself on anything it cannot write as it is;
 *  - read-then-write.ts: everything else, and after such a refusal — a read (plan-reads.ts), then a
 *    write.
 */
import { describeIdentity, identityKey, snapshotFingerprint, type PreparedSnapshot } from "../../turn/snapshot";
import type { D1Handle } from "../d1";
import { StoreError } from "../errors";
import { writeAtOnce } from "./one-round-trip";
import { type SaveOutcome, writeAfterReading } from "./read-then-write";
import type { WriteOptions } from "./statements";

export { SNAPSHOT_WRITE_STATEMENTS, UPSERT_CONVERSATION_EVENTS, type WriteOptions } from "./statements";
export type { SaveOutcome };

export interface SaveResult {
  /** One per input snapshot, in order. */
  outcomes: SaveOutcome[];
  rowsWritten: number;
  rowsRead: number;
  /** Path nodes the request added: its new blocks. */
  nodesAdded: number;
  /** Results of the caller's `alongside` statements (WriteOptions), in order. */
  alongside: D1Result[];
}

/** What a replay must match (snapshotFingerprint) for a prepared snapshot; the import tool dedupes its source with it. */
export function fingerprintOf(s: PreparedSnapshot): string {
  return snapshotFingerprint({
    runtimeKey: s.runtimeKey,
    inferenceId: s.inferenceId,
    metadata: s.turn.metadata,
    data: s.turn.data,
    extra: s.turn.extra,
    tipChain: s.tipChain,
    blockCount: s.blockCount,
  });
}

/**
 * Saves snapshots all-or-nothing. A snapshot identical to the stored one under its identity is
 * "unchanged" and writes nothing; a different one throws StoreError SNAPSHOT_CONFLICT, an unknown
 * block reference UNKNOWN_BLOCK_REF, a bound (limits.ts) TurnFormatError — before anything of the
 * request is written.
 */
export async function saveSnapshots(db: D1Handle, snapshots: readonly PreparedSnapshot[], options: WriteOptions = {}): Promise<SaveResult> {
  const outcomes: SaveOutcome[] = snapshots.map(() => "created");
  // Fingerprints only where they are compared: a repeated identity, or the read-then-write path.
  const fingerprints: string[] = [];
  const fingerprint = (i: number) => (fingerprints[i] ??= fingerprintOf(snapshots[i]!));
  const firstIndex = new Map<string, number>();
  const pending: number[] = [];
  snapshots.forEach((s, i) => {
    const first = firstIndex.get(identityKey(s));
    if (first === undefined) {
      firstIndex.set(identityKey(s), i);
      pending.push(i);
    } else if (fingerprint(first) !== fingerprint(i)) {
      throw new StoreError(
        "SNAPSHOT_CONFLICT",
        `items[${i}] repeats the identity of items[${first}] with different content: ${describeIdentity(s)}`,
      );
    } else {
      outcomes[i] = "unchanged";
    }
  });
  const request = pending.map((i) => snapshots[i]!);
  const atOnce = await writeAtOnce(db, request, options);
  if (atOnce) return { outcomes, ...atOnce };
  return { outcomes, ...(await writeAfterReading(db, snapshots, pending, fingerprint, outcomes, options)) };
}
