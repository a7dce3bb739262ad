-- A turn's creation time is its oldest snapshot's: a snapshot older than its turn moves
-- turns.turn_created_at_ms back, whoever inserts it (the Worker's writes, the import tool). Until
-- this release the roll-up's upsert set the column on every snapshot, and D1 billed an index entry
-- of turns_by_conv_created each time; the trigger writes only when the time actually moves back.
-- Hand-written (drizzle-kit cannot express triggers; `drizzle-kit generate --custom`). IF NOT
-- EXISTS: running it again changes nothing. No data is touched when it is applied.
CREATE TRIGGER IF NOT EXISTS `turn_snapshots_lower_turn_created`
AFTER INSERT ON `turn_snapshots`
BEGIN
  UPDATE `turns` SET `turn_created_at_ms` = NEW.`created_at_ms`
  WHERE `conv_id` = NEW.`conv_id` AND `session_id` = NEW.`session_id` AND `turn_id` = NEW.`turn_id`
    AND `turn_created_at_ms` > NEW.`created_at_ms`;
END;
