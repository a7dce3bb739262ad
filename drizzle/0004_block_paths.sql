CREATE TABLE `block_nodes` (
	`conv_id` text NOT NULL,
	`chain` text NOT NULL,
	`parent_chain` text NOT NULL,
	`depth` integer NOT NULL,
	`block_id` text NOT NULL,
	`content_hash` text NOT NULL,
	`extra_json` text DEFAULT '' NOT NULL,
	PRIMARY KEY(`conv_id`, `chain`)
) WITHOUT ROWID;
--> statement-breakpoint
ALTER TABLE `blocks` ADD `ref_count` integer;--> statement-breakpoint
CREATE INDEX `blocks_unreferenced` ON `blocks` (`block_id`,`content_hash`) WHERE ref_count = 0;--> statement-breakpoint
ALTER TABLE `turn_snapshots` ADD `tip_chain` text;--> statement-breakpoint
ALTER TABLE `turn_snapshots` ADD `block_count` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE INDEX `turn_snapshots_unconverted` ON `turn_snapshots` (`conv_id`,`id`) WHERE tip_chain IS NULL;