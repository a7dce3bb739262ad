/** The Worker's budgets and schedule, from its modules (loaded at run time: their types need Env) and wrangler.toml. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CONVERSION_CHUNK_SNAPSHOTS } from "../src/store/conversion";
import { DELETE_CHUNK_ROWS } from "../src/store/deletion";
import { MAX_BLOCKS_PER_PAGE } from "../src/store/snapshot-queries";
import { ROOT } from "../tools/wrangler-dev";

const [ADMIN, SCHEDULED] = ["../src/routes/admin/admin.handlers", "../src/scheduled"];
export async function workerLimits() {
  const { DELETE_BATCHES_PER_REQUEST } = (await import(ADMIN)) as { DELETE_BATCHES_PER_REQUEST: number };
  const { DELETION_BATCHES_PER_RUN, CONVERSION_CHUNKS_PER_RUN } = (await import(SCHEDULED)) as Record<string, number>;
  const cron = readFileSync(join(ROOT, "wrangler.toml"), "utf8").match(/crons\s*=\s*\[\s*"([^"]+)"/)?.[1] ?? "unknown";
  const every = cron.match(/^\*\/(\d+) \* \* \* \*$/);
  return {
    /** Batches one DELETE request (admin.handlers.ts) and one scheduled run (scheduled.ts) may use; rows per deletion statement. */
    ...{ deleteBatchesPerRequest: DELETE_BATCHES_PER_REQUEST, deletionBatchesPerRun: DELETION_BATCHES_PER_RUN! },
    deleteChunkRows: DELETE_CHUNK_ROWS,
    /** Legacy snapshots per conversion chunk, chunks per run; blocks a page with payloads returns at most. */
    ...{ conversionChunkSnapshots: CONVERSION_CHUNK_SNAPSHOTS, conversionChunksPerRun: CONVERSION_CHUNKS_PER_RUN! },
    maxBlocksPerPage: MAX_BLOCKS_PER_PAGE,
    /** The Cron Trigger (wrangler.toml) and its period in minutes, when it is a plain "every n minutes". */
    ...{ cron, cronMinutes: every ? Number(every[1]) : cron === "* * * * *" ? 1 : null },
  };
}

export type WorkerLimits = Awaited<ReturnType<typeof workerLimits>>;
