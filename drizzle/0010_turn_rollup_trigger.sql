-- The turn roll-up (CONTRACT §3) happens as a snapshot is inserted: a turn's runtime_key and
-- inference_id are those of its newest snapshot (by created_at_ms, not arrival) that has one, its
-- metadata and data those of its newest snapshot; a snapshot never touches another turn's row.
-- Until this release the Worker sent this upsert as a statement of its own in every write batch;
-- as a trigger it runs in the snapshot's INSERT, whoever writes it, and the batch is one statement
-- shorter. turn_created_at_ms is not in the update: turn_snapshots_lower_turn_created (0009) moves
-- it back, only when an older snapshot arrives (an index entry D1 bills only then).
-- Snapshots with block_refs_json instead of a path (tip_chain NULL) come only from the legacy
-- backfill, which builds their turns from the legacy turns table itself: they are left out.
-- Hand-written (drizzle-kit cannot express triggers; `drizzle-kit generate --custom`). IF NOT
-- EXISTS: running it again changes nothing. No data is touched when it is applied.
CREATE TRIGGER IF NOT EXISTS `turn_snapshots_roll_up_turn`
AFTER INSERT ON `turn_snapshots`
WHEN NEW.`tip_chain` IS NOT NULL
BEGIN
  INSERT INTO `turns` (`conv_id`, `session_id`, `turn_id`, `turn_created_at_ms`, `turn_metadata_json`, `turn_data_json`,
    `updated_at_ms`, `runtime_key`, `inference_id`, `runtime_key_at_ms`, `inference_id_at_ms`)
  VALUES (NEW.`conv_id`, NEW.`session_id`, NEW.`turn_id`, NEW.`created_at_ms`, NEW.`turn_metadata_json`, NEW.`turn_data_json`,
    NEW.`created_at_ms`, NEW.`runtime_key`, NEW.`inference_id`,
    CASE WHEN NEW.`runtime_key` <> '' THEN NEW.`created_at_ms` ELSE 0 END,
    CASE WHEN NEW.`inference_id` <> '' THEN NEW.`created_at_ms` ELSE 0 END)
  ON CONFLICT (`conv_id`, `session_id`, `turn_id`) DO UPDATE SET
    `turn_metadata_json` = CASE WHEN excluded.`updated_at_ms` >= `updated_at_ms` THEN excluded.`turn_metadata_json` ELSE `turn_metadata_json` END,
    `turn_data_json` = CASE WHEN excluded.`updated_at_ms` >= `updated_at_ms` THEN excluded.`turn_data_json` ELSE `turn_data_json` END,
    `updated_at_ms` = max(`updated_at_ms`, excluded.`updated_at_ms`),
    `runtime_key` = CASE
      WHEN excluded.`runtime_key` <> '' AND excluded.`runtime_key_at_ms` >= `runtime_key_at_ms`
      THEN excluded.`runtime_key` ELSE `runtime_key` END,
    `runtime_key_at_ms` = CASE
      WHEN excluded.`runtime_key` <> '' AND excluded.`runtime_key_at_ms` >= `runtime_key_at_ms`
      THEN excluded.`runtime_key_at_ms` ELSE `runtime_key_at_ms` END,
    `inference_id` = CASE
      WHEN excluded.`inference_id` <> '' AND excluded.`inference_id_at_ms` >= `inference_id_at_ms`
      THEN excluded.`inference_id` ELSE `inference_id` END,
    `inference_id_at_ms` = CASE
      WHEN excluded.`inference_id` <> '' AND excluded.`inference_id_at_ms` >= `inference_id_at_ms`
      THEN excluded.`inference_id_at_ms` ELSE `inference_id_at_ms` END;
END;
