/**
 * Generates drizzle/0002_backfill.sql — the data-only migration step — from the same key lists as
 * the TypeScript extraction rule (src/turn/attribution.ts). `npm run db:backfill-sql` rewrites the
 * file; a test fails when the committed file and this generator disagree.
 *
 * The rule is written out as the same recursion the TypeScript runs: a value yields its text when
 * it is a string or a number, and, when it is an object no deeper than MAX_OBJECT_DEPTH, the first
 * non-empty yield of its probe keys. COALESCE stops at the first non-NULL argument and CASE only
 * evaluates the branch it takes, so a row costs as many JSON lookups as its metadata needs (two
 * for the canonical `{"geppetto.runtime@v1": {"runtime_key": …}}`), not one per possible path.
 *
 * Formatting matters to wrangler's SQL splitter (`migrations apply`, `d1 execute --file`): it only
 * pairs a CASE preceded by whitespace with an END followed by whitespace or ";". Every CASE here
 * starts a line and every END ends one; a test checks the split.
 */
import { INFERENCE_PROBE, MAX_OBJECT_DEPTH, RUNTIME_PROBE, type AttributionProbe } from "../turn/attribution";
import { UNPARSED_JSON_KEY } from "../turn/turn";

/** A JSON path step for SQLite: `."key"` (quoted so dots and @ in metadata keys are literal). */
function pathStep(key: string): string {
  return `."${key.replace(/"/g, '""')}"`;
}

/** A SQL string literal (the bench's generated databases quote with it too). */
export function sqlString(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

/** Every path the rule may probe, in rule order (parents before their children). */
export function probedPaths(probe: AttributionProbe): string[] {
  const out: string[] = [];
  const walk = (path: string, depth: number) => {
    out.push(path);
    if (depth <= MAX_OBJECT_DEPTH) for (const key of probe.objectKeys) walk(path + pathStep(key), depth + 1);
  };
  for (const key of probe.metadataKeys) walk(`$${pathStep(key)}`, 1);
  return out;
}

function indent(text: string, by: string): string {
  return text.replace(/\n/g, `\n${by}`);
}

/** SQL for the yield of the value at `path` of the metadata `m` (depth as in attribution.ts): non-empty text, or NULL. */
function yieldExpression(path: string, probe: AttributionProbe, depth: number): string {
  const at = sqlString(path);
  const raw = `m ->> ${at}`;
  const lines = [
    `CASE json_type(m, ${at})`,
    `  WHEN 'text' THEN nullif(trim(${raw}, char(32, 9, 13, 10)), '')`,
    `  WHEN 'integer' THEN CAST(${raw} AS TEXT)`,
    // An integer-valued real prints without a fraction ("42"), as numberText() does.
    `  WHEN 'real' THEN iif(${raw} = CAST(${raw} AS INTEGER) AND abs(${raw}) < 9007199254740992.0, CAST(CAST(${raw} AS INTEGER) AS TEXT), CAST(${raw} AS TEXT))`,
  ];
  if (depth <= MAX_OBJECT_DEPTH) {
    const children = probe.objectKeys.map((key) => yieldExpression(path + pathStep(key), probe, depth + 1));
    lines.push(`  WHEN 'object' THEN coalesce(`, `    ${children.map((c) => indent(c, "    ")).join("\n    ,\n    ")}`, `  )`);
  }
  lines.push(`END`);
  return lines.join("\n");
}

/**
 * SQL expression: the attribution of `column` by the rule, '' when nothing is found. The column is
 * renamed `m` in a one-row subquery to keep the statement well under D1's 100 KB statement limit.
 */
function extractionExpression(column: string, probe: AttributionProbe): string {
  const candidates = probe.metadataKeys.map((key) => yieldExpression(`$${pathStep(key)}`, probe, 1));
  const body = `coalesce(\n  ${[...candidates, "''"].map((c) => indent(c, "  ")).join("\n  ,\n  ")}\n)`;
  return `(SELECT ${body}\nFROM (SELECT ${column} AS m))`;
}

/**
 * A legacy JSON column for a snapshot row: the object itself when it is one, '{}' when missing, and
 * otherwise the raw text kept under one key (the turns row keeps it verbatim too), so the debug API
 * can always parse what it reads and nothing is hidden. (Callers follow END with whitespace:
 * wrangler's SQL splitter only closes a CASE on "END" plus whitespace or ";", and would otherwise
 * glue the next statement onto this one.)
 */
function jsonObjectOrWrapped(column: string): string {
  return `CASE WHEN ${column} IS NULL THEN '{}'
    WHEN CASE WHEN json_valid(${column}) THEN json_type(${column}) END = 'object' THEN ${column}
    ELSE json_object('${UNPARSED_JSON_KEY}', ${column}) END`;
}

/** Metadata the rule may read: valid JSON whose top level is an object. CASE keeps json_type off malformed text. */
const METADATA_IS_OBJECT = `CASE WHEN json_valid(turn_metadata_json) THEN json_type(turn_metadata_json) END = 'object'`;

function backfillColumn(column: "runtime_key" | "inference_id", probe: AttributionProbe): string {
  return `-- ${column} from turn_metadata_json by the extraction rule; '' stays where nothing is found.
UPDATE turns
SET ${column} = ${extractionExpression("turn_metadata_json", probe)}
WHERE ${column} = '' AND ${METADATA_IS_OBJECT};
--> statement-breakpoint
-- The value came from the turn's newest snapshot: date it so an older late snapshot never replaces it.
UPDATE turns SET ${column}_at_ms = updated_at_ms WHERE ${column} <> '' AND ${column}_at_ms = 0;`;
}

export function generateBackfillSql(): string {
  return `-- Backfill (data only; generated by src/db/backfill-sql.ts — do not edit by hand).
-- Every statement only fills what is still empty or missing, so applying it again changes nothing
-- and an interrupted run completes when re-run. Malformed metadata JSON is skipped, never an error.
${backfillColumn("runtime_key", RUNTIME_PROBE)}
--> statement-breakpoint
${backfillColumn("inference_id", INFERENCE_PROBE)}
--> statement-breakpoint
-- Legacy per-block membership rows become one snapshot each, blocks kept in ordinal order. Old
-- snapshots had no runtime of their own: they report their turn's backfilled values. Ids continue
-- after the highest stored one (unique in every layout, including a by-hand run after 0008).
INSERT INTO turn_snapshots (id, conv_id, session_id, turn_id, phase, created_at_ms, runtime_key, inference_id,
  turn_metadata_json, turn_data_json, block_refs_json)
SELECT (SELECT coalesce(max(id), 0) FROM turn_snapshots)
    + row_number() OVER (ORDER BY m.conv_id, m.snapshot_created_at_ms, m.session_id, m.turn_id, m.phase),
  m.conv_id, m.session_id, m.turn_id, m.phase, m.snapshot_created_at_ms,
  COALESCE(t.runtime_key, ''), COALESCE(t.inference_id, ''),
  ${jsonObjectOrWrapped("t.turn_metadata_json")} AS turn_metadata_json,
  ${jsonObjectOrWrapped("t.turn_data_json")} AS turn_data_json,
  m.block_refs_json
FROM (
  SELECT conv_id, session_id, turn_id, phase, snapshot_created_at_ms,
    json_group_array(json_array(block_id, content_hash) ORDER BY ordinal) AS block_refs_json
  FROM turn_block_membership
  GROUP BY conv_id, session_id, turn_id, phase, snapshot_created_at_ms
) AS m
LEFT JOIN turns AS t ON t.conv_id = m.conv_id AND t.session_id = m.session_id AND t.turn_id = m.turn_id
WHERE true
ON CONFLICT (conv_id, session_id, turn_id, created_at_ms, phase) DO NOTHING;
--> statement-breakpoint
-- Conversations derived from their turns: session of the newest turn, pointer = runtime of the newest
-- turn that has one (newest by updated_at_ms, then turn_created_at_ms, then turn_id).
INSERT INTO conversations (conv_id, session_id, current_runtime_key, current_runtime_at_ms,
  created_at_ms, last_activity_ms, turn_count, snapshot_count)
SELECT c.conv_id,
  (SELECT t.session_id FROM turns AS t WHERE t.conv_id = c.conv_id
    ORDER BY t.updated_at_ms DESC, t.turn_created_at_ms DESC, t.turn_id DESC LIMIT 1),
  COALESCE(p.runtime_key, ''), COALESCE(p.updated_at_ms, 0),
  c.created_at_ms, c.last_activity_ms, c.turn_count,
  (SELECT count(*) FROM turn_snapshots AS s WHERE s.conv_id = c.conv_id)
FROM (
  SELECT conv_id, min(turn_created_at_ms) AS created_at_ms, max(updated_at_ms) AS last_activity_ms,
    count(*) AS turn_count
  FROM turns GROUP BY conv_id
) AS c
LEFT JOIN turns AS p ON p.rowid = (
  SELECT t.rowid FROM turns AS t WHERE t.conv_id = c.conv_id AND t.runtime_key <> ''
  ORDER BY t.updated_at_ms DESC, t.turn_created_at_ms DESC, t.turn_id DESC LIMIT 1)
WHERE true
ON CONFLICT (conv_id) DO NOTHING;
`;
}
