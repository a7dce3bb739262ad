/**
 * BENCH-ONLY Worker entry — `npm run bench` starts `wrangler dev bench/worker.ts`; `wrangler
 * deploy` bundles src/index.ts (wrangler.toml `main`), which never imports anything under bench/,
 * so none of this is in the production bundle (the bench's bundle section checks that).
 *
 * Why it exists: the write-throughput benchmark compares POST /api/turns with a baseline, the
 * cheapest write this Worker can make (POST /api/bench/baseline, bench/baseline-route.ts: one
 * single-row insert behind the same middleware), in the same Worker and the same run. That route
 * has no place in production, so it lives in this entry: it serves the baseline path itself (on an
 * app built by the same createApp — request ids, error envelope, 404/405, write log) and hands every
 * other request, and the Cron Trigger, to the real Worker unchanged.
 */
import { createApp } from "../src/http/app";
import worker from "../src/index";
import { forgetAllTips } from "../src/store/known-paths";
import baseline, { BENCH_BASELINE_PATH } from "./baseline-route";

/**
 * The throughput bench's "no tip memory" variant sends this header: the isolate's memory of stored
 * tips (src/store/known-paths.ts) is cleared before the request, so a full post looks up its whole
 * history, as when another isolate wrote the previous snapshot. (bench/write-throughput.ts)
 */
const FORGET_TIPS_HEADER = "x-bench-forget-tips";

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
