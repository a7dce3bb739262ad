/**
 * The rules the database keeps itself — triggers on turn_snapshots — defined once, beside the schema
 * (schema.ts points here). Whoever inserts a snapshot (the Worker's writes, the import tool, the
 * conversion) gets its turn rolled up by them; the Worker sends no statement of its own for it.
 *
 * Each body is the statement its migration runs, verbatim: the migrations in drizzle/ are what D1
 * applies, so their text is fixed once released, and test/worker/rules/turn-rollup.test.ts checks that
 * the migrated database holds exactly these bodies. db:check requires every trigger whose migration is
 * recorded, from this list (a by-hand re-run of 0008 drops them with the table).
 */
export interface DatabaseTrigger {
  /** The migration that creates it. */
  migration: string;
  /** The table it fires on. */
  table: string;
  /** What it keeps true. */
  rule: string;
  /** Its CREATE TRIGGER statement, as the migration runs it. */
  sql: string;
}

export const TRIGGERS = {
  turn_snapshots_lower_turn_created: {
    migration: "0009_turn_created_trigger.sql",
    table: "turn_snapshots",
    rule: "a turn's creation time is its oldest snapshot's: an older snapshot moves turns.turn_created_at_ms back",
    sql: `CREATE TRIGGER IF NOT EXISTS \`turn_snapshots_lower_turn_created\`
AFTER INSERT ON \`turn_snapshots\`
BEGIN
  UPDATE \`turns\` SET \`turn_created_at_ms\` = NEW.\`created_at_ms\`
  WHERE \`conv_id\` = NEW.\`conv_id\` AND \`session_id\` = NEW.\`session_id\` AND \`turn_id\` = NEW.\`turn_id\`
    AND \`turn_created_at_ms\` > NEW.\`created_at_ms\`;
END;`,
  },
  turn_snapshots_roll_up_turn: {
    migration: "0010_turn_rollup_trigger.sql",
    table: "turn_snapshots",
    rule: "the turn roll-up (CONTRACT §3): runtime_key and inference_id of the newest snapshot (by created_at_ms) that has one, metadata and data of the newest; rows without a path (tip_chain NULL) are the backfill's",
    sql: `CREATE TRIGGER IF NOT EXISTS \`turn_snapshots_roll_up_turn\`
AFTER INSERT ON \`turn_snapshots\`
WHEN NEW.\`tip_chain\` IS NOT NULL
BEGIN
  INSERT INTO \`turns\` (\`conv_id\`, \`session_id\`, \`turn_id\`, \`turn_created_at_ms\`, \`turn_metadata_json\`, \`turn_data_json\`,
    \`updated_at_ms\`, \`runtime_key\`, \`inference_id\`, \`runtime_key_at_ms\`, \`inference_id_at_ms\`)
  VALUES (NEW.\`conv_id\`, NEW.\`session_id\`, NEW.\`turn_id\`, NEW.\`created_at_ms\`, NEW.\`turn_metadata_json\`, NEW.\`turn_data_json\`,
    NEW.\`created_at_ms\`, NEW.\`runtime_key\`, NEW.\`inference_id\`,
    CASE WHEN NEW.\`runtime_key\` <> '' THEN NEW.\`created_at_ms\` ELSE 0 END,
    CASE WHEN NEW.\`inference_id\` <> '' THEN NEW.\`created_at_ms\` ELSE 0 END)
  ON CONFLICT (\`conv_id\`, \`session_id\`, \`turn_id\`) DO UPDATE SET
    \`turn_metadata_json\` = CASE WHEN excluded.\`updated_at_ms\` >= \`updated_at_ms\` THEN excluded.\`turn_metadata_json\` ELSE \`turn_metadata_json\` END,
    \`turn_data_json\` = CASE WHEN excluded.\`updated_at_ms\` >= \`updated_at_ms\` THEN excluded.\`turn_data_json\` ELSE \`turn_data_json\` END,
    \`updated_at_ms\` = max(\`updated_at_ms\`, excluded.\`updated_at_ms\`),
    \`runtime_key\` = CASE
      WHEN excluded.\`runtime_key\` <> '' AND excluded.\`runtime_key_at_ms\` >= \`runtime_key_at_ms\`
      THEN excluded.\`runtime_key\` ELSE \`runtime_key\` END,
    \`runtime_key_at_ms\` = CASE
      WHEN excluded.\`runtime_key\` <> '' AND excluded.\`runtime_key_at_ms\` >= \`runtime_key_at_ms\`
      THEN excluded.\`runtime_key_at_ms\` ELSE \`runtime_key_at_ms\` END,
    \`inference_id\` = CASE
      WHEN excluded.\`inference_id\` <> '' AND excluded.\`inference_id_at_ms\` >= \`inference_id_at_ms\`
      THEN excluded.\`inference_id\` ELSE \`inference_id\` END,
    \`inference_id_at_ms\` = CASE
      WHEN excluded.\`inference_id\` <> '' AND excluded.\`inference_id_at_ms\` >= \`inference_id_at_ms\`
      THEN excluded.\`inference_id_at_ms\` ELSE \`inference_id_at_ms\` END;
END;`,
  },
} as const satisfies Record<string, DatabaseTrigger>;

export type TriggerName = keyof typeof TRIGGERS;
