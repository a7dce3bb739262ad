/**
 * The Worker's scheduled handler (Cron Trigger in wrangler.toml): bounded maintenance per run, each
 * step resuming where the previous run stopped, and one JSON log line per run saying what it did.
 *
 *  1. finish deletions that were interrupted (store/deletion.ts);
 *  2. retention: delete conversations idle longer than RETENTION_DAYS (unset: keep everything),
 *     oldest activity first — each still idle when its deletion starts;
 *  3. convert the first release's snapshots to block paths (store/conversion.ts);
 *  4. collect blocks no path references any more (left while legacy snapshots were converted);
 *  5. purge deletion tombstones older than any conversation token can be.
 *  6. OpenTelemetry ingestion: spans held longer than OTLP_HOLD_MS for ancestors that never came are
 *     recorded with the context that is known, or dropped (each logged) when it names no
 *     conversation; traces idle for OTLP_CONTEXT_MS are forgotten (src/otlp/held-spans.ts).
 *  7. Moves between databases that stopped before they finished (a request that ran out of its
 *     budget or failed) continue where they stopped (store/moves.ts).
 *
 * Every step stops at its share of a per-run budget of D1 batches, so a run stays within the
 * invocation's limits whatever the backlog; the next run continues. One conversation whose deletion
 * or conversion fails (a malformed legacy row, say) is logged, counted and retried by later runs,
 * waiting longer after each failure; the others go on. /healthz reports what is waiting.
 * Locally: `wrangler dev --test-scheduled`, then GET /__scheduled; in tests, call scheduled().
 */
import { integerVar, maxClockSkewMs } from "./http/config";
import { clearConversionFailure, convertLegacySnapshots, nextUnconvertedConversation, recordConversionFailure } from "./store/conversion";
import { RequestDatabases } from "./http/database";
import { expireHeldSpans, type OtlpMaintenance } from "./otlp/held-spans";
import type { D1Handle } from "./store/d1";
import {
  collectUnreferencedBlocks,
  continueDeletion,
  type DeletionCounts,
  idleConversations,
  pendingDeletions,
  purgeTombstones,
  recordDeletionFailure,
  startDeletion,
} from "./store/deletion";
import { moveConversation, unfinishedMoves } from "./store/moves";
import { DIRECTORY_BINDING } from "./turn/placement";
import { MAX_TTL_SECONDS } from "./tokens/conversation-token";

/** D1 batches one run may use for deletions (each a handful of statements of ≤ 1,000 rows). */
export const DELETION_BATCHES_PER_RUN = 20;
/** Conversion chunks per run: each is one read and one write batch. */
export const CONVERSION_CHUNKS_PER_RUN = 5;
/** Blocks collected per run. */
export const COLLECT_BLOCKS_PER_RUN = 1_000;
/** Unfinished moves continued per run, each with one call's statement budget. */
export const MOVES_PER_RUN = 2;
/** Tombstones purged per run. */
export const PURGE_TOMBSTONES_PER_RUN = 1_000;

const DAY_MS = 86_400_000;

/** How long a failing step waits before its next try: 10 minutes, doubling, at most a day. */
export function retryDelayMs(failures: number): number {
  return Math.min(DAY_MS, 600_000 * 2 ** Math.max(0, failures));
}

/**
 * A step that failed, and when it is tried again: for one conversation (deletion, retention,
 * conversion, move), or for a whole database (the others; conv_id ''), which the next run retries.
 */
export interface MaintenanceFailure {
  step: "deletion" | "retention" | "conversion" | "move" | "collect_blocks" | "purge_tombstones" | "otlp_expiry" | "database";
  /** The database of the conversation. */
  database: string;
  conv_id: string;
  error: string;
  retry_at_ms: number;
}

export interface MaintenanceReport {
  retention_days: number | null;
  deleted_conversations: string[];
  /** Deletions started but not finished this run (the next run continues them). */
  deletions_pending: number;
  deleted: DeletionCounts;
  converted_snapshots: number;
  conversion_remaining: boolean;
  collected_blocks: number;
  tombstones_purged: number;
  failures: MaintenanceFailure[];
  /** Held OTLP spans resolved on expiry or dropped, traces forgotten, spans still held. */
  otlp: OtlpMaintenance;
  /** Unfinished moves this run continued, and whether each is done now. */
  moves: Array<{ conv_id: string; to: string; complete: boolean }>;
}

const message = (error: unknown) => String((error as Error)?.message ?? error).split("\n")[0]!;

export async function runMaintenance(env: Env, nowMs = Date.now()): Promise<MaintenanceReport> {
  const retentionDays = integerVar(env, "RETENTION_DAYS", 0) || null;
  const report: MaintenanceReport = {
    retention_days: retentionDays,
    deleted_conversations: [],
    deletions_pending: 0,
    deleted: { turns: 0, snapshots: 0, block_nodes: 0, blocks: 0, membership: 0 },
    converted_snapshots: 0,
    conversion_remaining: false,
    collected_blocks: 0,
    tombstones_purged: 0,
    failures: [],
    otlp: { expired_recorded: 0, expired_dropped: 0, traces_forgotten: 0, held_spans: 0 },
    moves: [],
  };
  const budget = { batches: DELETION_BATCHES_PER_RUN };
  // Steps 1–5 in every database that holds conversations (CONTRACT §6.4), sharing the run's budget.
  const databases = new RequestDatabases(env, "write", new Map());
  // A step that throws is logged and counted; the steps after it, and the other databases, go on.
  const isolated = async (step: MaintenanceFailure["step"], database: string, run: () => Promise<void>) => {
    try {
      await run();
    } catch (error) {
      noteFailure(report, { step, database, conv_id: "", error: message(error), retry_at_ms: nowMs });
    }
  };
  for (const binding of databases.config.conversation) {
    const db = (env as unknown as Record<string, D1Database>)[binding]!;
    await isolated("database", binding, () => maintainDatabase(db, binding, env, nowMs, retentionDays, budget, report, isolated));
  }
  // 6. OTLP spans that waited too long for their ancestors (bounded: HELD_EXPIRY_PER_RUN spans).
  await isolated("otlp_expiry", DIRECTORY_BINDING, async () => {
    report.otlp = await expireHeldSpans(databases.recording(), { nowMs, maxClockSkewMs: maxClockSkewMs(env) });
  });
  // 7. Moves left unfinished; one that fails is logged and tried again by the next run.
  await isolated("move", DIRECTORY_BINDING, async () => {
    for (const { convId, to } of await unfinishedMoves(databases.directory, MOVES_PER_RUN)) {
      try {
        const moved = await moveConversation((binding) => databases.session(binding), convId, to, { nowMs });
        report.moves.push({ conv_id: convId, to, complete: moved?.complete ?? true });
      } catch (error) {
        noteFailure(report, { step: "move", database: to, conv_id: convId, error: message(error), retry_at_ms: nowMs });
      }
    }
  });
  return report;
}

async function maintainDatabase(
  db: D1Handle,
  binding: string,
  env: Env,
  nowMs: number,
  retentionDays: number | null,
  budget: { batches: number },
  report: MaintenanceReport,
  isolated: (step: MaintenanceFailure["step"], database: string, run: () => Promise<void>) => Promise<void>,
): Promise<void> {
  const failed = async (step: MaintenanceFailure["step"], convId: string, error: unknown, failuresBefore: number) => {
    const failure = { step, database: binding, conv_id: convId, error: message(error), retry_at_ms: nowMs + retryDelayMs(failuresBefore) };
    noteFailure(report, failure);
    await (step === "deletion" ? recordDeletionFailure : recordConversionFailure)(db, convId, failure.error, failure.retry_at_ms);
  };
  const deleteOne = async (convId: string, failuresBefore: number) => {
    try {
      const result = await continueDeletion(db, convId, budget.batches);
      budget.batches -= result.batches;
      for (const key of Object.keys(report.deleted) as Array<keyof DeletionCounts>) report.deleted[key] += result.deleted[key];
      if (result.complete) report.deleted_conversations.push(convId);
      else report.deletions_pending += 1;
    } catch (error) {
      budget.batches -= 1;
      await failed("deletion", convId, error, failuresBefore);
    }
  };

  // 1. Interrupted deletions first: their conversations already read 404.
  await isolated("deletion", binding, async () => {
    for (const { convId, failures } of await pendingDeletions(db, DELETION_BATCHES_PER_RUN, nowMs)) {
      if (budget.batches <= 0) break;
      await deleteOne(convId, failures);
    }
  });
  // 2. Retention; a conversation written to since it was listed is no longer idle, and is kept.
  if (retentionDays !== null && budget.batches > 0) {
    await isolated("retention", binding, () => retain(nowMs - retentionDays * DAY_MS));
  }
  async function retain(cutoff: number) {
    for (const convId of await idleConversations(db, cutoff, budget.batches)) {
      if (budget.batches <= 0) break;
      let started = false;
      try {
        started = await startDeletion(db, convId, "retention", nowMs, cutoff);
      } catch (error) {
        budget.batches -= 1;
        noteFailure(report, { step: "retention", database: binding, conv_id: convId, error: message(error), retry_at_ms: nowMs });
      }
      if (started) await deleteOne(convId, 0);
    }
  }
  // 3. Conversion of legacy snapshots; a conversation that fails is set aside, the others go on.
  const remaining = await convertSome(db, nowMs, report, (convId, error, failures) => failed("conversion", convId, error, failures));
  report.conversion_remaining ||= remaining;
  // 4. Unreferenced blocks (only once no legacy snapshot is left: collectUnreferencedBlocks checks).
  if (!remaining) {
    await isolated("collect_blocks", binding, async () => {
      report.collected_blocks += await collectUnreferencedBlocks(db, COLLECT_BLOCKS_PER_RUN);
    });
  }
  // 5. Tombstones no token can still need.
  await isolated("purge_tombstones", binding, async () => {
    const before = nowMs - MAX_TTL_SECONDS * 1000 - maxClockSkewMs(env);
    report.tombstones_purged += await purgeTombstones(db, before, PURGE_TOMBSTONES_PER_RUN);
  });
}

/** Step 3: chunks of legacy snapshots converted; true while some are left. */
async function convertSome(
  db: D1Handle,
  nowMs: number,
  report: MaintenanceReport,
  failed: (convId: string, error: unknown, failuresBefore: number) => Promise<void>,
): Promise<boolean> {
  let remaining = false;
  for (let chunk = 0; chunk < CONVERSION_CHUNKS_PER_RUN; chunk++) {
    try {
      const result = await convertLegacySnapshots(db, { nowMs });
      report.converted_snapshots += result.converted;
      remaining = result.remaining;
      if (!result.remaining) break;
    } catch {
      // Which conversation? The chunk's first, converted alone: it fails again, or it was another.
      const convId = await nextUnconvertedConversation(db, nowMs);
      if (convId === null) break;
      try {
        report.converted_snapshots += (await convertLegacySnapshots(db, { convId })).converted;
        await clearConversionFailure(db, convId);
      } catch (error) {
        await failed(convId, error, await conversionFailures(db, convId));
      }
      remaining = true;
    }
  }
  return remaining;
}

/** A failed step: in the run's report and its own error line. */
function noteFailure(report: MaintenanceReport, failure: MaintenanceFailure): void {
  report.failures.push(failure);
  console.error(JSON.stringify({ level: "error", event: "maintenance_step_failed", ...failure }));
}

async function conversionFailures(db: D1Handle, convId: string): Promise<number> {
  const row = await db.prepare("SELECT failures FROM conversion_failures WHERE conv_id = ?1").bind(convId).first<{ failures: number }>();
  return row?.failures ?? 0;
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
