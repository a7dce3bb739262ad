/**
 * A legacy database for the backfill benchmark: the pre-cutover layout (drizzle/0000_baseline.sql,
 * with updated_at_ms, no d1_migrations table — "loaded as-is"), generated in bulk SQL.
 *
 * Conversations of 100 turns; each turn has one snapshot of 3 blocks (a window over its
 * conversation's blocks) in turn_block_membership. Metadata shapes are mixed: half the turns carry
 * the canonical object (with the other keys a producer writes), the other half cycle through every
 * case of test/fixtures/attribution-cases.json — strings, numbers, nested objects, nulls, arrays,
 * malformed JSON, empty text.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "../tools/wrangler-dev";
import { migrationStatements, sqlScript } from "../tools/migrations";
import { bulkLoad, d1File, hashOf, sequenceTable, sqlString } from "./databases";

export const TURNS_PER_CONVERSATION = 100;
export const BLOCKS_PER_LEGACY_SNAPSHOT = 3;
const BASE_MS = 1_650_000_000_000;

export function attributionCases(): string[] {
  const fixture = JSON.parse(readFileSync(join(ROOT, "test/fixtures/attribution-cases.json"), "utf8")) as {
    cases: Array<{ metadata_json: string }>;
  };
  return fixture.cases.map((c) => c.metadata_json);
}

export function legacyDatabaseSql(turns: number): string {
  const cases = attributionCases();
  const conversations = Math.ceil(turns / TURNS_PER_CONVERSATION);
  const conv = (n: string) => `'lc-' || printf('%07d', ${n} / ${TURNS_PER_CONVERSATION})`;
  const session = (n: string) => `'ls-' || printf('%07d', ${n} / ${TURNS_PER_CONVERSATION})`;
  const turn = (n: string) => `'lt-' || printf('%03d', ${n} % ${TURNS_PER_CONVERSATION})`;
  const refId = `${conv("s.n")} || '-b' || printf('%03d', s.n % ${TURNS_PER_CONVERSATION} + o.n)`;
  const blockId = `'lc-' || printf('%07d', c.n) || '-b' || printf('%03d', j.n)`;
  const canonical = `json_object(
      'geppetto.runtime@v1', json_object('runtime_key', CASE (s.n / 2) % 4 WHEN 0 THEN 'planner' WHEN 1 THEN 'research' WHEN 2 THEN 'support' ELSE 'inventory' END, 'version', 2),
      'geppetto.inference_id@v1', 'inf-' || s.n,
      'geppetto.session_id@v1', ${session("s.n")},
      'geppetto.usage@v1', json_object('input_tokens', s.n % 4000, 'output_tokens', s.n % 900))`;
  return `
${sqlScript(migrationStatements("0000_baseline.sql"))}
${sequenceTable("seq", turns)}
CREATE TEMP TABLE cases(i INTEGER PRIMARY KEY, metadata_json TEXT);
INSERT INTO cases VALUES ${cases.map((m, i) => `(${i}, ${sqlString(m)})`).join(", ")};
CREATE TEMP TABLE ordinals(n INTEGER PRIMARY KEY);
INSERT INTO ordinals VALUES ${Array.from({ length: BLOCKS_PER_LEGACY_SNAPSHOT }, (_, i) => `(${i})`).join(", ")};

INSERT INTO turns (conv_id, session_id, turn_id, turn_created_at_ms, turn_metadata_json, turn_data_json, updated_at_ms)
SELECT ${conv("s.n")}, ${session("s.n")}, ${turn("s.n")}, ${BASE_MS} + s.n * 1000,
  CASE WHEN s.n % 2 = 0 THEN ${canonical}
    ELSE (SELECT metadata_json FROM cases WHERE i = (s.n / 2) % ${cases.length}) END,
  '{}', ${BASE_MS} + s.n * 1000 + 500
FROM seq AS s ORDER BY s.n;

INSERT INTO blocks (block_id, content_hash, hash_algorithm, kind, role, payload_json, block_metadata_json, first_seen_at_ms)
SELECT ${blockId}, ${hashOf(blockId)}, 'sha256-canonical-json-v1',
  CASE j.n % 2 WHEN 0 THEN 'user' ELSE 'llm_text' END, CASE j.n % 2 WHEN 0 THEN 'user' ELSE 'assistant' END,
  json_object('text', 'legacy block ' || j.n), '{}', ${BASE_MS}
FROM seq AS c JOIN seq AS j ON j.n < ${TURNS_PER_CONVERSATION + BLOCKS_PER_LEGACY_SNAPSHOT - 1}
WHERE c.n < ${conversations}
ORDER BY c.n, j.n;

INSERT INTO turn_block_membership (conv_id, session_id, turn_id, phase, snapshot_created_at_ms, ordinal, block_id, content_hash)
SELECT ${conv("s.n")}, ${session("s.n")}, ${turn("s.n")}, 'final', ${BASE_MS} + s.n * 1000 + 500, o.n, ${refId}, ${hashOf(refId)}
FROM seq AS s JOIN ordinals AS o
ORDER BY s.n, o.n;
`;
}

/** Fills the empty database (no tables) under persistTo with a legacy layout of `turns` turns. */
export function generateLegacyDatabase(persistTo: string, turns: number): { file: string } {
  const file = d1File(persistTo);
  bulkLoad(file, legacyDatabaseSql(turns));
  return { file };
}
