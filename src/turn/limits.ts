/**
 * Work bounds per request (CONTRACT §5.3): checked before anything is parsed further, hashed or
 * written, so a request's cost is bounded whatever a client sends. Documented in docs/API.md.
 */
import type { PreparedSnapshot } from "./snapshot";
import { TurnFormatError } from "./turn";

/** Blocks one snapshot may list (a 1,000-turn geppetto conversation repeats about 2,700): checked by the reader. */
export { MAX_BLOCKS_PER_SNAPSHOT } from "./turn";
/** Blocks all snapshots of one request may list together, repeats included. */
export const MAX_BLOCKS_PER_REQUEST = 50_000;
/** New block rows one request may write (CONTRACT §5.3 default): the store counts them exactly before writing. */
export const MAX_NEW_BLOCK_ROWS_PER_REQUEST = 10_000;
/** Content one request may write: the canonical bytes of its distinct blocks and of its snapshots' metadata, data and extra keys. */
export const MAX_CONTENT_BYTES_PER_REQUEST = 8 * 1024 * 1024;

/**
 * YAML payloads of one request, in UTF-8 bytes. The YAML reader costs about 0.6 s of CPU per MiB
 * (JSON costs a hundredth of that), so YAML is bounded tighter than the 4 MiB body.
 */
export const MAX_YAML_BYTES_PER_REQUEST = 1024 * 1024;

const utf8 = new TextEncoder();

/**
 * The UTF-8 bytes of `texts` together when they exceed `max`, else null. A UTF-16 unit is at most 3
 * UTF-8 bytes, so texts whose units × 3 fit are not encoded at all (nearly every request and row).
 */
export function utf8BytesOver(texts: ReadonlyArray<string>, max: number): number | null {
  let units = 0;
  for (const t of texts) units += t.length;
  if (units * 3 <= max) return null;
  let bytes = 0;
  for (const t of texts) bytes += utf8.encode(t).length;
  return bytes > max ? bytes : null;
}

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

/**
 * The bounds of one request over its read snapshots (before hashing, before any write): blocks
 * listed, and content bytes. (New block rows are counted by the store once it knows which blocks the
 * conversation has: saveSnapshots.)
 */
export function assertRequestBounds(snapshots: readonly PreparedSnapshot[]): void {
  let listed = 0;
  // UTF-16 units of all content, repeats included: at most 3 UTF-8 bytes each, so this bounds the
  // exact count (contentBytes, which counts a repeated block once) from above. Only a request it
  // puts over the limit is counted exactly.
  let units = 0;
  snapshots.forEach((s, i) => {
    listed += s.blocks.length;
    if (listed > MAX_BLOCKS_PER_REQUEST) {
      throw new TurnFormatError(
        "TOO_MANY_BLOCKS",
        `the request lists more than ${MAX_BLOCKS_PER_REQUEST} blocks (at items[${i}]); split it into smaller requests`,
      );
    }
    units += s.metadataJson.length + s.dataJson.length + s.extraJson.length;
    for (const b of s.blocks) if (!b.ref) units += b.payloadJson.length + b.metadataJson.length;
  });
  if (units * 3 > MAX_CONTENT_BYTES_PER_REQUEST) {
    const exact = contentBytes(snapshots);
    if (exact > MAX_CONTENT_BYTES_PER_REQUEST) {
      throw new TurnFormatError(
        "PAYLOAD_TOO_LARGE",
        `the request would write ${exact} bytes of content; at most ${MAX_CONTENT_BYTES_PER_REQUEST} (8 MiB) per request`,
      );
    }
  }
}

function contentBytes(snapshots: readonly PreparedSnapshot[]): number {
  const seen = new Set<string>();
  let bytes = 0;
  for (const s of snapshots) {
    bytes += utf8.encode(s.metadataJson + s.dataJson + s.extraJson).length;
    for (const b of s.blocks) {
      if (b.ref) continue;
      const key = `${b.id}\u0000${b.payloadJson}\u0000${b.metadataJson}`;
      if (seen.has(key)) continue;
      seen.add(key);
      bytes += utf8.encode(b.payloadJson).length + utf8.encode(b.metadataJson).length;
    }
  }
  return bytes;
}
