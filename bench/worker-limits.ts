/**
 * The Worker's own budgets and schedule, read from the modules and the configuration that define
 * them, so the report's arithmetic (requests and scheduled runs a deletion needs, how long the
 * conversion of legacy snapshots takes) follows the code. The route and scheduled-handler modules
 * are loaded at run time: their types need the Worker's Env, which the Node typecheck does not have.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CONVERSION_CHUNK_SNAPSHOTS } from "../src/store/conversion";
import { DELETE_CHUNK_ROWS } from "../src/store/deletion";
import { MAX_BLOCKS_PER_PAGE } from "../src/store/snapshot-queries";
import { ROOT } from "../tools/wrangler-dev";

export async function workerLimits() {
  const admin = "../src/routes/admin/admin.handlers";
  const scheduled = "../src/scheduled";
  const { DELETE_BATCHES_PER_REQUEST } = (await import(admin)) as { DELETE_BATCHES_PER_REQUEST: number };
  const { DELETION_BATCHES_PER_RUN, CONVERSION_CHUNKS_PER_RUN } = (await import(scheduled)) as {
    DELETION_BATCHES_PER_RUN: number;
    CONVERSION_CHUNKS_PER_RUN: number;
  };
  const cron = readFileSync(join(ROOT, "wrangler.toml"), "utf8").match(/crons\s*=\s*\[\s*"([^"]+)"/)?.[1] ?? "unknown";
  const every = cron.match(/^\*\/(\d+) \* \* \* \*$/);
  return {
    /** Batches one DELETE request may use (src/routes/admin/admin.handlers.ts), and one scheduled run (src/scheduled.ts). */
    deleteBatchesPerRequest: DELETE_BATCHES_PER_REQUEST,
    deletionBatchesPerRun: DELETION_BATCHES_PER_RUN,
    /** Rows one deletion statement removes at most; legacy snapshots per conversion chunk, chunks per run. */
    deleteChunkRows: DELETE_CHUNK_ROWS,
    conversionChunkSnapshots: CONVERSION_CHUNK_SNAPSHOTS,
    conversionChunksPerRun: CONVERSION_CHUNKS_PER_RUN,
    /** Blocks a page with payloads returns at most (src/store/snapshot-queries.ts). */
    maxBlocksPerPage: MAX_BLOCKS_PER_PAGE,
    /** The Cron Trigger (wrangler.toml) and its period in minutes, when it is a plain "every n minutes". */
    cron,
    cronMinutes: every ? Number(every[1]) : cron === "* * * * *" ? 1 : null,
  };
}

export type WorkerLimits = Awaited<ReturnType<typeof workerLimits>>;
