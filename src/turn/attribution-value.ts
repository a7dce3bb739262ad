/**
 * What a runtime key or inference id may be — one rule wherever the value comes from (issue 29):
 * an explicit request field (`runtime_key` / `inference_id`), the turn metadata (found by the
 * extraction rule, attribution.ts), the runtime switch (`PUT /api/conversations/:conv_id/runtime`),
 * the import tool's rows, and later OTLP attributes. Pure.
 *
 *  - trimmed of spaces, tabs, CR and LF (the contract's trim set, as the extraction rule trims);
 *    '' after trimming means "not known";
 *  - at most 256 UTF-16 units after trimming;
 *  - no control characters (C0, DEL, C1) left inside, no lone surrogates (D1 would store U+FFFD);
 *  - no Unicode format characters outside emoji sequences, and NFC (identifier.ts lookalikeProblem):
 *    the value becomes a turn's runtime and the conversation's pointer, shown to people and used as
 *    a filter, so "planner" and "planner" + U+200B must not be two runtimes that look the same.
 *
 * It applies to new writes. Old rows upgraded by the backfill SQL keep what the extraction rule
 * gives them (src/db/backfill-sql.ts, its twin), whatever it is.
 */
import { findAttribution, trimAttribution, type AttributionProbe } from "./attribution";
import { hasLoneSurrogate, lookalikeProblem } from "./identifier";

export const MAX_ATTRIBUTION_LENGTH = 256;

const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/;

/** The value as stored: trimmed of spaces, tabs, CR and LF. */
export const normalizeAttribution = trimAttribution;

/** What is wrong with a trimmed value named `name`, or null when it may be stored ('' included). */
export function attributionProblem(name: string, value: string): string | null {
  if (value.length > MAX_ATTRIBUTION_LENGTH) {
    return `${name} must be at most ${MAX_ATTRIBUTION_LENGTH} characters after trimming (it has ${value.length})`;
  }
  const control = CONTROL_CHARACTER.exec(value);
  if (control) {
    const code = control[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, "0");
    return `${name} must not contain control characters (found U+${code} at index ${control.index}; only leading and trailing spaces, tabs, CR and LF are trimmed)`;
  }
  if (hasLoneSurrogate(value)) return `${name} must be valid Unicode (no lone surrogates)`;
  return lookalikeProblem(name, value);
}

/** A runtime key or inference id resolved for a new write, and what is wrong with it (naming its source). */
export interface ResolvedAttribution {
  value: string;
  /** Where the value came from: the request field, or the metadata key it was found under. */
  source: "explicit" | "metadata" | "none";
  problem: string | null;
}

/**
 * The explicit value (trimmed) when non-empty, else the metadata's by the extraction rule, else ''
 * — then checked. `names.explicit` names the request field ("items[2].runtime_key"), `names.metadata`
 * the turn's metadata ("turn.metadata"); a problem names the metadata key the value was found under
 * (`turn.metadata["geppetto.runtime@v1"].runtime_key`). Metadata an explicit value overrides is not
 * read, so it is not checked either: it is only data.
 */
export function resolveAttributionValue(
  explicit: string | undefined,
  metadata: unknown,
  probe: AttributionProbe,
  names: { explicit: string; metadata: string },
): ResolvedAttribution {
  const given = normalizeAttribution(explicit ?? "");
  if (given !== "") return { value: given, source: "explicit", problem: attributionProblem(names.explicit, given) };
  const found = findAttribution(metadata, probe);
  if (!found) return { value: "", source: "none", problem: null };
  const [key, ...inner] = found.path;
  const where = `${names.metadata}[${JSON.stringify(key)}]${inner.map((k) => `.${k}`).join("")}`;
  return { value: found.value, source: "metadata", problem: attributionProblem(where, found.value) };
}
