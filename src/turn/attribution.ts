/**
 * The one extraction rule (CONTRACT §2): which runtime and inference produced a turn, read from its
 * metadata. Ingestion uses these functions; the backfill migration is generated from the same key
 * lists (src/db/backfill-sql.ts), and one table of cases (test/fixtures/attribution-cases.json)
 * tests both. What a value may be once found — the check new writes apply, not the backfill of old
 * rows — is attribution-value.ts.
 */

/** A probe: metadata keys in priority order, and the keys probed inside an object value. */
export interface AttributionProbe {
  readonly metadataKeys: readonly string[];
  readonly objectKeys: readonly string[];
}

export const RUNTIME_PROBE: AttributionProbe = {
  metadataKeys: ["geppetto.runtime@v1", "runtime", "runtime_key"],
  objectKeys: ["runtime_key", "key", "slug", "profile", "profile_key"],
};

export const INFERENCE_PROBE: AttributionProbe = {
  metadataKeys: ["geppetto.inference_id@v1", "inference_id"],
  objectKeys: ["inference_id", "id"],
};

/** Objects are probed at most this deep: the metadata value itself and one nested object. */
export const MAX_OBJECT_DEPTH = 2;

/** Only these characters are trimmed (not all Unicode whitespace), as the SQL trim() does. */
const EDGE_WHITESPACE = /^[ \t\r\n]+|[ \t\r\n]+$/g;

/** Integer-valued numbers below this magnitude print without a fraction ("42", not "42.0"). */
const MAX_EXACT_INTEGER = 2 ** 53;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Decimal text of a metadata number, as the backfill SQL prints it. */
export function numberText(value: number): string {
  if (!Number.isFinite(value)) return "";
  if (Number.isInteger(value) && Math.abs(value) < MAX_EXACT_INTEGER) return value.toFixed(0);
  return String(value);
}

/** A string as the rule reads it: trimmed of spaces, tabs, CR and LF (the contract's trim set), nothing else. */
export function trimAttribution(value: string): string {
  return value.replace(EDGE_WHITESPACE, "");
}

/** A value found by the rule, and where: the keys from the metadata object down to it. */
export interface FoundAttribution {
  value: string;
  path: readonly string[];
}

function yieldValue(value: unknown, probe: AttributionProbe, depth: number, path: readonly string[]): FoundAttribution | null {
  if (typeof value === "string") {
    const text = trimAttribution(value);
    return text === "" ? null : { value: text, path };
  }
  if (typeof value === "number") {
    const text = numberText(value);
    return text === "" ? null : { value: text, path };
  }
  if (isPlainObject(value) && depth <= MAX_OBJECT_DEPTH) {
    for (const key of probe.objectKeys) {
      if (!Object.hasOwn(value, key)) continue;
      const found = yieldValue(value[key], probe, depth + 1, [...path, key]);
      if (found) return found;
    }
  }
  return null;
}

/**
 * Applies a probe to turn metadata (a parsed object, or the JSON text of an old row) and says where
 * the value was found. Anything that is not a JSON object (including malformed JSON) yields null —
 * never an error.
 */
export function findAttribution(metadata: unknown, probe: AttributionProbe): FoundAttribution | null {
  let parsed = metadata;
  if (typeof metadata === "string") {
    try {
      parsed = JSON.parse(metadata);
    } catch {
      return null;
    }
  }
  if (!isPlainObject(parsed)) return null;
  for (const key of probe.metadataKeys) {
    if (!Object.hasOwn(parsed, key)) continue;
    const found = yieldValue(parsed[key], probe, 1, [key]);
    if (found) return found;
  }
  return null;
}

/** The rule's value for this metadata, or '' (findAttribution without the where). */
export function extractAttribution(metadata: unknown, probe: AttributionProbe): string {
  return findAttribution(metadata, probe)?.value ?? "";
}

export const extractRuntimeKey = (metadata: unknown): string => extractAttribution(metadata, RUNTIME_PROBE);
export const extractInferenceId = (metadata: unknown): string => extractAttribution(metadata, INFERENCE_PROBE);

/** Explicit request value (trimmed, non-empty) → metadata by the rule → ''. Never the pointer. */
export function resolveAttribution(explicit: string | undefined, metadata: unknown, probe: AttributionProbe): string {
  const given = trimAttribution(explicit ?? "");
  return given !== "" ? given : extractAttribution(metadata, probe);
}
