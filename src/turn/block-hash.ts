/**
 * Content addressing of blocks, compatible with the Go implementation (CONTRACT §2):
 * lowercase hex SHA-256 of compact JSON {"kind","role","payload","metadata"} in that order, nested
 * object keys sorted by their UTF-8 bytes, and <, >, & (plus U+2028/U+2029) escaped as Go's
 * encoding/json writes them.
 */
export const HASH_ALGORITHM = "sha256-canonical-json-v1" as const;

/** Code-point order equals UTF-8 byte order (JS's default sort compares UTF-16 units instead). */
function compareUtf8(a: string, b: string): number {
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  for (;;) {
    const ca = ia.next();
    const cb = ib.next();
    if (ca.done || cb.done) return ca.done ? (cb.done ? 0 : -1) : 1;
    const diff = ca.value.codePointAt(0)! - cb.value.codePointAt(0)!;
    if (diff !== 0) return diff;
  }
}

/** Deep copy with object keys in UTF-8 byte order, so JSON.stringify writes them as Go does. */
export function sortKeysDeep(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeysDeep);
  if (typeof value === "object" && value !== null) {
    const sorted: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort(compareUtf8)) {
      // defineProperty keeps a "__proto__" key as plain data instead of changing the prototype.
      Object.defineProperty(sorted, key, {
        value: sortKeysDeep((value as Record<string, unknown>)[key]),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return sorted;
  }
  return value;
}

const GO_HTML_ESCAPES: Record<string, string> = {
  "<": "\\u003c",
  ">": "\\u003e",
  "&": "\\u0026",
  "\u2028": "\\u2028",
  "\u2029": "\\u2029",
};

/** Compact JSON as Go's json.Marshal writes it (those characters only occur inside strings). */
export function goCompatibleJson(value: unknown): string {
  return JSON.stringify(sortKeysDeep(value)).replace(/[<>&\u2028\u2029]/g, (ch) => GO_HTML_ESCAPES[ch]!);
}

export interface HashableBlock {
  kind: string;
  role: string;
  payload: Record<string, unknown>;
  metadata: Record<string, unknown>;
}

export function blockHashMaterial(block: HashableBlock): string {
  // Top-level field order is fixed by the contract; only nested keys are sorted.
  return `{"kind":${goCompatibleJson(block.kind)},"role":${goCompatibleJson(block.role)},"payload":${goCompatibleJson(block.payload)},"metadata":${goCompatibleJson(block.metadata)}}`;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

export async function sha256Hex(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  let out = "";
  for (const byte of digest) out += HEX[byte];
  return out;
}

/**
 * Hashes of recently seen small blocks, per isolate: a growing conversation re-sends all its earlier
 * blocks with every snapshot, and re-hashing them was the largest single cost of a write. Keyed by
 * the full material, so a hit is exact; bounded to MAX_REMEMBERED × MAX_REMEMBERED_CHARS (≤ 16 MiB).
 */
const remembered = new Map<string, string>();
const MAX_REMEMBERED = 4096;
const MAX_REMEMBERED_CHARS = 2048;

export async function blockContentHash(block: HashableBlock): Promise<string> {
  const material = blockHashMaterial(block);
  const known = remembered.get(material);
  if (known !== undefined) return known;
  const hash = await sha256Hex(material);
  if (material.length <= MAX_REMEMBERED_CHARS) {
    if (remembered.size >= MAX_REMEMBERED) remembered.delete(remembered.keys().next().value!);
    remembered.set(material, hash);
  }
  return hash;
}
