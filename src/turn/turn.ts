/**
 * The turn reader (CONTRACT §2, §5.2): one rule for a turn posted as JSON (`turn`) or as YAML
 * (`payload`), as the Go implementation reads turns. No I/O.
 *
 *  - turn keys besides id, blocks, metadata, data and block keys besides id, kind, role, payload,
 *    metadata are kept verbatim (`extra`) and returned; they are not part of the block hash;
 *  - kind is trimmed and lower-cased; missing or null → user; empty or unknown → other;
 *  - role is trimmed; an llm_text block with an empty role gets assistant;
 *  - a missing block id is `<turn_id>#<ordinal>`; missing payload, metadata, data are {}.
 */
import { BLOCK_KINDS, type BlockKind } from "./block-kinds";
import { identifierProblem } from "./identifier";
import { readYaml, writeYaml, writeYamlSequenceItem, YamlError } from "./yaml";

export { BLOCK_KINDS, type BlockKind };

export type JsonObject = Record<string, unknown>;

export interface Block {
  id: string;
  kind: BlockKind;
  role: string;
  payload: JsonObject;
  metadata: JsonObject;
  /** Keys the reader does not know, verbatim (e.g. geppetto's block `turn_id`). */
  extra: JsonObject;
  /**
   * Set when the posted block was a reference {"id", "content_hash"} to a block already stored in
   * the conversation (CONTRACT §5.4): its content is not in the request (kind, role, payload and
   * metadata are placeholders) and the store resolves it.
   */
  ref?: string;
}

/** A block reference: exactly {"id": "…", "content_hash": "<64 lowercase hex>"}. */
const CONTENT_HASH = /^[0-9a-f]{64}$/;
const REFERENCE_KEYS = new Set(["id", "content_hash"]);

/**
 * A block object that has a `content_hash` key is a reference (CONTRACT §5.4, §6.3), and must be
 * exactly one: `id` (a non-empty string) and `content_hash` (64 lower-case hex digits), no other
 * key. Anything else is refused rather than read as a block: a near-miss reference would otherwise
 * be stored as an empty user block carrying the hash as an extra key. Null when `raw` is no reference.
 */
function blockReference(raw: JsonObject, at: string): { id: string; contentHash: string } | null {
  if (!Object.hasOwn(raw, "content_hash")) return null;
  const refuse = (message: string): never => {
    throw new TurnFormatError("INVALID_BLOCK_REF", message);
  };
  const others = Object.keys(raw).filter((key) => !REFERENCE_KEYS.has(key));
  if (others.length > 0) {
    const named = others.slice(0, 5).map((key) => JSON.stringify(key).slice(1, -1));
    refuse(
      `${at} is a block reference (it has content_hash), which holds only id and content_hash, but it also has ${named.join(", ")}${others.length > 5 ? ", …" : ""}: send the block in full without content_hash, or only its id and content_hash`,
    );
  }
  const hash = raw.content_hash;
  if (typeof hash !== "string" || !CONTENT_HASH.test(hash)) {
    const got =
      typeof hash === "string"
        ? `a string of ${hash.length} characters${hash.length === 64 ? " that are not all 0-9 a-f" : ""}`
        : describeType(hash);
    refuse(`${at}.content_hash must be 64 lower-case hex digits (the block's sha256-canonical-json-v1 hash), got ${got}`);
  }
  const id = raw.id;
  if (typeof id !== "string" || id === "") {
    refuse(
      `${at}.id must be a non-empty string (the id of the block the reference names), got ${id === undefined ? "none" : id === "" ? "an empty string" : describeType(id)}`,
    );
  }
  return { id: id as string, contentHash: hash as string };
}

export interface Turn {
  id: string;
  blocks: Block[];
  metadata: JsonObject;
  data: JsonObject;
  /** Keys the reader does not know, verbatim (e.g. geppetto's turn `run_id`, `version`). */
  extra: JsonObject;
}

const TURN_KEYS = new Set(["id", "blocks", "metadata", "data"]);
const BLOCK_KEYS = new Set(["id", "kind", "role", "payload", "metadata"]);

/** Where legacy metadata/data that is not a JSON object is shown, verbatim (see storedObject). */
export const UNPARSED_JSON_KEY = "turnstore.unparsed_json@v1";

/**
 * A stored JSON column read back as an object. Everything this Worker writes is an object; only
 * legacy rows may hold other text, which is shown under UNPARSED_JSON_KEY instead of failing.
 */
export function storedObject(text: string): JsonObject {
  try {
    const value: unknown = JSON.parse(text);
    if (isJsonObject(value)) return value;
  } catch {
    // fall through: kept verbatim below
  }
  return { [UNPARSED_JSON_KEY]: text };
}

/** Blocks one snapshot may list (limits.ts documents every bound). */
export const MAX_BLOCKS_PER_SNAPSHOT = 20_000;

/** Nesting deeper than this is refused before anything recursive touches it. */
export const MAX_NESTING_DEPTH = 64;

export type TurnErrorCode =
  | "INVALID_REQUEST"
  | "INVALID_TURN"
  | "INVALID_PAYLOAD"
  | "TURN_ID_MISMATCH"
  | "TURN_ID_REQUIRED"
  | "NESTING_TOO_DEEP"
  | "ROW_TOO_LARGE"
  | "EVENT_TIME_IN_FUTURE"
  | "TOO_MANY_BLOCKS"
  | "PAYLOAD_TOO_LARGE"
  | "SNAPSHOT_TOO_LARGE"
  | "TOO_MANY_ROWS"
  | "UNKNOWN_BLOCK_REF"
  | "INVALID_BLOCK_REF";

/** A turn that cannot be accepted; the message names where (e.g. "turn.blocks[2].kind"). */
export class TurnFormatError extends Error {
  override name = "TurnFormatError";
  constructor(
    readonly code: TurnErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Depth of nested arrays/objects, measured without recursion so hostile input cannot overflow the stack. */
export function nestingDepth(value: unknown, limit = MAX_NESTING_DEPTH): number {
  let deepest = 0;
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [current, depth] = stack.pop()!;
    if (typeof current !== "object" || current === null) continue;
    const here = depth + 1;
    if (here > deepest) deepest = here;
    if (deepest > limit) return deepest;
    for (const child of Array.isArray(current) ? current : Object.values(current)) stack.push([child, here]);
  }
  return deepest;
}

/** A copy of `source` without `known` keys, own "__proto__" kept as data. */
function extraKeys(source: JsonObject, known: ReadonlySet<string>): JsonObject {
  const extra: JsonObject = {};
  for (const key of Object.keys(source)) {
    if (!known.has(key)) Object.defineProperty(extra, key, { value: source[key], enumerable: true, writable: true, configurable: true });
  }
  return extra;
}

/** Kind as Go reads it: trimmed, lower-cased; missing or null → user; empty or unknown → other. */
export function normalizeKind(kind: string | null | undefined): BlockKind {
  if (kind === undefined || kind === null) return "user";
  const name = kind.trim().toLowerCase();
  return (BLOCK_KINDS as readonly string[]).includes(name) ? (name as BlockKind) : "other";
}

/** Role as Go reads it: trimmed; an llm_text block with an empty role is the assistant. */
export function normalizeRole(kind: BlockKind, role: string | null | undefined): string {
  const trimmed = (role ?? "").trim();
  return kind === "llm_text" && trimmed === "" ? "assistant" : trimmed;
}

export interface ReadTurnOptions {
  /** The request's turn_id, when given (must agree with the turn's own id). */
  turnId?: string;
  /** Path prefix for messages ("turn", "items[3].payload"). */
  where: string;
  /** Code for a turn of the wrong shape: INVALID_REQUEST for JSON, INVALID_PAYLOAD for YAML. */
  shapeError: TurnErrorCode;
  /** Blocks that come before these (a delta post's prefix): default ids count ordinals from here. */
  firstOrdinal?: number;
}

/** Reads a parsed turn (from JSON or YAML) into a normalized Turn, or throws TurnFormatError. */
export function readTurn(raw: unknown, options: ReadTurnOptions): Turn {
  const { where, shapeError } = options;
  const fail = (message: string): never => {
    throw new TurnFormatError(shapeError, message);
  };
  if (nestingDepth(raw) > MAX_NESTING_DEPTH) {
    throw new TurnFormatError("NESTING_TOO_DEEP", `${where} is nested deeper than ${MAX_NESTING_DEPTH} levels`);
  }
  if (!isJsonObject(raw)) return fail(`${where} must be an object (a turn), got ${describeType(raw)}`);
  const text = (value: unknown, path: string): string | undefined =>
    value === undefined || value === null
      ? undefined
      : typeof value === "string"
        ? value
        : fail(`${path} must be a string, got ${describeType(value)}`);
  const object = (value: unknown, path: string): JsonObject =>
    value === undefined || value === null
      ? {}
      : isJsonObject(value)
        ? value
        : fail(`${path} must be an object, got ${describeType(value)}`);

  const ownId = text(raw.id, `${where}.id`);
  const { turnId } = options;
  if (ownId !== undefined && turnId !== undefined && ownId !== turnId) {
    throw new TurnFormatError("TURN_ID_MISMATCH", `turn_id ${JSON.stringify(turnId)} disagrees with ${where}.id ${JSON.stringify(ownId)}`);
  }
  const id = turnId ?? ownId;
  if (id === undefined || id === "") throw new TurnFormatError("TURN_ID_REQUIRED", `turn_id is required: give turn_id or ${where}.id`);
  // A turn_id field was validated with the request; an id taken from the turn follows the same rules.
  const problem = turnId === undefined ? identifierProblem(`${where}.id`, id) : null;
  if (problem) throw new TurnFormatError(shapeError === "INVALID_PAYLOAD" ? "INVALID_PAYLOAD" : "INVALID_TURN", problem);

  const rawBlocks = raw.blocks === undefined || raw.blocks === null ? [] : raw.blocks;
  if (!Array.isArray(rawBlocks)) return fail(`${where}.blocks must be an array, got ${describeType(rawBlocks)}`);
  if (rawBlocks.length > MAX_BLOCKS_PER_SNAPSHOT) {
    throw new TurnFormatError(
      "TOO_MANY_BLOCKS",
      `${where}.blocks lists ${rawBlocks.length} blocks; a snapshot may list at most ${MAX_BLOCKS_PER_SNAPSHOT}`,
    );
  }
  const firstOrdinal = options.firstOrdinal ?? 0;
  const blocks = rawBlocks.map((rawBlock: unknown, index): Block => {
    const at = `${where}.blocks[${index}]`;
    if (!isJsonObject(rawBlock)) return fail(`${at} must be an object (a block), got ${describeType(rawBlock)}`);
    const reference = blockReference(rawBlock, at);
    if (reference) return { id: reference.id, kind: "other", role: "", payload: {}, metadata: {}, extra: {}, ref: reference.contentHash };
    const kind = normalizeKind(text(rawBlock.kind, `${at}.kind`));
    const blockId = text(rawBlock.id, `${at}.id`);
    return {
      id: blockId ? blockId : `${id}#${firstOrdinal + index}`,
      kind,
      role: normalizeRole(kind, text(rawBlock.role, `${at}.role`)),
      payload: object(rawBlock.payload, `${at}.payload`),
      metadata: object(rawBlock.metadata, `${at}.metadata`),
      extra: extraKeys(rawBlock, BLOCK_KEYS),
    };
  });
  return {
    id,
    blocks,
    metadata: object(raw.metadata, `${where}.metadata`),
    data: object(raw.data, `${where}.data`),
    extra: extraKeys(raw, TURN_KEYS),
  };
}

function describeType(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return `a ${typeof value}`;
}

/** Parses a YAML turn (the Go implementation's serialization) into a plain value, strictly (yaml.ts). */
export function parseTurnYaml(text: string, where = "payload"): unknown {
  let value: unknown;
  try {
    value = readYaml(text, where, MAX_NESTING_DEPTH);
  } catch (error) {
    if (error instanceof YamlError) throw new TurnFormatError(error.tooDeep ? "NESTING_TOO_DEEP" : "INVALID_PAYLOAD", error.message);
    throw error;
  }
  if (!isJsonObject(value))
    throw new TurnFormatError("INVALID_PAYLOAD", `${where} must be a YAML mapping (a turn), got ${describeType(value)}`);
  return value;
}

function withExtra(known: ReadonlyArray<readonly [string, unknown]>, extra: JsonObject): Array<readonly [string, unknown]> {
  return [...known, ...Object.keys(extra).map((key) => [key, extra[key]] as const)];
}

/** A block's keys in the order every representation writes them (turnToJson, turnToYaml, read-weight.ts). */
export function blockEntries(b: Block): Array<readonly [string, unknown]> {
  return withExtra(
    [
      ["id", b.id],
      ["kind", b.kind],
      ["role", b.role],
      ["payload", b.payload],
      ["metadata", b.metadata],
    ],
    b.extra,
  );
}

/** A turn's keys in the order every representation writes them, with `blocks` as given. */
export function turnEntries(turn: Turn, blocks: unknown[]): Array<readonly [string, unknown]> {
  return withExtra(
    [
      ["id", turn.id],
      ["blocks", blocks],
      ["metadata", turn.metadata],
      ["data", turn.data],
    ],
    turn.extra,
  );
}

/**
 * An object with these keys in this order (integer-like keys included, as JSON.stringify keeps them).
 * A key "__proto__" is defined as an own property (assigning it would set the prototype); every
 * other key is assigned, which makes the same own property several times faster.
 */
export function objectOf(entries: ReadonlyArray<readonly [string, unknown]>): JsonObject {
  const out: JsonObject = {};
  for (const [key, value] of entries) {
    if (key === "__proto__") Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
    else out[key] = value;
  }
  return out;
}

/** A block as JSON: the known keys, then its extra keys. */
export type BlockJson = { id: string; kind: BlockKind; role: string; payload: JsonObject; metadata: JsonObject } & JsonObject;
/** A turn as JSON: the known keys, then its extra keys. */
export type TurnJson = { id: string; blocks: BlockJson[]; metadata: JsonObject; data: JsonObject } & JsonObject;

/** The turn as a JSON object (the debug API's `parsed`): known keys in Go order, then the extra keys. */
export function turnToJson(turn: Turn): TurnJson {
  return objectOf(
    turnEntries(
      turn,
      turn.blocks.map((b) => objectOf(blockEntries(b))),
    ),
  ) as TurnJson;
}

/**
 * YAML of blocks already written, by block object: the snapshots of a debug page share the Block
 * objects of the path nodes they have in common (store/snapshot-blocks.ts), so a page writes each
 * distinct block once however many snapshots repeat it.
 */
const blockYaml = new WeakMap<Block, string>();

/** The turn as YAML, fields in the Go order: id, blocks (id, kind, role, payload, metadata), metadata, data; extra keys after. */
export function turnToYaml(turn: Turn): string {
  if (turn.blocks.length === 0) return writeYaml(turnEntries(turn, []));
  const [id, , ...rest] = turnEntries(turn, []);
  let blocks = "";
  for (const block of turn.blocks) {
    let text = blockYaml.get(block);
    if (text === undefined) blockYaml.set(block, (text = writeYamlSequenceItem(blockEntries(block), "  ")));
    blocks += text;
  }
  // Exactly writeYaml(turnEntries(turn, blocks)): the same lines, with each block's written once.
  return `${writeYaml([id!])}blocks:\n${blocks}${writeYaml(rest)}`;
}
