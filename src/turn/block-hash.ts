/**
 * Content addressing of blocks, compatible with the Go implementation (CONTRACT §2, §5.2):
 * lowercase hex SHA-256 of the compact JSON {"kind","role","payload","metadata"} in that order, with
 * kind and role already normalized and payload/metadata in canonical JSON (canonical-json.ts).
 * The stored payload_json / block_metadata_json are exactly the canonical texts hashed here.
 */
import { BoundedMemory } from "./bounded-memory";
import { canonicalJson, canonicalString } from "./canonical-json";

export const HASH_ALGORITHM = "sha256-canonical-json-v1" as const;

export interface HashableBlock {
  kind: string;
  role: string;
  payload: Record<string, unknown>;
  metadata: Record<string, unknown>;
}

/** The canonical texts of a block's content: what is hashed and what is stored. */
export interface BlockContent {
  kind: string;
  role: string;
  payloadJson: string;
  metadataJson: string;
}

export function blockContent(block: HashableBlock): BlockContent {
  return { kind: block.kind, role: block.role, payloadJson: canonicalJson(block.payload), metadataJson: canonicalJson(block.metadata) };
}

/** Top-level field order is fixed by the contract; payload and metadata are already canonical. */
export function blockHashMaterial(content: BlockContent): string {
  return `{"kind":${canonicalString(content.kind)},"role":${canonicalString(content.role)},"payload":${content.payloadJson},"metadata":${content.metadataJson}}`;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

export async function sha256Hex(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  let out = "";
  for (const byte of digest) out += HEX[byte];
  return out;
}

/**
 * Hashes (and read weights, read-weight.ts) of recently seen small blocks, per isolate: a growing
 * conversation re-sends its earlier blocks with every full snapshot, and re-hashing them was the
 * largest single cost of a write. Keyed by the full material, so a hit is exact; bounded to
 * 4096 entries × MAX_REMEMBERED_CHARS (≤ 16 MiB).
 */
export interface RememberedBlock {
  hash: string;
  /** blockContentWeight of the content; undefined when only the hash was asked for (the client). */
  weight?: number;
}
const remembered = new BoundedMemory<string, RememberedBlock>(4096);
const MAX_REMEMBERED_CHARS = 2048;

/** What this isolate remembers of a block's content (by its hash material), if anything. */
export function rememberedBlock(material: string): RememberedBlock | undefined {
  return remembered.get(material);
}

/** The digest of a block's material, remembered with its weight when the material is small. */
export async function digestBlock(material: string, weight?: number): Promise<string> {
  const hash = await sha256Hex(material);
  if (material.length <= MAX_REMEMBERED_CHARS) remembered.set(material, { hash, weight });
  return hash;
}

export async function contentHash(content: BlockContent): Promise<string> {
  const material = blockHashMaterial(content);
  return rememberedBlock(material)?.hash ?? digestBlock(material);
}

/** The hash of a normalized block (canonical texts computed here). */
export function blockContentHash(block: HashableBlock): Promise<string> {
  return contentHash(blockContent(block));
}

/** A blocks row as stored (the columns the hash covers). */
export interface StoredBlockRow {
  block_id: string;
  content_hash: string;
  kind: string;
  role: string;
  payload_json: string;
  block_metadata_json: string;
}

/**
 * Checks a stored block against the hash rule: null when content_hash is the canonical hash of the
 * stored content, else what is off. Rows written by the first release can differ: it wrote object
 * keys in JavaScript's order (integer-like keys first), kept kinds' case and roles' spaces, and let
 * YAML 1.1 values (dates) reach the hash as something other than what was stored.
 */
export async function storedBlockProblem(row: StoredBlockRow): Promise<string | null> {
  const parse = (text: string): Record<string, unknown> | null => {
    try {
      const value: unknown = JSON.parse(text);
      return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
    } catch {
      return null;
    }
  };
  const payload = parse(row.payload_json);
  const metadata = parse(row.block_metadata_json);
  if (payload === null || metadata === null) return "payload_json or block_metadata_json is not a JSON object";
  const expected = await contentHash(blockContent({ kind: row.kind, role: row.role, payload, metadata }));
  if (expected === row.content_hash) return null;
  const notes = [
    row.kind !== row.kind.trim().toLowerCase() ? "kind is not lower-case and trimmed" : "",
    row.role !== row.role.trim() ? "role has surrounding whitespace" : "",
    canonicalJson(payload) !== row.payload_json || canonicalJson(metadata) !== row.block_metadata_json
      ? "content not stored in canonical form"
      : "",
  ].filter(Boolean);
  return `content_hash is not the canonical hash of the stored content (expected ${expected})${notes.length ? `: ${notes.join("; ")}` : ""}`;
}
