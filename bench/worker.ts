/**
 * BENCH-ONLY Worker entry (`wrangler deploy` bundles src/index.ts, which imports nothing under bench/):
 * POST /api/bench/baseline, one single-row insert behind POST /api/turns's middleware; all else to the real Worker.
 */
import { createApp, createRouter } from "../src/http/app";
import { requireIngestToken } from "../src/http/auth";
import { limitBody, requireJsonBody } from "../src/http/json-body";
import { writeSession } from "../src/http/sessions";
import worker from "../src/index";
import { forgetAllTips } from "../src/store/known-paths";
import { insertBaselineRow } from "./baseline-insert";

const BENCH_BASELINE_PATH = "/api/bench/baseline";
/** The throughput bench's "no tip memory" variant: the isolate forgets stored tips (src/store/known-paths.ts) first. */
const FORGET_TIPS_HEADER = "x-bench-forget-tips";
const baseline = createRouter();
baseline.post(BENCH_BASELINE_PATH, requireIngestToken, limitBody, requireJsonBody, writeSession, async (c) => {
  const convId = `bench-baseline-${crypto.randomUUID()}`;
  const rowsWritten = await insertBaselineRow(c.var.databases.directory, convId, Date.now());
  return c.json({ conv_id: convId, rows_written: rowsWritten }, 201);
});
const bench = createApp();
bench.route("/", baseline);
export default {
  fetch(request, env, ctx) {
    if (new URL(request.url).pathname === BENCH_BASELINE_PATH) return bench.fetch(request, env, ctx);
    if (request.headers.get(FORGET_TIPS_HEADER) === "1") forgetAllTips();
    return worker.fetch(request, env, ctx);
  },
  scheduled: worker.scheduled,
} satisfies ExportedHandler<Env>;
