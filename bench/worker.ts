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
import { type D1Recorder, recordingD1 } from "./counting-d1";

const BENCH_BASELINE_PATH = "/api/bench/baseline";
/** The throughput bench's "no tip memory" variant: the isolate forgets stored tips (src/store/known-paths.ts) first. */
const FORGET_TIPS_HEADER = "x-bench-forget-tips";
const COUNT_D1_HEADER = "x-bench-count-d1";
const baseline = createRouter();
baseline.post(BENCH_BASELINE_PATH, requireIngestToken, limitBody, requireJsonBody, writeSession, async (c) => {
  const convId = `bench-baseline-${crypto.randomUUID()}`;
  const rowsWritten = await insertBaselineRow(c.var.databases.directory, convId, Date.now());
  return c.json({ conv_id: convId, rows_written: rowsWritten }, 201);
});
const bench = createApp();
bench.route("/", baseline);
/** The many-databases bench's requests: each D1 session recorded (recordingD1), round trips per binding in a response header. */
async function countD1(request: Request, env: Env, ctx: ExecutionContext) {
  const recorders: Array<[string, D1Recorder]> = [];
  const wrap = (binding: string, db: D1Database) => ({
    withSession: (constraint?: string) => {
      const session = db.withSession(constraint);
      recorders.push([binding, recordingD1(session)]);
      return { ...recorders.at(-1)![1].db, getBookmark: () => session.getBookmark() };
    },
  });
  const entries = Object.entries(env).map(([k, v]) => [k, typeof v?.withSession === "function" ? wrap(k, v) : v]);
  const answer = await worker.fetch(request, Object.fromEntries(entries) as Env, ctx);
  const trips: Record<string, number> = {};
  for (const [binding, recorder] of recorders) trips[binding] = (trips[binding] ?? 0) + recorder.roundTrips;
  const res = new Response(answer.body, answer);
  res.headers.set("x-bench-d1-calls", JSON.stringify(trips));
  return res;
}

export default {
  fetch(request, env, ctx) {
    if (new URL(request.url).pathname === BENCH_BASELINE_PATH) return bench.fetch(request, env, ctx);
    if (request.headers.get(FORGET_TIPS_HEADER) === "1") forgetAllTips();
    return request.headers.get(COUNT_D1_HEADER) === "1" ? countD1(request, env, ctx) : worker.fetch(request, env, ctx);
  },
  scheduled: worker.scheduled,
} satisfies ExportedHandler<Env>;
