-- Baseline: the pre-cutover layout (turns without runtime_key / inference_id, blocks,
-- turn_block_membership). IF NOT EXISTS so a legacy database loaded as-is, with no
-- d1_migrations table, passes through it untouched.
CREATE TABLE IF NOT EXISTS `blocks` (
	`block_id` text NOT NULL,
	`content_hash` text NOT NULL,
	`hash_algorithm` text NOT NULL,
	`kind` text NOT NULL,
	`role` text DEFAULT '' NOT NULL,
	`payload_json` text DEFAULT '{}' NOT NULL,
	`block_metadata_json` text DEFAULT '{}' NOT NULL,
	`first_seen_at_ms` integer NOT NULL,
	PRIMARY KEY(`block_id`, `content_hash`)
);
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS `turn_block_membership` (
	`conv_id` text NOT NULL,
	`session_id` text NOT NULL,
	`turn_id` text NOT NULL,
	`phase` text NOT NULL,
	`snapshot_created_at_ms` integer NOT NULL,
	`ordinal` integer NOT NULL,
	`block_id` text NOT NULL,
	`content_hash` text NOT NULL,
	PRIMARY KEY(`conv_id`, `session_id`, `turn_id`, `phase`, `snapshot_created_at_ms`, `ordinal`)
);
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS `turns` (
	`conv_id` text NOT NULL,
	`session_id` text NOT NULL,
	`turn_id` text NOT NULL,
	`turn_created_at_ms` integer NOT NULL,
	`turn_metadata_json` text DEFAULT '{}' NOT NULL,
	`turn_data_json` text DEFAULT '{}' NOT NULL,
	`updated_at_ms` integer NOT NULL,
	PRIMARY KEY(`conv_id`, `session_id`, `turn_id`)
);
