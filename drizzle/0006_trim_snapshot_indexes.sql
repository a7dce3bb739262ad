DROP INDEX IF EXISTS `turn_snapshots_by_session_phase_created`;--> statement-breakpoint
DROP INDEX IF EXISTS `turn_snapshots_by_conv_runtime_created`;--> statement-breakpoint
DROP INDEX IF EXISTS `turn_snapshots_by_conv_inference_created`;