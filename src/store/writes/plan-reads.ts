/**
 * The reads of the read-then-write path (read-then-write.ts): one batch for what the request repeats
 * — the stored nodes of its paths and prefixes (depth, path weight), the stored identities (their
 * fingerprints), deletions and moves under way, which refuse the request here — and, only when
 * needed, a second for what references and unweighed stored paths weigh.
 */
import { pathNodes } from "../../turn/block-path";
import { identityKey, snapshotFingerprint, type LegacyBlockRef, type PreparedSnapshot } from "../../turn/snapshot";
import { storedObject } from "../../turn/turn";
import type { turnSnapshots } from "../../db/schema";
import { jsonParameterChunks, rowsRead, type D1Handle } from "../d1";
import { isMoveState, movingError, StoreError } from "../errors";
import type { Columns } from "../rows";
import {
  FIND_CONVERSATION_BLOCKS,
  FIND_DELETIONS,
  FIND_NODES,
  SELECT_EXISTING,
  statementsFor,
  WALK_PATH_WEIGHTS,
  type WriteOptions,
} from "./statements";

/** The item an error is about (a batch item's label), as a message prefix. */
export const where = (s: PreparedSnapshot) => (s.label ? `${s.label}: ` : "");
export const nodeKey = (convId: string, chain: string) => `${convId}\u0000${chain}`;
export const blockKey = (convId: string, blockId: string, contentHash: string) => `${convId}\u0000${blockId}\u0000${contentHash}`;

/** A stored snapshot as SELECT_EXISTING returns it. */
type StoredSnapshotRow = Omit<Columns<typeof turnSnapshots.$inferSelect>, "id" | "weight">;

/** A stored row's fingerprint; a legacy row (blocks still in block_refs_json) is named by the same chain rule. */
async function storedFingerprint(row: StoredSnapshotRow): Promise<string> {
  let tipChain = row.tip_chain;
  let blockCount = row.block_count;
  if (tipChain === null) {
    const refs = JSON.parse(row.block_refs_json) as LegacyBlockRef[];
    tipChain = (await pathNodes(refs.map(([blockId, contentHash]) => ({ blockId, contentHash, extraJson: "" })))).at(-1)?.chain ?? "";
    blockCount = refs.length;
  }
  return snapshotFingerprint({
    runtimeKey: row.runtime_key,
    inferenceId: row.inference_id,
    metadata: storedObject(row.turn_metadata_json),
    data: storedObject(row.turn_data_json),
    extra: row.turn_extra_json === "" ? {} : storedObject(row.turn_extra_json),
    tipChain,
    blockCount,
  });
}

/** What the plan's reads found. */
export interface Found {
  /** Stored nodes of the request's paths and prefixes: depth and path weight (null: none recorded). */
  nodes: Map<string, { depth: number; pathWeight: number | null }>;
  /** Stored identities: their fingerprints. */
  stored: Map<string, string>;
  rowsRead: number;
}

/**
 * The first read: the stored nodes of the request's paths and prefixes, its stored identities, and
 * deletions or moves under way in its conversations — which refuse it (StoreError) before anything else.
 */
export async function readWhatIsStored(db: D1Handle, snapshots: readonly PreparedSnapshot[], options: WriteOptions): Promise<Found> {
  const wanted = new Map<string, [string, string]>();
  for (const s of snapshots) {
    if (s.prefix) wanted.set(nodeKey(s.convId, s.prefix.chain), [s.convId, s.prefix.chain]);
    for (const n of s.nodes) wanted.set(nodeKey(s.convId, n.chain), [s.convId, n.chain]);
  }
  const identities = snapshots.map((s) => [s.convId, s.sessionId, s.turnId, s.phase, s.createdAtMs]);
  const conversations = [...new Set(snapshots.map((s) => s.convId))];
  const results = await db.batch<Record<string, unknown>>([
    ...statementsFor(db, FIND_NODES, [...wanted.values()]),
    ...statementsFor(db, SELECT_EXISTING, identities),
    ...jsonParameterChunks(conversations).map((chunk) => db.prepare(FIND_DELETIONS).bind(chunk, options.tokenIssuedAtMs ?? null)),
  ]);
  const found: Found = { nodes: new Map(), stored: new Map(), rowsRead: rowsRead(results) };
  for (const row of results.flatMap((r) => r.results)) {
    if ("deleting" in row) {
      const convId = row.deleting as string;
      const s = snapshots.find((x) => x.convId === convId)!;
      if (isMoveState(row.why)) throw movingError(convId, row.why, row.other_binding as string);
      if (row.why === "deleted") {
        throw new StoreError(
          "FORBIDDEN",
          `${where(s)}conversation ${JSON.stringify(convId)} was deleted after this conversation token was minted; get a new token`,
        );
      }
      throw new StoreError(
        "CONVERSATION_DELETING",
        `${where(s)}conversation ${JSON.stringify(convId)} is being deleted; write to it again once its deletion has finished`,
      );
    }
    if ("chain" in row) {
      found.nodes.set(nodeKey(row.conv_id as string, row.chain as string), {
        depth: row.depth as number,
        pathWeight: row.path_weight as number | null,
      });
    } else {
      const r = row as unknown as StoredSnapshotRow;
      const key = identityKey({
        convId: r.conv_id,
        sessionId: r.session_id,
        turnId: r.turn_id,
        phase: r.phase,
        createdAtMs: r.created_at_ms,
      });
      found.stored.set(key, await storedFingerprint(r));
    }
  }
  return found;
}

/**
 * The second read, only when needed: the content weight of referenced blocks (they must be on one of
 * the conversation's paths) and the weight of stored paths that have none recorded.
 */
export async function readWeights(
  db: D1Handle,
  references: ReadonlyArray<[string, string, string]>,
  unweighedPaths: ReadonlyArray<[string, string]>,
): Promise<{ blockWeights: Map<string, number>; pathWeights: Map<string, number>; rowsRead: number }> {
  const refStatements = statementsFor(db, FIND_CONVERSATION_BLOCKS, references);
  const results = await db.batch<Record<string, unknown>>([...refStatements, ...statementsFor(db, WALK_PATH_WEIGHTS, unweighedPaths)]);
  const blockWeights = new Map<string, number>();
  const pathWeights = new Map<string, number>();
  results.forEach((result, i) => {
    for (const row of result.results) {
      if (i < refStatements.length)
        blockWeights.set(blockKey(row.conv_id as string, row.block_id as string, row.content_hash as string), row.weight as number);
      else pathWeights.set(nodeKey(row.conv_id as string, row.chain as string), row.path_weight as number);
    }
  });
  return { blockWeights, pathWeights, rowsRead: rowsRead(results) };
}
