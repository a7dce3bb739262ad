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
 */
import { pathNodes } from "../../turn/block-path";
import { assertNewRows, assertRequestWeight, assertSnapshotWeight } from "../../turn/limits";
import {
  describeIdentity,
  identityKey,
  snapshotFingerprint,
  type BlockPrefix,
  type LegacyBlockRef,
  type PreparedSnapshot,
  type StoredBlock,
} from "../../turn/snapshot";
import { storedObject } from "../../turn/turn";
import type { turnSnapshots } from "../../db/schema";
import { jsonParameterChunks, rowsRead, rowsWritten, type D1Handle } from "../d1";
import { isMoveState, movingError, StoreError } from "../errors";
import { rememberTip } from "../known-paths";
import type { Columns } from "../rows";
import type { WriteCounts } from "./one-round-trip";
import {
  blockRowOf,
  COUNT_REFERENCES,
  eventRowsOf,
  FIND_CONVERSATION_BLOCKS,
  FIND_DELETIONS,
  FIND_NODES,
  GUARD_REFERENCES,
  INSERT_NODES,
  INSERT_SNAPSHOTS,
  type NodeToWrite,
  nodeRowOf,
  refusalOf,
  SELECT_EXISTING,
  snapshotRowsOf,
  statementsFor,
  UPSERT_BLOCKS,
  UPSERT_CONVERSATION_EVENTS,
  WALK_PATH_WEIGHTS,
  type WriteOptions,
} from "./statements";

export type SaveOutcome = "created" | "unchanged";

const where = (s: PreparedSnapshot) => (s.label ? `${s.label}: ` : "");
const nodeKey = (convId: string, chain: string) => `${convId}\u0000${chain}`;
const blockKey = (convId: string, blockId: string, contentHash: string) => `${convId}\u0000${blockId}\u0000${contentHash}`;

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

/** What the plan's reads found. */
interface Found {
  /** Stored nodes of the request's paths and prefixes: depth and path weight (null: none recorded). */
  nodes: Map<string, { depth: number; pathWeight: number | null }>;
  /** Stored identities: their fingerprints. */
  stored: Map<string, string>;
  rowsRead: number;
}

async function readWhatIsStored(db: D1Handle, snapshots: readonly PreparedSnapshot[], options: WriteOptions): Promise<Found> {
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
async function readWeights(
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
  let read = found.rowsRead;

  // Replays and conflicts.
  const fresh: PreparedSnapshot[] = [];
  snapshots.forEach((s, i) => {
    const existing = found.stored.get(identityKey(s));
    if (existing === undefined) return fresh.push(s);
    if (existing !== fingerprints[i]) {
      throw new StoreError("SNAPSHOT_CONFLICT", `${where(s)}a different snapshot is already stored under ${describeIdentity(s)}`);
    }
    outcomes[i] = "unchanged";
  });

  // Prefixes name a path of the conversation (stored, or written by an earlier item of the request).
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

  // References to blocks not posted in full in this request, and stored paths without a weight.
  const postedInFull = new Map<string, StoredBlock>();
  for (const s of fresh) for (const b of s.blocks) if (!b.ref) postedInFull.set(blockKey(s.convId, b.id, b.contentHash), b);
  // Each snapshot's blocks up to its deepest stored node are stored: weighed by that node's path.
  const bases = fresh.map((s) => deepestStored(s, found));
  const firstNew = (s: PreparedSnapshot, i: number) => (bases[i] ? bases[i].depth - (s.prefix?.blocks ?? 0) : 0);
  const toLookUp = new Map<string, [string, string, string]>();
  const referencedAt = new Map<string, string>();
  const unweighed = new Map<string, [string, string]>();
  fresh.forEach((s, k) => {
    s.blocks.forEach((b, i) => {
      const key = blockKey(s.convId, b.id, b.contentHash);
      if (i < firstNew(s, k) || !b.ref || postedInFull.has(key)) return;
      toLookUp.set(key, [s.convId, b.id, b.contentHash]);
      if (!referencedAt.has(key)) referencedAt.set(key, `${where(s)}turn.blocks[${i}]`);
    });
    const base = bases[k];
    if (base && base.pathWeight === null) unweighed.set(nodeKey(s.convId, base.chain), [s.convId, base.chain]);
  });
  let weights = { blockWeights: new Map<string, number>(), pathWeights: new Map<string, number>(), rowsRead: 0 };
  if (toLookUp.size > 0 || unweighed.size > 0) {
    weights = await readWeights(db, [...toLookUp.values()], [...unweighed.values()]);
    read += weights.rowsRead;
    const unknown = [...toLookUp.entries()].find(([key]) => !weights.blockWeights.has(key));
    if (unknown) {
      const [convId, blockId, contentHash] = unknown[1];
      throw new StoreError(
        "UNKNOWN_BLOCK_REF",
        `${referencedAt.get(unknown[0])} refers to block ${JSON.stringify(blockId)} (content_hash ${contentHash.slice(0, 12)}…), which conversation ${JSON.stringify(convId)} does not have; post it in full`,
      );
    }
  }
  const contentWeightOf = (convId: string, b: StoredBlock) =>
    b.ref
      ? (postedInFull.get(blockKey(convId, b.id, b.contentHash))?.contentWeight ??
        weights.blockWeights.get(blockKey(convId, b.id, b.contentHash))!)
      : b.contentWeight;

  // New nodes in request order, weighed from the deepest stored node of each path.
  const planned = new Map<string, NodeToWrite>();
  const contents = new Map<string, WritePlan["contents"][number]>();
  const referenced = new Map<string, [string, string, number]>();
  const guards: Array<BlockPrefix | null> = [];
  const snapshotWeights: number[] = [];
  let requestWeight = 0;
  fresh.forEach((s, k) => {
    const base = bases[k];
    // A prefix written by an earlier item of this request is weighed with that item.
    let pathWeight = base
      ? (base.pathWeight ?? weights.pathWeights.get(nodeKey(s.convId, base.chain))!)
      : s.prefix
        ? planned.get(nodeKey(s.convId, s.prefix.chain))!.pathWeight
        : 0;
    for (let i = firstNew(s, k); i < s.nodes.length; i++) {
      const node = s.nodes[i]!;
      const block = s.blocks[i]!;
      pathWeight += contentWeightOf(s.convId, block) + block.frameWeight;
      const key = nodeKey(s.convId, node.chain);
      if (planned.has(key) || found.nodes.has(key)) continue;
      planned.set(key, { ...node, convId: s.convId, pathWeight });
      if (block.ref && !postedInFull.has(blockKey(s.convId, block.id, block.contentHash))) {
        const counted = referenced.get(`${block.id}\u0000${block.contentHash}`);
        if (counted) counted[2] += 1;
        else referenced.set(`${block.id}\u0000${block.contentHash}`, [block.id, block.contentHash, 1]);
      } else {
        const full = block.ref ? postedInFull.get(blockKey(s.convId, block.id, block.contentHash))! : block;
        const known = contents.get(`${full.id}\u0000${full.contentHash}`);
        if (known) known.references += 1;
        else contents.set(`${full.id}\u0000${full.contentHash}`, { block: full, firstSeenAtMs: s.createdAtMs, references: 1 });
      }
    }
    const weight = pathWeight + s.turnWeight;
    assertSnapshotWeight(s, weight);
    requestWeight += weight;
    snapshotWeights.push(weight);
    guards.push(base ? { chain: base.chain, blocks: base.depth } : null);
  });
  assertRequestWeight(requestWeight);
  assertNewRows({
    blocks: contents.size,
    nodes: planned.size,
    snapshots: fresh.length,
    conversations: new Set(fresh.map((s) => s.convId)).size,
  });
  return {
    snapshots: fresh,
    guards,
    weights: snapshotWeights,
    nodes: [...planned.values()],
    contents: [...contents.values()],
    references: [...referenced.values()],
    rowsRead: read,
  };
}

/**
 * The deepest node of a snapshot's path the plan found stored — its prefix when nothing after it is
 * stored. A path is stored from its root, so the nodes after this one are new.
 */
function deepestStored(s: PreparedSnapshot, found: Found): { chain: string; depth: number; pathWeight: number | null } | null {
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
