/**
 * The Worker's scheduled handler (Cron Trigger in wrangler.toml): bounded maintenance per run, each
 * step resuming where the previous run stopped, and one JSON log line per run saying what it did.
 *
 *  1. convert legacy snapshots to block paths (store/conversion.ts), a few chunks per run.
 *
 * Locally: `wrangler dev --test-scheduled`, then GET /__scheduled; in tests, call scheduled().
 */
import { convertLegacySnapshots } from "./store/conversion";

/** Conversion chunks per run: each is one read and one write batch (D1 counts their statements). */
export const CONVERSION_CHUNKS_PER_RUN = 5;

export interface MaintenanceReport {
  converted_snapshots: number;
  conversion_remaining: boolean;
}

export async function runMaintenance(env: Env): Promise<MaintenanceReport> {
  const report: MaintenanceReport = { converted_snapshots: 0, conversion_remaining: false };
  for (let chunk = 0; chunk < CONVERSION_CHUNKS_PER_RUN; chunk++) {
    const result = await convertLegacySnapshots(env.DB);
    report.converted_snapshots += result.converted;
    report.conversion_remaining = result.remaining;
    if (!result.remaining) break;
  }
  return report;
}

export async function scheduled(controller: ScheduledController, env: Env): Promise<void> {
  const startedAt = Date.now();
  try {
    const report = await runMaintenance(env);
    console.log(JSON.stringify({ level: "info", event: "maintenance", cron: controller.cron, ...report, duration_ms: Date.now() - startedAt }));
  } catch (error) {
    console.error(JSON.stringify({ level: "error", event: "maintenance", cron: controller.cron, error: String((error as Error)?.stack ?? error), duration_ms: Date.now() - startedAt }));
    throw error;
  }
}
