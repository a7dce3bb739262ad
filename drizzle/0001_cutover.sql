CREATE TABLE `conversations` (
	`conv_id` text PRIMARY KEY NOT NULL,
	`session_id` text NOT NULL,
	`current_runtime_key` text DEFAULT '' NOT NULL,
	`current_runtime_at_ms` integer DEFAULT 0 NOT NULL,
	`created_at_ms` integer NOT NULL,
	`last_activity_ms` integer NOT NULL,
	`turn_count` integer DEFAULT 0 NOT NULL,
	`snapshot_count` integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE INDEX `conversations_by_activity` ON `conversations` ("last_activity_ms" DESC,`conv_id`);--> statement-breakpoint
CREATE TABLE `turn_snapshots` (
	`id` integer PRIMARY KEY NOT NULL,
	`conv_id` text NOT NULL,
	`session_id` text NOT NULL,
	`turn_id` text NOT NULL,
	`phase` text NOT NULL,
	`created_at_ms` integer NOT NULL,
	`runtime_key` text DEFAULT '' NOT NULL,
	`inference_id` text DEFAULT '' NOT NULL,
	`turn_metadata_json` text DEFAULT '{}' NOT NULL,
	`turn_data_json` text DEFAULT '{}' NOT NULL,
	`block_refs_json` text DEFAULT '[]' NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `turn_snapshots_identity` ON `turn_snapshots` (`conv_id`,`session_id`,`turn_id`,`created_at_ms`,`phase`);--> statement-breakpoint
CREATE INDEX `turn_snapshots_by_conv_created` ON `turn_snapshots` (`conv_id`,`created_at_ms`,`id`);--> statement-breakpoint
CREATE INDEX `turn_snapshots_by_session_created` ON `turn_snapshots` (`session_id`,`created_at_ms`,`id`);--> statement-breakpoint
CREATE INDEX `turn_snapshots_by_conv_phase_created` ON `turn_snapshots` (`conv_id`,`phase`,`created_at_ms`,`id`);--> statement-breakpoint
CREATE INDEX `turn_snapshots_by_session_phase_created` ON `turn_snapshots` (`session_id`,`phase`,`created_at_ms`,`id`);--> statement-breakpoint
CREATE INDEX `turn_snapshots_by_conv_runtime_created` ON `turn_snapshots` (`conv_id`,`runtime_key`,`created_at_ms`,`id`);--> statement-breakpoint
CREATE INDEX `turn_snapshots_by_conv_inference_created` ON `turn_snapshots` (`conv_id`,`inference_id`,`created_at_ms`,`id`);--> statement-breakpoint
ALTER TABLE `turns` ADD `runtime_key` text DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE `turns` ADD `inference_id` text DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE `turns` ADD `runtime_key_at_ms` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `turns` ADD `inference_id_at_ms` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE INDEX `turns_by_conv_runtime_updated` ON `turns` (`conv_id`,`runtime_key`,"updated_at_ms" DESC);--> statement-breakpoint
CREATE INDEX `turns_by_conv_inference_updated` ON `turns` (`conv_id`,`inference_id`,"updated_at_ms" DESC);--> statement-breakpoint
CREATE INDEX `turns_by_conv_created` ON `turns` (`conv_id`,`turn_created_at_ms`,`turn_id`);