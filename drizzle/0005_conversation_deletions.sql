CREATE TABLE `conversation_deletions` (
	`conv_id` text PRIMARY KEY NOT NULL,
	`requested_at_ms` integer NOT NULL,
	`reason` text NOT NULL
);
