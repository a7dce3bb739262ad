-- Roll-ups maintained by the database as snapshots are inserted. Until this release the Worker
-- sent the conversation's pointer rule and the turn's roll-up as two statements of every write
-- batch; as triggers they run inside the snapshot's INSERT, whoever writes it, and the batch is two
-- statements shorter. Hand-written (drizzle-kit cannot express views' triggers;
-- `drizzle-kit generate --custom`). IF NOT EXISTS throughout: running it again changes nothing.
-- No data is touched when it is applied.

-- The conversation pointer rule (CONTRACT §3), in one place: inserting an event into this view
-- applies it to its conversation. The runtime of the newest event (by event time; ties go to the
-- later arrival) wins and an older event never moves it back; an event without a runtime never
-- clears it; the session is the newest event's. An event without a session_id applies only to an
-- existing conversation (keeping its session); no event recreates a conversation whose deletion is
-- under way. new_turns / new_snapshots are added to the conversation's counts. Used by the snapshot
-- trigger below, by runtime switches and by imported evidence (src/store/snapshot-writes.ts,
-- APPLY_CONVERSATION_EVENTS). The view itself never has rows.
CREATE VIEW IF NOT EXISTS `conversation_events` AS
  SELECT NULL AS `conv_id`, NULL AS `session_id`, NULL AS `at_ms`, NULL AS `runtime_key`, NULL AS `new_turns`, NULL AS `new_snapshots`
  WHERE 0;
--> statement-breakpoint
CREATE TRIGGER IF NOT EXISTS `conversation_events_apply`
INSTEAD OF INSERT ON `conversation_events`
BEGIN
  INSERT INTO `conversations` (`conv_id`, `session_id`, `current_runtime_key`, `current_runtime_at_ms`, `created_at_ms`,
    `last_activity_ms`, `turn_count`, `snapshot_count`)
  SELECT NEW.`conv_id`, coalesce(NEW.`session_id`, c.`session_id`), NEW.`runtime_key`,
    CASE WHEN NEW.`runtime_key` <> '' THEN NEW.`at_ms` ELSE 0 END,
    NEW.`at_ms`, NEW.`at_ms`, NEW.`new_turns`, NEW.`new_snapshots`
  FROM (SELECT 1) LEFT JOIN `conversations` AS c ON c.`conv_id` = NEW.`conv_id`
  WHERE (NEW.`session_id` IS NOT NULL OR c.`conv_id` IS NOT NULL)
    AND NOT EXISTS (SELECT 1 FROM `conversation_deletions` AS d WHERE d.`conv_id` = NEW.`conv_id`)
  ON CONFLICT (`conv_id`) DO UPDATE SET
    `session_id` = CASE WHEN excluded.`last_activity_ms` >= `last_activity_ms` THEN excluded.`session_id` ELSE `session_id` END,
    `current_runtime_key` = CASE
      WHEN excluded.`current_runtime_key` <> '' AND excluded.`current_runtime_at_ms` >= `current_runtime_at_ms`
      THEN excluded.`current_runtime_key` ELSE `current_runtime_key` END,
    `current_runtime_at_ms` = CASE
      WHEN excluded.`current_runtime_key` <> '' AND excluded.`current_runtime_at_ms` >= `current_runtime_at_ms`
      THEN excluded.`current_runtime_at_ms` ELSE `current_runtime_at_ms` END,
    `created_at_ms` = min(`created_at_ms`, excluded.`created_at_ms`),
    `last_activity_ms` = max(`last_activity_ms`, excluded.`last_activity_ms`),
    `turn_count` = `turn_count` + excluded.`turn_count`,
    `snapshot_count` = `snapshot_count` + excluded.`snapshot_count`;
END;
--> statement-breakpoint
-- A snapshot, as it is inserted, is an event of its conversation (counting its turn when the turn
-- is not stored yet) and rolls its turn up (CONTRACT §3): a turn's runtime_key and inference_id are
-- those of its newest snapshot (by created_at_ms, not arrival) that has one, its metadata and data
-- those of its newest snapshot; a snapshot never touches another turn's row. turn_created_at_ms is
-- not in the update: turn_snapshots_lower_turn_created (0009) moves it back, only when an older
-- snapshot arrives (an index entry D1 bills only then).
-- Snapshots with block_refs_json instead of a path (tip_chain NULL) come only from the legacy
-- backfill, which builds their turns and conversations from the legacy tables itself: left out.
CREATE TRIGGER IF NOT EXISTS `turn_snapshots_roll_up`
AFTER INSERT ON `turn_snapshots`
WHEN NEW.`tip_chain` IS NOT NULL
BEGIN
  INSERT INTO `conversation_events` (`conv_id`, `session_id`, `at_ms`, `runtime_key`, `new_turns`, `new_snapshots`)
  VALUES (NEW.`conv_id`, NEW.`session_id`, NEW.`created_at_ms`, NEW.`runtime_key`,
    NOT EXISTS (SELECT 1 FROM `turns` AS t
      WHERE t.`conv_id` = NEW.`conv_id` AND t.`session_id` = NEW.`session_id` AND t.`turn_id` = NEW.`turn_id`), 1);
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
