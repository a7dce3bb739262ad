/**
 * The write that reads first: for requests with references or a prefix, and after the one-round-trip
 * batch refused itself. A read batch — the nodes the request repeats (with their depths and path
 * weights), the identities it repeats, deletions under way — answers replays (200), conflicts (409)
 * and unknown references or prefixes (422) before anything is written, weighs what references and
 * prefixes stand for, and checks the request's bounds exactly (limits.ts); then one write batch of
 * what is new.
 *
 * The write batch never outlives what its plan read: each snapshot's guard names the deepest node the
 * plan found stored, and referenced blocks are checked to still exist (GUARD_REFERENCES). A
 * concurrent writer that stored one of the same nodes or identities in between, or a deletion that
 * began (or completed) in between, fails the batch as a whole; it is planned again.
 *
 * Its reads are in plan-reads.ts; here the plan built from them, step by step, and the write.
 */
import { assertNewRows, assertRequestWeight, assertSnapshotWeight } from "../../turn/limits";
import { describeIdentity, identityKey, type BlockPrefix, type PreparedSnapshot, type StoredBlock } from "../../turn/snapshot";
import { rowsRead, rowsWritten, type D1Handle } from "../d1";
import { StoreError } from "../errors";
import { rememberTip } from "../known-paths";
import type { WriteCounts } from "./one-round-trip";
import { blockKey, type Found, nodeKey, readWeights, readWhatIsStored, where } from "./plan-reads";
import {
  blockRowOf,
  COUNT_REFERENCES,
  eventRowsOf,
  GUARD_REFERENCES,
  INSERT_NODES,
  INSERT_SNAPSHOTS,
  type NodeToWrite,
  nodeRowOf,
  refusalOf,
  snapshotRowsOf,
  statementsFor,
  UPSERT_BLOCKS,
  UPSERT_CONVERSATION_EVENTS,
  type WriteOptions,
} from "./statements";

export type SaveOutcome = "created" | "unchanged";

/** What one attempt writes. */
interface WritePlan {
  snapshots: PreparedSnapshot[];
  /** Per snapshot: the node its guard checks (its prefix, or the deepest node found stored), and its weight. */
  guards: Array<BlockPrefix | null>;
  weights: number[];
  nodes: NodeToWrite[];
  /** Full blocks on new nodes, with how many new nodes reference each. */
  contents: Array<{ block: StoredBlock; firstSeenAtMs: number; references: number }>;
  /** Referenced blocks (no content in the request) on new nodes: [block_id, content_hash, references]. */
  references: Array<[string, string, number]>;
  rowsRead: number;
}

/** The deepest stored node of a snapshot's path (deepestStored): where its new nodes start. */
type Base = { chain: string; depth: number; pathWeight: number | null } | null;

/** What the second read weighed: referenced blocks' content, stored paths' weights. */
interface Weights {
  blockWeights: Map<string, number>;
  pathWeights: Map<string, number>;
  rowsRead: number;
}

/** A snapshot's first node not stored: its blocks up to its deepest stored node are stored. */
const firstNew = (s: PreparedSnapshot, base: Base) => (base ? base.depth - (s.prefix?.blocks ?? 0) : 0);

/** Replays and conflicts: the snapshots not stored yet; one stored alike is "unchanged", one stored otherwise a 409. */
function freshSnapshots(
  snapshots: readonly PreparedSnapshot[],
  fingerprints: readonly string[],
  outcomes: SaveOutcome[],
  found: Found,
): PreparedSnapshot[] {
  const fresh: PreparedSnapshot[] = [];
  snapshots.forEach((s, i) => {
    const existing = found.stored.get(identityKey(s));
    if (existing === undefined) return fresh.push(s);
    if (existing !== fingerprints[i]) {
      throw new StoreError("SNAPSHOT_CONFLICT", `${where(s)}a different snapshot is already stored under ${describeIdentity(s)}`);
    }
    outcomes[i] = "unchanged";
  });
  return fresh;
}

/** Prefixes name a path of the conversation (stored, or written by an earlier item of the request). */
function checkPrefixes(fresh: readonly PreparedSnapshot[], found: Found): void {
  const inRequest = new Map<string, number>();
  for (const s of fresh) {
    if (s.prefix) {
      const depth = found.nodes.get(nodeKey(s.convId, s.prefix.chain))?.depth ?? inRequest.get(nodeKey(s.convId, s.prefix.chain));
      if (depth !== s.prefix.blocks) {
        throw new StoreError(
          "UNKNOWN_BLOCK_REF",
          `${where(s)}prefix names no path of ${s.prefix.blocks} blocks in conversation ${JSON.stringify(s.convId)}; post the blocks in full`,
        );
      }
    }
    for (const n of s.nodes) inRequest.set(nodeKey(s.convId, n.chain), n.depth);
  }
}

/**
 * The second read, when there is anything to weigh: references to blocks not posted in full in this
 * request (refused when the conversation does not have them), and stored paths without a weight.
 */
async function weigh(
  db: D1Handle,
  fresh: readonly PreparedSnapshot[],
  bases: readonly Base[],
  postedInFull: ReadonlyMap<string, StoredBlock>,
): Promise<Weights> {
  const toLookUp = new Map<string, [string, string, string]>();
  const referencedAt = new Map<string, string>();
  const unweighed = new Map<string, [string, string]>();
  fresh.forEach((s, k) => {
    s.blocks.forEach((b, i) => {
      const key = blockKey(s.convId, b.id, b.contentHash);
      if (i < firstNew(s, bases[k] ?? null) || !b.ref || postedInFull.has(key)) return;
      toLookUp.set(key, [s.convId, b.id, b.contentHash]);
      if (!referencedAt.has(key)) referencedAt.set(key, `${where(s)}turn.blocks[${i}]`);
    });
    const base = bases[k];
    if (base && base.pathWeight === null) unweighed.set(nodeKey(s.convId, base.chain), [s.convId, base.chain]);
  });
  if (toLookUp.size === 0 && unweighed.size === 0) return { blockWeights: new Map(), pathWeights: new Map(), rowsRead: 0 };
  const weights = await readWeights(db, [...toLookUp.values()], [...unweighed.values()]);
  const unknown = [...toLookUp.entries()].find(([key]) => !weights.blockWeights.has(key));
  if (unknown) {
    const [convId, blockId, contentHash] = unknown[1];
    throw new StoreError(
      "UNKNOWN_BLOCK_REF",
      `${referencedAt.get(unknown[0])} refers to block ${JSON.stringify(blockId)} (content_hash ${contentHash.slice(0, 12)}…), which conversation ${JSON.stringify(convId)} does not have; post it in full`,
    );
  }
  return weights;
}

/** What the new nodes add: nodes, block contents, references, and per snapshot its guard and weight. */
interface NewNodes {
  planned: Map<string, NodeToWrite>;
  contents: Map<string, WritePlan["contents"][number]>;
  referenced: Map<string, [string, string, number]>;
  guards: Array<BlockPrefix | null>;
  snapshotWeights: number[];
  requestWeight: number;
}

/** A new node's block into the plan: a reference counted once more, or full content placed once more. */
function countBlock(n: NewNodes, s: PreparedSnapshot, block: StoredBlock, postedInFull: ReadonlyMap<string, StoredBlock>): void {
  if (block.ref && !postedInFull.has(blockKey(s.convId, block.id, block.contentHash))) {
    const counted = n.referenced.get(`${block.id}\u0000${block.contentHash}`);
    if (counted) counted[2] += 1;
    else n.referenced.set(`${block.id}\u0000${block.contentHash}`, [block.id, block.contentHash, 1]);
  } else {
    const full = block.ref ? postedInFull.get(blockKey(s.convId, block.id, block.contentHash))! : block;
    const known = n.contents.get(`${full.id}\u0000${full.contentHash}`);
    if (known) known.references += 1;
    else n.contents.set(`${full.id}\u0000${full.contentHash}`, { block: full, firstSeenAtMs: s.createdAtMs, references: 1 });
  }
}

/** New nodes in request order, weighed from the deepest stored node of each path; each snapshot's weight checked. */
function newNodes(
  fresh: readonly PreparedSnapshot[],
  bases: readonly Base[],
  found: Found,
  postedInFull: ReadonlyMap<string, StoredBlock>,
  weights: Weights,
): NewNodes {
  const n: NewNodes = { planned: new Map(), contents: new Map(), referenced: new Map(), guards: [], snapshotWeights: [], requestWeight: 0 };
  const contentWeightOf = (convId: string, b: StoredBlock) =>
    b.ref
      ? (postedInFull.get(blockKey(convId, b.id, b.contentHash))?.contentWeight ??
        weights.blockWeights.get(blockKey(convId, b.id, b.contentHash))!)
      : b.contentWeight;
  fresh.forEach((s, k) => {
    const base = bases[k] ?? null;
    // A prefix written by an earlier item of this request is weighed with that item.
    let pathWeight = base
      ? (base.pathWeight ?? weights.pathWeights.get(nodeKey(s.convId, base.chain))!)
      : s.prefix
        ? n.planned.get(nodeKey(s.convId, s.prefix.chain))!.pathWeight
        : 0;
    for (let i = firstNew(s, base); i < s.nodes.length; i++) {
      const node = s.nodes[i]!;
      const block = s.blocks[i]!;
      pathWeight += contentWeightOf(s.convId, block) + block.frameWeight;
      const key = nodeKey(s.convId, node.chain);
      if (n.planned.has(key) || found.nodes.has(key)) continue;
      n.planned.set(key, { ...node, convId: s.convId, pathWeight });
      countBlock(n, s, block, postedInFull);
    }
    const weight = pathWeight + s.turnWeight;
    assertSnapshotWeight(s, weight);
    n.requestWeight += weight;
    n.snapshotWeights.push(weight);
    n.guards.push(base ? { chain: base.chain, blocks: base.depth } : null);
  });
  return n;
}

/**
 * The read half: replays and conflicts, the nodes the conversations have, prefixes and references
 * resolved and weighed, bounds checked. Throws StoreError or TurnFormatError before anything is written.
 */
async function plan(
  db: D1Handle,
  snapshots: readonly PreparedSnapshot[],
  fingerprints: readonly string[],
  outcomes: SaveOutcome[],
  options: WriteOptions,
): Promise<WritePlan> {
  const found = await readWhatIsStored(db, snapshots, options);
  const fresh = freshSnapshots(snapshots, fingerprints, outcomes, found);
  checkPrefixes(fresh, found);
  const postedInFull = new Map<string, StoredBlock>();
  for (const s of fresh) for (const b of s.blocks) if (!b.ref) postedInFull.set(blockKey(s.convId, b.id, b.contentHash), b);
  // Each snapshot's blocks up to its deepest stored node are stored: weighed by that node's path.
  const bases = fresh.map((s) => deepestStored(s, found));
  const weights = await weigh(db, fresh, bases, postedInFull);
  const added = newNodes(fresh, bases, found, postedInFull, weights);
  assertRequestWeight(added.requestWeight);
  assertNewRows({
    blocks: added.contents.size,
    nodes: added.planned.size,
    snapshots: fresh.length,
    conversations: new Set(fresh.map((s) => s.convId)).size,
  });
  return {
    snapshots: fresh,
    guards: added.guards,
    weights: added.snapshotWeights,
    nodes: [...added.planned.values()],
    contents: [...added.contents.values()],
    references: [...added.referenced.values()],
    rowsRead: found.rowsRead + weights.rowsRead,
  };
}

/**
 * The deepest node of a snapshot's path the plan found stored — its prefix when nothing after it is
 * stored. A path is stored from its root, so the nodes after this one are new.
 */
function deepestStored(s: PreparedSnapshot, found: Found): Base {
  for (let i = s.nodes.length - 1; i >= 0; i--) {
    const stored = found.nodes.get(nodeKey(s.convId, s.nodes[i]!.chain));
    if (stored) return { chain: s.nodes[i]!.chain, ...stored };
  }
  if (!s.prefix) return null;
  const stored = found.nodes.get(nodeKey(s.convId, s.prefix.chain));
  // A prefix written by an earlier item of this request: its nodes are weighed with that item.
  return stored ? { chain: s.prefix.chain, ...stored } : null;
}

function writeStatements(db: D1Handle, p: WritePlan, options: WriteOptions): D1PreparedStatement[] {
  return [
    ...statementsFor(db, UPSERT_CONVERSATION_EVENTS, eventRowsOf(p.snapshots, options)),
    ...statementsFor(
      db,
      UPSERT_BLOCKS,
      p.contents.map(({ block, firstSeenAtMs, references }) => ({ ...blockRowOf(block, firstSeenAtMs), references })),
    ),
    ...statementsFor(db, COUNT_REFERENCES, p.references),
    ...statementsFor(db, GUARD_REFERENCES, p.references),
    ...statementsFor(db, INSERT_NODES, p.nodes.map(nodeRowOf)),
    ...statementsFor(
      db,
      INSERT_SNAPSHOTS,
      snapshotRowsOf(
        p.snapshots,
        (_, i) => p.guards[i]!,
        (_, i) => p.weights[i]!,
        options,
      ),
    ),
  ];
}

/**
 * Plans and writes `pending` (indexes into `snapshots`), filling in their outcomes. Planned again only
 * when a concurrent writer stored one of the same nodes or identities in between, or the guard
 * refused (a deletion began or completed in between): the next plan answers precisely.
 */
export async function writeAfterReading(
  db: D1Handle,
  snapshots: readonly PreparedSnapshot[],
  pending: readonly number[],
  fingerprint: (i: number) => string,
  outcomes: SaveOutcome[],
  options: WriteOptions,
): Promise<WriteCounts> {
  let read = 0;
  for (let attempt = 0; attempt < 3; attempt++) {
    const pendingOutcomes: SaveOutcome[] = pending.map(() => "created");
    const p = await plan(
      db,
      pending.map((i) => snapshots[i]!),
      pending.map(fingerprint),
      pendingOutcomes,
      options,
    );
    read += p.rowsRead;
    pending.forEach((i, k) => (outcomes[i] = pendingOutcomes[k]!));
    const alongside = options.alongside ?? [];
    if (p.snapshots.length === 0) {
      const own = alongside.length > 0 ? await db.batch([...alongside]) : [];
      return { rowsWritten: rowsWritten(own), rowsRead: read + rowsRead(own), nodesAdded: 0, alongside: own };
    }
    try {
      const results = await db.batch([...writeStatements(db, p, options), ...alongside]);
      p.snapshots.forEach((s, i) => rememberTip(s.convId, s.tipChain, p.weights[i]! - s.turnWeight));
      return {
        rowsWritten: rowsWritten(results),
        rowsRead: read + rowsRead(results),
        nodesAdded: p.nodes.length,
        alongside: results.slice(results.length - alongside.length),
      };
    } catch (error) {
      const refusal = refusalOf(error);
      if (refusal !== "concurrent" && refusal !== "guard") throw error;
    }
  }
  throw new StoreError("UNAVAILABLE", "the snapshot write kept colliding with concurrent writers; retry the request");
}
