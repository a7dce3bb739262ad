/**
 * Work bounds per request (CONTRACT §5.3, §6.3), counted by what a request makes the database hold
 * and what later reads return — not by what it lists. One function (requestCost) decides a request's
 * cost from its read snapshots, before anything is hashed or written; the store completes it once it
 * knows what references and prefixes stand for (store/writes/ calls the same checks), and
 * the rate limiter charges it (http/rate-limit.ts). Documented in docs/API.md, "Limits".
 */
import type { PreparedSnapshot } from "./snapshot";
import { utf8BytesOver } from "./text-size";
import { TurnFormatError } from "./turn";

/** Blocks one snapshot may hold — a prefix's positions and references included (a 1,000-turn geppetto conversation holds about 2,700). */
export { MAX_BLOCKS_PER_SNAPSHOT } from "./turn";
/** Blocks the snapshots of one request may list together (each is read, normalized and hashed), repeats and references included. */
export const MAX_BLOCKS_PER_REQUEST = 50_000;
/** Block positions the snapshots of one request may hold together, prefixes included: what its reads will walk. */
export const MAX_BLOCK_POSITIONS_PER_REQUEST = 200_000;
/** New block rows one request may write (CONTRACT §5.3 default): the store counts them exactly before writing. */
export const MAX_NEW_BLOCK_ROWS_PER_REQUEST = 10_000;
/** Rows one request may add: blocks, path nodes, snapshots, turns and conversations together. */
export const MAX_NEW_ROWS_PER_REQUEST = 25_000;
/** Content one request may write: the canonical text of its distinct blocks (extra keys included) and of its snapshots' metadata, data and extra keys. */
export const MAX_CONTENT_BYTES_PER_REQUEST = 8 * 1024 * 1024;

/**
 * What one snapshot may weigh when read (read-weight.ts: its YAML and JSON together, in characters),
 * history included: every stored snapshot fits one read (READ_BUDGET_CHARS) on its own.
 */
export const MAX_SNAPSHOT_WEIGHT = 16 * 1024 * 1024;
/** What the snapshots of one request may weigh together. */
export const MAX_REQUEST_WEIGHT = 256 * 1024 * 1024;
/**
 * What one read may return (debug pages, turn detail, latest turn, each page of an export), in
 * characters: a page ends early, with its next_cursor, before the snapshot that would pass it.
 */
export const READ_BUDGET_CHARS = MAX_SNAPSHOT_WEIGHT;

/**
 * YAML payloads of one request, in UTF-8 bytes. The YAML reader costs about 0.6 s of CPU per MiB
 * (JSON costs a hundredth of that), so YAML is bounded tighter than the 4 MiB body.
 */
export const MAX_YAML_BYTES_PER_REQUEST = 1024 * 1024;

const utf8 = new TextEncoder();

export function assertYamlBudget(payloads: ReadonlyArray<string | undefined>): void {
  const exact = utf8BytesOver(
    payloads.filter((p): p is string => p !== undefined),
    MAX_YAML_BYTES_PER_REQUEST,
  );
  if (exact !== null) {
    throw new TurnFormatError(
      "PAYLOAD_TOO_LARGE",
      `YAML payloads total ${exact} bytes; a request may carry at most ${MAX_YAML_BYTES_PER_REQUEST} bytes (1 MiB) of YAML — post larger turns as JSON (turn), or send earlier blocks as references`,
    );
  }
}

/** What a request costs, as far as its own text tells (references and prefixes weigh what they carry). */
export interface RequestCost {
  /** Snapshots: what the rate limiter charges. */
  snapshots: number;
  /** Blocks listed (read and hashed). */
  listedBlocks: number;
  /** Block positions held, prefixes included. */
  blockPositions: number;
  /** Read weight of what the request carries. */
  weight: number;
}

const where = (s: PreparedSnapshot) => (s.label ? `${s.label}: ` : "");

/** The weight a snapshot reaches with what stands behind its references and prefix (known to the store). */
export function assertSnapshotWeight(s: PreparedSnapshot, weight: number): void {
  if (weight > MAX_SNAPSHOT_WEIGHT) {
    throw new TurnFormatError(
      "SNAPSHOT_TOO_LARGE",
      `${where(s)}the snapshot would read back as ${weight} characters (its history included); a snapshot may weigh at most ${MAX_SNAPSHOT_WEIGHT} (16 Mi) so that one read returns it — start a new conversation, or store large tool results elsewhere and keep a link`,
    );
  }
}

export function assertRequestWeight(weight: number): void {
  if (weight > MAX_REQUEST_WEIGHT) {
    throw new TurnFormatError(
      "PAYLOAD_TOO_LARGE",
      `the request's snapshots would read back as ${weight} characters together; at most ${MAX_REQUEST_WEIGHT} (256 Mi) per request — split it into smaller requests`,
    );
  }
}

/** The rows a request would add, against MAX_NEW_ROWS_PER_REQUEST and MAX_NEW_BLOCK_ROWS_PER_REQUEST. */
export function assertNewRows(rows: { blocks: number; nodes: number; snapshots: number; conversations: number }): void {
  if (rows.blocks > MAX_NEW_BLOCK_ROWS_PER_REQUEST) {
    throw new TurnFormatError(
      "TOO_MANY_BLOCKS",
      `the request would store ${rows.blocks} new blocks; at most ${MAX_NEW_BLOCK_ROWS_PER_REQUEST} new block rows are written per request — split it into smaller requests`,
    );
  }
  // A snapshot adds its row and at most one turn row.
  const total = rows.blocks + rows.nodes + 2 * rows.snapshots + rows.conversations;
  if (total > MAX_NEW_ROWS_PER_REQUEST) {
    throw new TurnFormatError(
      "TOO_MANY_ROWS",
      `the request would add ${total} rows (${rows.blocks} blocks, ${rows.nodes} path nodes, ${rows.snapshots} snapshots and their turns, ${rows.conversations} conversations); at most ${MAX_NEW_ROWS_PER_REQUEST} per request — split it into smaller requests`,
    );
  }
}

/**
 * The bounds of one request over its read snapshots (before hashing, before any write): blocks
 * listed and held, content, and the weight of what it carries. Returns its cost. (New rows, and the
 * weight behind references and prefixes, are checked by the store once it knows them.)
 */
export function requestCost(snapshots: readonly PreparedSnapshot[]): RequestCost {
  const cost: RequestCost = { snapshots: snapshots.length, listedBlocks: 0, blockPositions: 0, weight: 0 };
  // UTF-16 units of all content, repeats included: at most 3 UTF-8 bytes each, so this bounds the
  // exact count (contentBytes, which counts a repeated block once) from above. Only a request it
  // puts over the limit is counted exactly.
  let units = 0;
  snapshots.forEach((s, i) => {
    cost.listedBlocks += s.blocks.length;
    if (cost.listedBlocks > MAX_BLOCKS_PER_REQUEST) {
      throw new TurnFormatError(
        "TOO_MANY_BLOCKS",
        `the request lists more than ${MAX_BLOCKS_PER_REQUEST} blocks (at items[${i}]); split it into smaller requests`,
      );
    }
    cost.blockPositions += s.blockCount;
    if (cost.blockPositions > MAX_BLOCK_POSITIONS_PER_REQUEST) {
      throw new TurnFormatError(
        "TOO_MANY_BLOCKS",
        `the request's snapshots hold more than ${MAX_BLOCK_POSITIONS_PER_REQUEST} block positions together, prefixes included (at items[${i}]); split it into smaller requests`,
      );
    }
    assertSnapshotWeight(s, s.carriedWeight);
    cost.weight += s.carriedWeight;
    units += s.metadataJson.length + s.dataJson.length + s.extraJson.length;
    for (const b of s.blocks) if (!b.ref) units += b.payloadJson.length + b.metadataJson.length + b.extraJson.length;
  });
  assertRequestWeight(cost.weight);
  if (units * 3 > MAX_CONTENT_BYTES_PER_REQUEST) {
    const exact = contentBytes(snapshots);
    if (exact > MAX_CONTENT_BYTES_PER_REQUEST) {
      throw new TurnFormatError(
        "PAYLOAD_TOO_LARGE",
        `the request would write ${exact} bytes of content (extra keys included); at most ${MAX_CONTENT_BYTES_PER_REQUEST} (8 MiB) per request`,
      );
    }
  }
  return cost;
}

function contentBytes(snapshots: readonly PreparedSnapshot[]): number {
  const seen = new Set<string>();
  let bytes = 0;
  for (const s of snapshots) {
    bytes += utf8.encode(s.metadataJson + s.dataJson + s.extraJson).length;
    for (const b of s.blocks) {
      if (b.ref) continue;
      // Extra keys live on the path node (one per position), not in the shared block row.
      bytes += utf8.encode(b.extraJson).length;
      const key = `${b.id}\u0000${b.payloadJson}\u0000${b.metadataJson}`;
      if (seen.has(key)) continue;
      seen.add(key);
      bytes += utf8.encode(b.payloadJson).length + utf8.encode(b.metadataJson).length;
    }
  }
  return bytes;
}
