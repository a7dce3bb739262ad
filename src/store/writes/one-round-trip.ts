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
import { StoreError } from "../errors";
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

/** What the one batch writes, planned without reading. */
interface AtOncePlan {
  /** New path nodes by conversation and chain, in request order. */
  nodes: Map<string, NodeToWrite>;
  /** Block contents on the new nodes, each with the nodes that place it. */
  contents: Map<string, ReturnType<typeof blockRowOf> & { nodes: Array<[string, string]> }>;
  /** Per snapshot: the node its batch continues — its prefix, or a remembered tip it reaches. */
  guards: Array<BlockPrefix | null>;
  /** Per snapshot: its weight, and the weight of its path (remembered with its tip). */
  weights: number[];
  pathWeights: number[];
  /** Remembered tips the batch continues from: forgotten if the batch is refused. */
  hinted: Array<[string, string]>;
}

/** A snapshot's nodes after `known` (the deepest remembered tip it reaches), and their blocks, into the plan. */
function addNewNodes(p: AtOncePlan, s: PreparedSnapshot, path: readonly NodeToWrite[], known: number): void {
  for (let i = known + 1; i < path.length; i++) {
    const node = path[i]!;
    const key = nodeKey(s.convId, node.chain);
    if (p.nodes.has(key)) continue;
    p.nodes.set(key, node);
    const block = s.blocks[i]!;
    const contentKey = `${block.id}\u0000${block.contentHash}`;
    let content = p.contents.get(contentKey);
    // The first snapshot with a block is the first to place it on a new node when its row is new.
    if (!content) p.contents.set(contentKey, (content = { ...blockRowOf(block, s.createdAtMs), nodes: [] }));
    content.nodes.push([s.convId, node.chain]);
  }
}

/**
 * The plan of the batch, each snapshot's weight checked; null when a prefix's path weight is not
 * known without reading (the read-then-write path weighs it).
 */
function planAtOnce(snapshots: readonly PreparedSnapshot[]): AtOncePlan | null {
  const p: AtOncePlan = { nodes: new Map(), contents: new Map(), guards: [], weights: [], pathWeights: [], hinted: [] };
  for (const s of snapshots) {
    const prefixWeight = knownPrefixWeight(s, p.nodes);
    if (prefixWeight === undefined) return null;
    const path = nodesOf(s, prefixWeight);
    const pathWeight = path.at(-1)?.pathWeight ?? prefixWeight;
    p.weights.push(pathWeight + s.turnWeight);
    p.pathWeights.push(pathWeight);
    assertSnapshotWeight(s, pathWeight + s.turnWeight);
    let guard = s.prefix;
    const known = deepestKnownTip(s.convId, path);
    if (known >= 0) {
      p.hinted.push([s.convId, path[known]!.chain]);
      guard = { chain: path[known]!.chain, blocks: path[known]!.depth };
    }
    p.guards.push(guard);
    addNewNodes(p, s, path, known);
  }
  return p;
}

/**
 * A block row's parameter lists the new nodes that place it (their count is its ref_count), so a
 * block repeated at thousands of positions makes that one row too large to send (ROW_TOO_LARGE from
 * jsonParameterChunks). The read-then-write path sends counts instead: null sends the request there.
 */
function batchOfUnlessTooLarge(...args: Parameters<typeof batchOf>): ReturnType<typeof batchOf> | null {
  try {
    return batchOf(...args);
  } catch (error) {
    if (error instanceof StoreError && error.code === "ROW_TOO_LARGE") return null;
    throw error;
  }
}

/** The batch's statements, and where its node inserts are (their changes count the nodes added). */
function batchOf(
  db: D1Handle,
  snapshots: readonly PreparedSnapshot[],
  p: AtOncePlan,
  options: WriteOptions,
): { statements: D1PreparedStatement[]; nodeStatements: { first: number; count: number } } {
  const statements = [
    ...statementsFor(db, UPSERT_CONVERSATION_EVENTS, eventRowsOf(snapshots, options)),
    ...statementsFor(db, UPSERT_BLOCKS_ON_NEW_NODES, [...p.contents.values()]),
  ];
  const first = statements.length;
  statements.push(...statementsFor(db, INSERT_NEW_NODES, [...p.nodes.values()].map(nodeRowOf)));
  const count = statements.length - first;
  statements.push(
    ...statementsFor(
      db,
      INSERT_SNAPSHOTS,
      snapshotRowsOf(
        snapshots,
        (_, i) => p.guards[i]!,
        (_, i) => p.weights[i]!,
        options,
      ),
    ),
  );
  statements.push(...(options.alongside ?? []));
  return { statements, nodeStatements: { first, count } };
}

/**
 * The request in one batch; null when that batch cannot decide alone — references, a prefix whose
 * weight is not known here, more rows than the bound lets it count roughly, or a refusal (a replay, a
 * conflict, a path gone, a deletion) — and the read-then-write path answers.
 */
export async function writeAtOnce(
  db: D1Handle,
  snapshots: readonly PreparedSnapshot[],
  options: WriteOptions,
): Promise<WriteCounts | null> {
  if (snapshots.some((s) => s.blocks.some((b) => b.ref))) return null;
  const p = planAtOnce(snapshots);
  if (p === null) return null;
  assertRequestWeight(p.weights.reduce((sum, w) => sum + w, 0));
  // At most this many rows (fewer when nodes exist): past the bound, the plan counts them exactly.
  const conversations = new Set(snapshots.map((s) => s.convId)).size;
  if (p.contents.size > MAX_NEW_BLOCK_ROWS_PER_REQUEST) return null;

  if (p.contents.size + p.nodes.size + 2 * snapshots.length + conversations > MAX_NEW_ROWS_PER_REQUEST) return null;
  const batch = batchOfUnlessTooLarge(db, snapshots, p, options);
  if (batch === null) return null;
  const { statements, nodeStatements } = batch;
  const alongside = options.alongside ?? [];
  try {
    const results = await db.batch(statements);
    const nodesAdded = results
      .slice(nodeStatements.first, nodeStatements.first + nodeStatements.count)
      .reduce((sum, r) => sum + (r.meta?.changes ?? 0), 0);
    snapshots.forEach((s, i) => rememberTip(s.convId, s.tipChain, p.pathWeights[i]!));
    return {
      rowsWritten: rowsWritten(results),
      rowsRead: rowsRead(results),
      nodesAdded,
      alongside: results.slice(results.length - alongside.length),
    };
  } catch (error) {
    if (refusalOf(error) === null) throw error;
    // A remembered tip may be why: not used again (the fallback stores what is missing, and remembers it).
    for (const [convId, chain] of p.hinted) forgetTip(convId, chain);
    return null;
  }
}
