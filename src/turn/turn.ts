/**
 * The geppetto turn format (CONTRACT §2): validation, normalization, YAML in and out. No I/O.
 */
import { z } from "zod";
import { parseDocument, stringify } from "yaml";
import { BLOCK_KINDS, type BlockKind } from "./block-kinds";
import { identifierProblem } from "./identifier";

export { BLOCK_KINDS, type BlockKind };

export type JsonObject = Record<string, unknown>;

export interface Block {
  id: string;
  kind: BlockKind;
  role: string;
  payload: JsonObject;
  metadata: JsonObject;
}

export interface Turn {
  id: string;
  blocks: Block[];
  metadata: JsonObject;
  data: JsonObject;
}

/** Where legacy metadata/data that is not a JSON object is shown, verbatim (see storedObject). */
export const UNPARSED_JSON_KEY = "turnstore.unparsed_json@v1";

/**
 * A stored JSON column read back as an object. Everything this Worker writes is an object; only
 * legacy rows may hold other text, which is shown under UNPARSED_JSON_KEY instead of failing.
 */
export function storedObject(text: string): JsonObject {
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value === "object" && value !== null && !Array.isArray(value)) return value as JsonObject;
  } catch {
    // fall through: kept verbatim below
  }
  return { [UNPARSED_JSON_KEY]: text };
}

/** Nesting deeper than this is refused before anything recursive touches it. */
export const MAX_NESTING_DEPTH = 64;

export type TurnErrorCode =
  | "INVALID_TURN"
  | "INVALID_PAYLOAD"
  | "TURN_ID_MISMATCH"
  | "TURN_ID_REQUIRED"
  | "NESTING_TOO_DEEP"
  | "ROW_TOO_LARGE";

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

function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A JSON object kept exactly as parsed. (z.record copies it and silently drops a "__proto__" key,
 * which is ordinary data in JSON; the copy is not needed, nothing here assigns into it.) */
const jsonObject = z.custom<JsonObject>(isJsonObject, { error: "expected a JSON object" });
/** Absent and null both mean "empty object", as Go's encoder writes omitted maps. */
const optionalObject = jsonObject
  .nullish()
  .transform((value) => value ?? {})
  .meta({ type: ["object", "null"], additionalProperties: {} });

export const BlockInputSchema = z.strictObject({
  id: z.string().nullish(),
  kind: z.string(),
  role: z.string().nullish(),
  payload: optionalObject,
  metadata: optionalObject,
});

export const TurnInputSchema = z.strictObject({
  id: z.string().nullish(),
  blocks: z.array(BlockInputSchema).nullish().transform((value) => value ?? []),
  metadata: optionalObject,
  data: optionalObject,
});

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

/** "items[3].turn.blocks[0].kind" from a prefix and a zod issue path. */
export function issuePath(prefix: string, path: ReadonlyArray<PropertyKey>): string {
  return path.reduce<string>(
    (out, key) => (typeof key === "number" ? `${out}[${key}]` : out ? `${out}.${String(key)}` : String(key)),
    prefix,
  );
}

/** A zod issue as a sentence a client can act on. */
export function describeIssue(issue: z.core.$ZodIssue, prefix = ""): { path: string; message: string } {
  const path = issuePath(prefix, issue.path);
  if (issue.code === "unrecognized_keys") {
    const keys = issue.keys.map((k) => JSON.stringify(k)).join(", ");
    return { path, message: `${path ? path + " has " : ""}unknown field(s) ${keys}` };
  }
  return { path, message: `${path || "body"}: ${issue.message}` };
}

function normalizeKind(kind: string): BlockKind {
  return (BLOCK_KINDS as readonly string[]).includes(kind) ? (kind as BlockKind) : "other";
}

/**
 * Validates and normalizes a turn object: unknown kind → other, llm_text without role → assistant,
 * missing block id → `<turn_id>#<ordinal>`. `turnId` is the request's turn id (when given).
 */
export function normalizeTurn(
  raw: unknown,
  turnId: string | undefined,
  prefix = "turn",
  shapeError: TurnErrorCode = "INVALID_TURN",
): Turn {
  if (nestingDepth(raw) > MAX_NESTING_DEPTH) {
    throw new TurnFormatError("NESTING_TOO_DEEP", `${prefix} is nested deeper than ${MAX_NESTING_DEPTH} levels`);
  }
  const parsed = TurnInputSchema.safeParse(raw);
  if (!parsed.success) throw new TurnFormatError(shapeError, describeIssue(parsed.error.issues[0]!, prefix).message);
  const input = parsed.data;
  const ownId = input.id ?? undefined;
  if (ownId !== undefined && turnId !== undefined && ownId !== turnId) {
    throw new TurnFormatError(
      "TURN_ID_MISMATCH",
      `turn_id ${JSON.stringify(turnId)} disagrees with ${prefix}.id ${JSON.stringify(ownId)}`,
    );
  }
  const id = turnId ?? ownId;
  if (id === undefined || id === "") {
    throw new TurnFormatError("TURN_ID_REQUIRED", `turn_id is required: give turn_id or ${prefix}.id`);
  }
  // A turn_id field was validated with the request; an id taken from the turn follows the same rules.
  const problem = turnId === undefined ? identifierProblem(`${prefix}.id`, id) : null;
  if (problem) throw new TurnFormatError(shapeError, problem);
  return {
    id,
    blocks: input.blocks.map((block, ordinal) => {
      const kind = normalizeKind(block.kind);
      const role = block.role ?? "";
      return {
        id: block.id ? block.id : `${id}#${ordinal}`,
        kind,
        role: kind === "llm_text" && role === "" ? "assistant" : role,
        payload: block.payload,
        metadata: block.metadata,
      };
    }),
    metadata: input.metadata,
    data: input.data,
  };
}

/** Parses the Go implementation's YAML serialization of a turn into a plain value. */
export function parseTurnYaml(text: string, prefix = "payload"): unknown {
  // maxAliasCount bounds "billion laughs" expansion; uniqueKeys refuses ambiguous documents.
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length > 0) {
    // yaml's messages can quote the source (tags, escapes, scalars, alias names), and an error must
    // not echo payload text: name the problem by its code and say where.
    const { code, pos } = doc.errors[0]!;
    const before = text.slice(0, Math.max(0, pos[0]));
    const line = before.split("\n").length;
    const column = before.length - before.lastIndexOf("\n");
    throw new TurnFormatError("INVALID_PAYLOAD", `${prefix} is not valid YAML: ${code.toLowerCase().replace(/_/g, " ")} at line ${line}, column ${column}`);
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    throw new TurnFormatError("INVALID_PAYLOAD", `${prefix} is not valid YAML: ${(error as Error).message.split(":")[0]}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    const got = value === null ? "null" : Array.isArray(value) ? "a sequence" : `a ${typeof value}`;
    throw new TurnFormatError("INVALID_PAYLOAD", `${prefix} must be a YAML mapping (a turn), got ${got}`);
  }
  return value;
}

/** The turn as YAML, fields in the Go order: id, blocks (id, kind, role, payload, metadata), metadata, data. */
export function turnToYaml(turn: Turn): string {
  const ordered = {
    id: turn.id,
    blocks: turn.blocks.map((b) => ({ id: b.id, kind: b.kind, role: b.role, payload: b.payload, metadata: b.metadata })),
    metadata: turn.metadata,
    data: turn.data,
  };
  return stringify(ordered, { aliasDuplicateObjects: false, lineWidth: 0 });
}
