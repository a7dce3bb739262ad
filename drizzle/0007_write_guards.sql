CREATE TABLE `write_guards` (
	`refused` text NOT NULL
);
