/**
 * A snapshot ready to store: identity resolved, turn normalized, runtime and inference attributed,
 * blocks content-addressed. Pure: the store only writes what this produces.
 */
import { INFERENCE_PROBE, RUNTIME_PROBE, resolveAttribution } from "./attribution";
import { HASH_ALGORITHM, blockContentHash, goCompatibleJson } from "./block-hash";
import { hasLoneSurrogate } from "./identifier";
import { normalizeTurn, parseTurnYaml, TurnFormatError, type Block, type Turn } from "./turn";

export const DEFAULT_PHASE = "final";

/** D1 refuses strings and rows over 2,000,000 bytes; stay clear of it with room for the ids. */
export const MAX_STORED_ROW_BYTES = 1_900_000;

export interface SnapshotIdentity {
  convId: string;
  sessionId: string;
  turnId: string;
  phase: string;
  createdAtMs: number;
}

export interface StoredBlock extends Block {
  contentHash: string;
  hashAlgorithm: typeof HASH_ALGORITHM;
}

export interface PreparedSnapshot extends SnapshotIdentity {
  runtimeKey: string;
  inferenceId: string;
  turn: Turn;
  blocks: StoredBlock[];
}

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
}

const utf8 = new TextEncoder();

function byteLength(text: string): number {
  return utf8.encode(text).length;
}

export async function prepareSnapshot(request: SnapshotRequest, nowMs: number, prefix = ""): Promise<PreparedSnapshot> {
  const at = (field: string) => (prefix ? `${prefix}.${field}` : field);
  const fromYaml = request.payload !== undefined;
  const where = at(fromYaml ? "payload" : "turn");
  const raw = fromYaml ? parseTurnYaml(request.payload!, where) : request.turn;
  const shapeError = fromYaml ? "INVALID_PAYLOAD" : "INVALID_TURN";
  const turn = normalizeTurn(raw, request.turn_id, where, shapeError);
  const blocks = await Promise.all(
    turn.blocks.map(async (block) => ({ ...block, contentHash: await blockContentHash(block), hashAlgorithm: HASH_ALGORITHM })),
  );
  const snapshot: PreparedSnapshot = {
    convId: request.conv_id,
    sessionId: request.session_id,
    turnId: turn.id,
    phase: request.phase ?? DEFAULT_PHASE,
    createdAtMs: request.created_at_ms ?? nowMs,
    runtimeKey: resolveAttribution(request.runtime_key, turn.metadata, RUNTIME_PROBE),
    inferenceId: resolveAttribution(request.inference_id, turn.metadata, INFERENCE_PROBE),
    turn,
    blocks,
  };
  assertRowsFit(snapshot, prefix);
  assertStorableText(snapshot, where, shapeError);
  return snapshot;
}

/**
 * Strings that land in TEXT columns (not inside a JSON column) must be well-formed Unicode: SQLite
 * would store a lone surrogate as invalid UTF-8 and it would read back as U+FFFD — a different value,
 * which also turns an identical replay into a 409. Refused instead of stored as something else.
 */
function assertStorableText(snapshot: PreparedSnapshot, where: string, code: "INVALID_TURN" | "INVALID_PAYLOAD"): void {
  // The turn id itself is checked by normalizeTurn (turn/identifier.ts).
  const fields: Array<[string, string]> = [
    [`runtime_key (from ${where}.metadata)`, snapshot.runtimeKey],
    [`inference_id (from ${where}.metadata)`, snapshot.inferenceId],
    ...snapshot.blocks.flatMap((b, i): Array<[string, string]> => [
      [`${where}.blocks[${i}].id`, b.id],
      [`${where}.blocks[${i}].role`, b.role],
    ]),
  ];
  for (const [name, value] of fields) {
    if (hasLoneSurrogate(value)) throw new TurnFormatError(code, `${name} must be valid Unicode (no lone surrogates)`);
  }
}

/** The ordered [block_id, content_hash] references stored on the snapshot row. */
export function blockRefs(snapshot: PreparedSnapshot): Array<[string, string]> {
  return snapshot.blocks.map((b) => [b.id, b.contentHash]);
}

function assertRowsFit(snapshot: PreparedSnapshot, prefix: string): void {
  const rowBytes =
    byteLength(JSON.stringify(snapshot.turn.metadata)) +
    byteLength(JSON.stringify(snapshot.turn.data)) +
    byteLength(JSON.stringify(blockRefs(snapshot))) +
    byteLength(snapshot.convId + snapshot.sessionId + snapshot.turnId + snapshot.phase + snapshot.runtimeKey + snapshot.inferenceId);
  if (rowBytes > MAX_STORED_ROW_BYTES) {
    throw new TurnFormatError(
      "ROW_TOO_LARGE",
      `${prefix ? prefix + ": " : ""}the snapshot row would be ${rowBytes} bytes; D1 stores at most ${MAX_STORED_ROW_BYTES} per row`,
    );
  }
  snapshot.blocks.forEach((block, i) => {
    const bytes = byteLength(JSON.stringify(block.payload)) + byteLength(JSON.stringify(block.metadata)) + byteLength(block.id);
    if (bytes > MAX_STORED_ROW_BYTES) {
      throw new TurnFormatError(
        "ROW_TOO_LARGE",
        `${prefix ? prefix + "." : ""}blocks[${i}] would be a ${bytes}-byte row; D1 stores at most ${MAX_STORED_ROW_BYTES} per row`,
      );
    }
  });
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

/** Everything a replay must match to be "the same snapshot": normalized turn content and attribution. */
export function snapshotFingerprint(s: {
  runtimeKey: string;
  inferenceId: string;
  metadata: unknown;
  data: unknown;
  blockRefs: unknown;
}): string {
  return goCompatibleJson([s.runtimeKey, s.inferenceId, s.metadata, s.data, s.blockRefs]);
}
