/**
 * Model truth of a snapshot recorded from an OpenTelemetry GenAI span (CONTRACT §6.5): the turn
 * metadata key that keeps it, and the model_mismatch rule — true only when the requested and the
 * response model are both known (non-empty strings) and differ. Pure; no I/O.
 *
 * The rule exists twice, here for the exports (which hold the parsed turn) and as the SQL expression
 * below for the debug API (its items and its model_mismatch filter, also with payload=none where no
 * turn is parsed); test/fixtures/model-mismatch-cases.json drives both.
 */
import { isJsonObject } from "./turn";

/** Turn metadata key of an OTLP-recorded snapshot: {provider, request_model, response_model, usage, finish_reasons, trace_id, span_id, …}. */
export const GEN_AI_METADATA_KEY = "turnstore.gen_ai@v1";

const nonEmptyString = (value: unknown): value is string => typeof value === "string" && value !== "";

/** The model_mismatch rule over a turn's metadata object. */
export function modelMismatch(metadata: unknown): boolean {
  if (!isJsonObject(metadata)) return false;
  const genAi = metadata[GEN_AI_METADATA_KEY];
  if (!isJsonObject(genAi)) return false;
  const { request_model: requested, response_model: answered } = genAi;
  return nonEmptyString(requested) && nonEmptyString(answered) && requested !== answered;
}

/** True when the metadata carries GenAI model truth (an OTLP-recorded snapshot): exports then name model_mismatch. */
export function hasGenAiMetadata(metadata: unknown): boolean {
  return isJsonObject(metadata) && isJsonObject(metadata[GEN_AI_METADATA_KEY]);
}

/**
 * The same rule in SQLite over a metadata JSON column: 1 or 0, never an error — text that is not
 * valid JSON (legacy rows) is 0 (json_valid is checked first; CASE evaluates lazily).
 */
export function modelMismatchSql(column: string): string {
  const path = (field: string) => `'$."${GEN_AI_METADATA_KEY}".${field}'`;
  const requested = path("request_model");
  const answered = path("response_model");
  return `(CASE WHEN json_valid(${column}) AND json_type(${column}, ${requested}) = 'text' AND json_type(${column}, ${answered}) = 'text'
    THEN json_extract(${column}, ${requested}) <> '' AND json_extract(${column}, ${answered}) <> ''
      AND json_extract(${column}, ${requested}) <> json_extract(${column}, ${answered})
    ELSE 0 END)`;
}
