/**
 * A snapshot ready to store: identity resolved, turn read and normalized (turn.ts), runtime and
 * inference attributed, blocks content-addressed, event time bounded. Pure: the store only writes
 * what this produces.
 */
import { INFERENCE_PROBE, RUNTIME_PROBE } from "./attribution";
import { resolveAttributionValue } from "./attribution-value";
import { HASH_ALGORITHM, blockContent, blockHashMaterial, digestBlock, rememberedBlock } from "./block-hash";
import { EMPTY_CHAIN, pathNodes, type PathNode } from "./block-path";
import { canonicalJson } from "./canonical-json";
import { assertNotInFuture } from "./event-time";
import { hasLoneSurrogate } from "./identifier";
import { blockContentWeight, blockExtraWeight, blockIdWeight, turnWeight } from "./read-weight";
import { jsonBytesOver, utf8BytesOver } from "./text-size";
import { MAX_BLOCKS_PER_SNAPSHOT, parseTurnYaml, readTurn, TurnFormatError, type Block, type Turn } from "./turn";

export const DEFAULT_PHASE = "final";

/** D1 refuses strings and rows over 2,000,000 bytes: a stored row stays clear of it. */
export const MAX_STORED_ROW_BYTES = 1_900_000;
/**
 * Every row travels to D1 as an element of one JSON parameter (store/d1.ts, at most 1,950,000 bytes),
 * its texts escaped again there: bounded as it travels too, with room for its keys and numbers.
 */
export const MAX_ROW_JSON_BYTES = 1_940_000;

export interface SnapshotIdentity {
  convId: string;
  sessionId: string;
  turnId: string;
  phase: string;
  createdAtMs: number;
}

/** A stored snapshot as the reads return it: identity, its own runtime and inference, its turn. */
export interface SnapshotWithTurn extends SnapshotIdentity {
  runtimeKey: string;
  inferenceId: string;
  turn: Turn;
}

/** A block as stored: content-addressed, its content and extra keys as canonical JSON text. */
export interface StoredBlock {
  id: string;
  contentHash: string;
  hashAlgorithm: typeof HASH_ALGORITHM;
  kind: string;
  role: string;
  payloadJson: string;
  metadataJson: string;
  /** Canonical JSON of the block's extra keys; "" when it has none. */
  extraJson: string;
  /** A reference to a block already stored in the conversation: its content is not in the request. */
  ref: boolean;
  /** The hash material of its content ("" for a reference): hashed, and the key of the isolate's memory. */
  material: string;
  /** Read weight of its content (read-weight.ts); 0 for a reference until the store knows the block. */
  contentWeight: number;
  /** Read weight of its id and extra keys. */
  frameWeight: number;
}

/** A delta post's prefix: the first `blocks` blocks are those of the conversation's path ending at `chain`. */
export interface BlockPrefix {
  chain: string;
  blocks: number;
}

export interface PreparedSnapshot extends SnapshotIdentity {
  /** Where the snapshot came from in its request, for messages: "items[3]", or "" for a single post. */
  label: string;
  runtimeKey: string;
  inferenceId: string;
  turn: Turn;
  metadataJson: string;
  dataJson: string;
  /** Canonical JSON of the turn's extra keys; "" when it has none. */
  extraJson: string;
  /** The blocks the request carries (after the prefix, when there is one). */
  blocks: StoredBlock[];
  prefix: BlockPrefix | null;
  /** After hashing: the path nodes of `blocks` (block-path.ts), the chain of the last block, the block count. */
  nodes: PathNode[];
  tipChain: string;
  blockCount: number;
  /** Read weight of the turn without its blocks (id, metadata, data, extra keys). */
  turnWeight: number;
  /**
   * Read weight of what the request carries for this snapshot: the turn, and its blocks but for the
   * content of references. With neither references nor a prefix it is the snapshot's weight; else
   * the store adds what they stand for (store/writes/read-then-write.ts).
   */
  carriedWeight: number;
}

/** A block's read weight, its content known. */
export const blockReadWeight = (b: StoredBlock) => b.contentWeight + b.frameWeight;

/** What a write route answers for a stored snapshot. */
export interface SnapshotProjection {
  conv_id: string;
  session_id: string;
  turn_id: string;
  phase: string;
  created_at_ms: number;
  runtime_key: string;
  inference_id: string;
}

/** A request item after schema validation (field names as on the wire). */
export interface SnapshotRequest {
  conv_id: string;
  session_id: string;
  turn_id?: string;
  phase?: string;
  created_at_ms?: number;
  runtime_key?: string;
  inference_id?: string;
  turn?: unknown;
  payload?: string;
  prefix?: BlockPrefix;
}

export interface PrepareOptions {
  /** The server clock: the default created_at_ms, and the base of the event-time bound. */
  nowMs: number;
  /** How far ahead of nowMs an event time may be (CONTRACT §5.1); Infinity for history imports. */
  maxClockSkewMs: number;
  /** Prefix for messages ("items[3]"). */
  prefix?: string;
}

/** Canonical JSON of an object, or "" for an empty one (most turns and blocks have no extra keys). */
export function extraJson(extra: Record<string, unknown>): string {
  return Object.keys(extra).length === 0 ? "" : canonicalJson(extra);
}

/**
 * Reads a request item into a snapshot whose blocks are not hashed yet (contentHash ""): parsing,
 * normalization, attribution, the event-time bound and the row-size checks. Nothing here costs
 * more than reading the item once, so the request's work bounds (limits.ts) are checked after this
 * and before any hashing.
 */
export function readSnapshot(request: SnapshotRequest, options: PrepareOptions): PreparedSnapshot {
  const label = options.prefix ?? "";
  const at = (field: string) => (label ? `${label}.${field}` : field);
  const fromYaml = request.payload !== undefined;
  const where = at(fromYaml ? "payload" : "turn");
  const raw = fromYaml ? parseTurnYaml(request.payload!, where) : request.turn;
  const prefix = request.prefix ?? null;
  const turn = readTurn(raw, {
    turnId: request.turn_id,
    where,
    shapeError: fromYaml ? "INVALID_PAYLOAD" : "INVALID_REQUEST",
    firstOrdinal: prefix?.blocks ?? 0,
  });
  const createdAtMs = request.created_at_ms ?? options.nowMs;
  assertNotInFuture(at("created_at_ms"), createdAtMs, options.nowMs, options.maxClockSkewMs);
  const semanticError = fromYaml ? "INVALID_PAYLOAD" : "INVALID_TURN";
  assertStorableText(turn, where, semanticError);
  // One rule for runtime keys and inference ids (attribution-value.ts). The Worker's request schema
  // has checked explicit values already (400); the import tool's rows arrive here unchecked.
  const [runtime, inference] = (
    [
      ["runtime_key", request.runtime_key, RUNTIME_PROBE],
      ["inference_id", request.inference_id, INFERENCE_PROBE],
    ] as const
  ).map(([field, explicit, probe]) => {
    const resolved = resolveAttributionValue(explicit, turn.metadata, probe, { explicit: at(field), metadata: `${where}.metadata` });
    if (resolved.problem) throw new TurnFormatError(resolved.source === "metadata" ? semanticError : "INVALID_REQUEST", resolved.problem);
    return resolved.value;
  }) as [string, string];
  const snapshot: PreparedSnapshot = {
    label,
    convId: request.conv_id,
    sessionId: request.session_id,
    turnId: turn.id,
    phase: request.phase ?? DEFAULT_PHASE,
    createdAtMs,
    runtimeKey: runtime,
    inferenceId: inference,
    turn,
    metadataJson: canonicalJson(turn.metadata),
    dataJson: canonicalJson(turn.data),
    extraJson: extraJson(turn.extra),
    blocks: storedBlocksOf(turn.blocks),
    prefix,
    nodes: [],
    tipChain: prefix?.chain ?? EMPTY_CHAIN,
    blockCount: (prefix?.blocks ?? 0) + turn.blocks.length,
    turnWeight: turnWeight(turn),
    carriedWeight: 0,
  };
  snapshot.carriedWeight = snapshot.blocks.reduce((sum, b) => sum + blockReadWeight(b), snapshot.turnWeight);
  // A prefix's positions are blocks the snapshot holds (CONTRACT §6.3).
  if (snapshot.blockCount > MAX_BLOCKS_PER_SNAPSHOT) {
    throw new TurnFormatError(
      "TOO_MANY_BLOCKS",
      `${where} holds ${snapshot.blockCount} blocks (prefix.blocks ${prefix?.blocks ?? 0} + ${turn.blocks.length} listed); a snapshot may hold at most ${MAX_BLOCKS_PER_SNAPSHOT}`,
    );
  }
  assertRowsFit(snapshot, label);
  return snapshot;
}

/** The snapshot's blocks as storedBlockOf writes them; a content the snapshot repeats is weighed once. */
function storedBlocksOf(blocks: readonly Block[]): StoredBlock[] {
  const weighed = new Map<string, number>();
  return blocks.map((block) => storedBlockOf(block, weighed));
}

/**
 * A block as the store writes it: its content's canonical texts, and what it weighs. A block this
 * isolate saw recently (block-hash.ts) comes with its hash and weight from memory; the others are
 * weighed here (once per content in `weighed`: a weight depends on the content alone) and hashed by
 * hashBlocks.
 */
function storedBlockOf(block: Block, weighed: Map<string, number>): StoredBlock {
  const frameWeight = blockIdWeight(block.id) + blockExtraWeight(block.extra);
  if (block.ref !== undefined) {
    return {
      id: block.id,
      contentHash: block.ref,
      hashAlgorithm: HASH_ALGORITHM,
      kind: "",
      role: "",
      payloadJson: "",
      metadataJson: "",
      extraJson: "",
      ref: true,
      material: "",
      contentWeight: 0,
      frameWeight,
    };
  }
  const content = blockContent(block);
  const material = blockHashMaterial(content);
  const known = rememberedBlock(material);
  let contentWeight = known?.weight ?? weighed.get(material);
  if (contentWeight === undefined) weighed.set(material, (contentWeight = blockContentWeight(block)));
  return {
    id: block.id,
    contentHash: known?.weight !== undefined ? known.hash : "",
    hashAlgorithm: HASH_ALGORITHM,
    kind: content.kind,
    role: content.role,
    payloadJson: content.payloadJson,
    metadataJson: content.metadataJson,
    extraJson: extraJson(block.extra),
    ref: false,
    material,
    contentWeight,
    frameWeight,
  };
}

/** Content-addresses the blocks of a read snapshot (SHA-256 of their canonical material) and names its path nodes. */
export async function hashBlocks(snapshot: PreparedSnapshot): Promise<PreparedSnapshot> {
  // Blocks a recent request carried were answered from memory by readSnapshot; the others are hashed
  // together, each content once however often the snapshot repeats it.
  const digests = new Map<string, Promise<string>>();
  await Promise.all(
    snapshot.blocks.map(async (b) => {
      if (b.ref || b.contentHash !== "") return;
      let digest = digests.get(b.material);
      if (!digest) digests.set(b.material, (digest = digestBlock(b.material, b.contentWeight)));
      b.contentHash = await digest;
    }),
  );
  snapshot.nodes = await pathNodes(
    snapshot.blocks.map((b) => ({ blockId: b.id, contentHash: b.contentHash, extraJson: b.extraJson })),
    snapshot.prefix?.chain ?? EMPTY_CHAIN,
    snapshot.prefix?.blocks ?? 0,
  );
  snapshot.tipChain = snapshot.nodes.at(-1)?.chain ?? snapshot.prefix?.chain ?? EMPTY_CHAIN;
  return snapshot;
}

/** readSnapshot then hashBlocks, for one snapshot on its own (the import tool, tests). */
export async function prepareSnapshot(request: SnapshotRequest, options: PrepareOptions): Promise<PreparedSnapshot> {
  return hashBlocks(readSnapshot(request, options));
}

/**
 * Strings that land in TEXT columns (not inside a JSON column) must be well-formed Unicode: SQLite
 * would store a lone surrogate as invalid UTF-8 and it would read back as U+FFFD — a different value,
 * which also turns an identical replay into a 409. Refused instead of stored as something else.
 */
function assertStorableText(turn: Turn, where: string, code: "INVALID_TURN" | "INVALID_PAYLOAD"): void {
  // The turn id itself is checked by readTurn (turn/identifier.ts).
  turn.blocks.forEach((b, i) => {
    for (const [field, value] of [
      ["id", b.id],
      ["role", b.role],
    ] as const) {
      if (hasLoneSurrogate(value))
        throw new TurnFormatError(code, `${where}.blocks[${i}].${field} must be valid Unicode (no lone surrogates)`);
    }
  });
}

/** A legacy snapshot row's block reference (block_refs_json): [block_id, content_hash]. */
export type LegacyBlockRef = [string, string];

/**
 * Rows D1 can hold, decided before anything is written (CONTRACT §6.3): each row as it travels in its
 * statement's JSON parameter, escapes included — a text of 550,000 `"` is 1.1 MB as JSON.
 */
function assertRowsFit(snapshot: PreparedSnapshot, prefix: string): void {
  const snapshotRow = [
    snapshot.metadataJson,
    snapshot.dataJson,
    snapshot.extraJson,
    snapshot.tipChain,
    snapshot.convId,
    snapshot.sessionId,
    snapshot.turnId,
    snapshot.phase,
    snapshot.runtimeKey,
    snapshot.inferenceId,
  ];
  const problem = rowProblem(snapshotRow);
  if (problem) {
    throw new TurnFormatError(
      "ROW_TOO_LARGE",
      `${prefix ? `${prefix}: ` : ""}the snapshot row would be ${problem} — metadata and data are kept on every snapshot row, so keep them small`,
    );
  }
  snapshot.blocks.forEach((block, i) => {
    // The block's content is its row in blocks; its extra keys are stored on its path node.
    const problem =
      rowProblem([block.payloadJson, block.metadataJson, block.id, block.role, block.kind]) ??
      rowProblem([block.extraJson, block.id, snapshot.convId]);
    if (problem) throw new TurnFormatError("ROW_TOO_LARGE", `${prefix ? `${prefix}.` : ""}blocks[${i}] would be a row of ${problem}`);
  });
}

/** What is wrong with a row of these texts, stored or on its way to D1, or null. */
function rowProblem(texts: readonly string[]): string | null {
  const stored = utf8BytesOver(texts, MAX_STORED_ROW_BYTES);
  if (stored !== null) return `${stored} bytes; D1 stores at most ${MAX_STORED_ROW_BYTES} per row`;
  const sent = jsonBytesOver(texts, MAX_ROW_JSON_BYTES);
  if (sent !== null) {
    return `${sent} bytes as sent to D1, its text escaped as JSON (every " and \\ twice); at most ${MAX_ROW_JSON_BYTES} fit one statement`;
  }
  return null;
}

export function projectSnapshot(s: SnapshotIdentity & { runtimeKey: string; inferenceId: string }): SnapshotProjection {
  return {
    conv_id: s.convId,
    session_id: s.sessionId,
    turn_id: s.turnId,
    phase: s.phase,
    created_at_ms: s.createdAtMs,
    runtime_key: s.runtimeKey,
    inference_id: s.inferenceId,
  };
}

export function identityKey(s: SnapshotIdentity): string {
  return JSON.stringify([s.convId, s.sessionId, s.turnId, s.phase, s.createdAtMs]);
}

/** A snapshot's identity for messages. */
export function describeIdentity(s: SnapshotIdentity): string {
  return `(conv_id, session_id, turn_id, phase, created_at_ms) = ${identityKey(s)}`;
}

/**
 * Everything a replay must match to be "the same snapshot": attribution, turn content, and its
 * blocks — named by the chain of its last block, which is the same exactly when the sequence of
 * blocks (ids, content hashes, extra keys) is.
 */
export function snapshotFingerprint(s: {
  runtimeKey: string;
  inferenceId: string;
  metadata: unknown;
  data: unknown;
  extra: unknown;
  tipChain: string;
  blockCount: number;
}): string {
  return canonicalJson([s.runtimeKey, s.inferenceId, s.metadata, s.data, s.extra, s.tipChain, s.blockCount]);
}
