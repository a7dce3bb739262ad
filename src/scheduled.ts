/**
 * The Worker's scheduled handler (Cron Trigger in wrangler.toml): bounded maintenance per run, each
 * step resuming where the previous run stopped, and one JSON log line per run saying what it did.
 *
 *  1. finish deletions that were interrupted (store/deletion.ts);
 *  2. retention: delete conversations idle longer than RETENTION_DAYS (unset: keep everything),
 *     oldest activity first;
 *  3. convert the first release's snapshots to block paths (store/conversion.ts);
 *  4. collect blocks no path references any more (left while legacy snapshots were converted);
 *  5. OpenTelemetry ingestion: spans held longer than OTLP_HOLD_MS for ancestors that never came are
 *     recorded with the context that is known, or dropped (each logged) when it names no
 *     conversation; traces idle for OTLP_CONTEXT_MS are forgotten (src/otlp/recording.ts).
 *
 * Every step stops at its share of a per-run budget of D1 batches, so a run stays within the
 * invocation's limits whatever the backlog; the next run continues.
 * Locally: `wrangler dev --test-scheduled`, then GET /__scheduled; in tests, call scheduled().
 */
import { integerVar, maxClockSkewMs } from "./http/config";
import { expireHeldSpans, type OtlpMaintenance } from "./otlp/recording";
import { convertLegacySnapshots } from "./store/conversion";
import {
  collectUnreferencedBlocks,
  continueDeletion,
  idleConversations,
  pendingDeletions,
  startDeletion,
  type DeletionCounts,
} from "./store/deletion";

/** D1 batches one run may use for deletions (each a handful of statements of ≤ 1,000 rows). */
export const DELETION_BATCHES_PER_RUN = 20;
/** Conversion chunks per run: each is one read and one write batch. */
export const CONVERSION_CHUNKS_PER_RUN = 5;
/** Blocks collected per run. */
export const COLLECT_BLOCKS_PER_RUN = 1_000;

const DAY_MS = 86_400_000;

export interface MaintenanceReport {
  retention_days: number | null;
  deleted_conversations: string[];
  /** Deletions started but not finished this run (the next run continues them). */
  deletions_pending: number;
  deleted: DeletionCounts;
  converted_snapshots: number;
  conversion_remaining: boolean;
  collected_blocks: number;
  /** Held OTLP spans resolved on expiry or dropped, traces forgotten, spans still held. */
  otlp: OtlpMaintenance;
}

export async function runMaintenance(env: Env, nowMs = Date.now()): Promise<MaintenanceReport> {
  const db = env.DB;
  const retentionDays = integerVar(env, "RETENTION_DAYS", 0) || null;
  const report: MaintenanceReport = {
    retention_days: retentionDays,
    deleted_conversations: [],
    deletions_pending: 0,
    deleted: { turns: 0, snapshots: 0, block_nodes: 0, blocks: 0, membership: 0 },
    converted_snapshots: 0,
    conversion_remaining: false,
    collected_blocks: 0,
    otlp: { expired_recorded: 0, expired_dropped: 0, traces_forgotten: 0, held_spans: 0 },
  };
  let batches = DELETION_BATCHES_PER_RUN;
  const deleteOne = async (convId: string) => {
    const result = await continueDeletion(db, convId, batches);
    batches -= result.batches;
    for (const key of Object.keys(report.deleted) as Array<keyof DeletionCounts>) report.deleted[key] += result.deleted[key];
    if (result.complete) report.deleted_conversations.push(convId);
    else report.deletions_pending += 1;
  };

  // 1. Interrupted deletions first: their conversations already read 404.
  for (const convId of await pendingDeletions(db, DELETION_BATCHES_PER_RUN)) {
    if (batches <= 0) break;
    await deleteOne(convId);
  }
  // 2. Retention.
  if (retentionDays !== null && batches > 0) {
    for (const convId of await idleConversations(db, nowMs - retentionDays * DAY_MS, batches)) {
      if (batches <= 0) break;
      if (await startDeletion(db, convId, "retention", nowMs)) await deleteOne(convId);
    }
  }
  // 3. Conversion of legacy snapshots.
  for (let chunk = 0; chunk < CONVERSION_CHUNKS_PER_RUN; chunk++) {
    const result = await convertLegacySnapshots(db);
    report.converted_snapshots += result.converted;
    report.conversion_remaining = result.remaining;
    if (!result.remaining) break;
  }
  // 4. Unreferenced blocks (only once no legacy snapshot is left: collectUnreferencedBlocks checks).
  if (!report.conversion_remaining) report.collected_blocks = await collectUnreferencedBlocks(db, COLLECT_BLOCKS_PER_RUN);
  // 5. OTLP spans that waited too long for their ancestors (bounded: HELD_EXPIRY_PER_RUN spans).
  report.otlp = await expireHeldSpans(db, { nowMs, maxClockSkewMs: maxClockSkewMs(env) });
  return report;
}

export async function scheduled(controller: ScheduledController, env: Env): Promise<void> {
  const startedAt = Date.now();
  try {
    const report = await runMaintenance(env, startedAt);
    console.log(
      JSON.stringify({ level: "info", event: "maintenance", cron: controller.cron, ...report, duration_ms: Date.now() - startedAt }),
    );
  } catch (error) {
    console.error(
      JSON.stringify({
        level: "error",
        event: "maintenance",
        cron: controller.cron,
        error: String((error as Error)?.stack ?? error),
        duration_ms: Date.now() - startedAt,
      }),
    );
    throw error;
  }
}
