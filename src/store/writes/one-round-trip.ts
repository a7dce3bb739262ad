/**
 * The write in one round trip, for requests whose blocks are all in the request (no references) and
 * whose prefixes, if any, are paths this isolate knows the weight of (written by an earlier item of
 * the request, or remembered: known-paths.ts): one batch that decides inside D1 which of the
 * request's nodes the conversations have, counts the new ones' blocks, and fails as a whole — through
 * a unique key or the snapshot insert's guard (statements.ts) — when the request repeats a stored
 * identity (a replay or a conflict), builds on a path that is gone, or writes to a conversation being
 * deleted (or deleted since its token was minted). It then answers null, and the read-then-write
 * path answers precisely.
 *
 * Everything the bounds need is known without reading: each snapshot's weight, and its nodes' path
 * weights, are summed from its own blocks onto its prefix's. A full post whose history reaches a tip
 * this isolate stored is sent as a delta from that tip: only its later nodes and their blocks, the
 * tip checked as a prefix.
 */
import { assertRequestWeight, assertSnapshotWeight, MAX_NEW_BLOCK_ROWS_PER_REQUEST, MAX_NEW_ROWS_PER_REQUEST } from "../../turn/limits";
import { blockReadWeight, type BlockPrefix, type PreparedSnapshot } from "../../turn/snapshot";
import { rowsRead, rowsWritten, type D1Handle } from "../d1";
import { deepestKnownTip, forgetTip, knownTipWeight, rememberTip } from "../known-paths";
import {
  blockRowOf,
  eventRowsOf,
  INSERT_NEW_NODES,
  INSERT_SNAPSHOTS,
  type NodeToWrite,
  nodeRowOf,
  refusalOf,
  snapshotRowsOf,
  statementsFor,
  UPSERT_BLOCKS_ON_NEW_NODES,
  UPSERT_CONVERSATION_EVENTS,
  type WriteOptions,
} from "./statements";

export interface WriteCounts {
  rowsWritten: number;
  rowsRead: number;
  /** Path nodes the request added: its new blocks. */
  nodesAdded: number;
  /** Results of the caller's `alongside` statements (WriteOptions), in order. */
  alongside: D1Result[];
}

const nodeKey = (convId: string, chain: string) => `${convId}\u0000${chain}`;

/** The weight of a prefix's path, when known without reading: an earlier item's node, or a remembered tip. */
function knownPrefixWeight(s: PreparedSnapshot, planned: ReadonlyMap<string, NodeToWrite>): number | undefined {
  if (!s.prefix) return 0;
  return planned.get(nodeKey(s.convId, s.prefix.chain))?.pathWeight ?? knownTipWeight(s.convId, s.prefix.chain);
}

/** A snapshot's nodes with the weight of the path through each, from its prefix's. */
function nodesOf(s: PreparedSnapshot, prefixWeight: number): NodeToWrite[] {
  let pathWeight = prefixWeight;
  return s.nodes.map((node, i) => {
    pathWeight += blockReadWeight(s.blocks[i]!);
    return { ...node, convId: s.convId, pathWeight };
  });
}

export async function writeAtOnce(
  db: D1Handle,
  snapshots: readonly PreparedSnapshot[],
  options: WriteOptions,
): Promise<WriteCounts | null> {
  if (snapshots.some((s) => s.blocks.some((b) => b.ref))) return null;
  const nodes = new Map<string, NodeToWrite>();
  const contents = new Map<string, ReturnType<typeof blockRowOf> & { nodes: Array<[string, string]> }>();
  // Per snapshot: the node its batch continues — its prefix, or a remembered tip it reaches — its
  // weight, and the weight of its path (remembered with its tip).
  const guards: Array<BlockPrefix | null> = [];
  const weights: number[] = [];
  const pathWeights: number[] = [];
  const hinted: Array<[string, string]> = [];
  for (const s of snapshots) {
    const prefixWeight = knownPrefixWeight(s, nodes);
    if (prefixWeight === undefined) return null;
    const path = nodesOf(s, prefixWeight);
    const pathWeight = path.at(-1)?.pathWeight ?? prefixWeight;
    weights.push(pathWeight + s.turnWeight);
    pathWeights.push(pathWeight);
    assertSnapshotWeight(s, pathWeight + s.turnWeight);
    let guard = s.prefix;
    const known = deepestKnownTip(s.convId, path);
    if (known >= 0) {
      hinted.push([s.convId, path[known]!.chain]);
      guard = { chain: path[known]!.chain, blocks: path[known]!.depth };
    }
    guards.push(guard);
    for (let i = known + 1; i < path.length; i++) {
      const node = path[i]!;
      const key = nodeKey(s.convId, node.chain);
      if (nodes.has(key)) continue;
      nodes.set(key, node);
      const block = s.blocks[i]!;
      const contentKey = `${block.id}\u0000${block.contentHash}`;
      let content = contents.get(contentKey);
      // The first snapshot with a block is the first to place it on a new node when its row is new.
      if (!content) contents.set(contentKey, (content = { ...blockRowOf(block, s.createdAtMs), nodes: [] }));
      content.nodes.push([s.convId, node.chain]);
    }
  }
  assertRequestWeight(weights.reduce((sum, w) => sum + w, 0));
  // At most this many rows (fewer when nodes exist): past the bound, the plan counts them exactly.
  const conversations = new Set(snapshots.map((s) => s.convId)).size;
  if (contents.size > MAX_NEW_BLOCK_ROWS_PER_REQUEST) return null;
  if (contents.size + nodes.size + 2 * snapshots.length + conversations > MAX_NEW_ROWS_PER_REQUEST) return null;
  const statements = [
    ...statementsFor(db, UPSERT_CONVERSATION_EVENTS, eventRowsOf(snapshots, options)),
    ...statementsFor(db, UPSERT_BLOCKS_ON_NEW_NODES, [...contents.values()]),
  ];
  const firstNodeStatement = statements.length;
  statements.push(...statementsFor(db, INSERT_NEW_NODES, [...nodes.values()].map(nodeRowOf)));
  const nodeStatements = statements.length - firstNodeStatement;
  statements.push(
    ...statementsFor(
      db,
      INSERT_SNAPSHOTS,
      snapshotRowsOf(
        snapshots,
        (_, i) => guards[i]!,
        (_, i) => weights[i]!,
        options,
      ),
    ),
  );
  const alongside = options.alongside ?? [];
  statements.push(...alongside);
  try {
    const results = await db.batch(statements);
    const nodesAdded = results
      .slice(firstNodeStatement, firstNodeStatement + nodeStatements)
      .reduce((sum, r) => sum + (r.meta?.changes ?? 0), 0);
    snapshots.forEach((s, i) => rememberTip(s.convId, s.tipChain, pathWeights[i]!));
    return {
      rowsWritten: rowsWritten(results),
      rowsRead: rowsRead(results),
      nodesAdded,
      alongside: results.slice(results.length - alongside.length),
    };
  } catch (error) {
    if (refusalOf(error) === null) throw error;
    // A remembered tip may be why: not used again (the fallback stores what is missing, and remembers it).
    for (const [convId, chain] of hinted) forgetTip(convId, chain);
    return null;
  }
}
