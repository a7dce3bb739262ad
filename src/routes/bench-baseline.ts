/**
 * Benchmark-only baseline for `npm run bench`: the cheapest write this Worker can make — one
 * single-row D1 insert — behind the same token, body and session middleware as POST /api/turns, so
 * the snapshot write path can be compared with it in the same Worker and the same run.
 *
 * Off unless the var BENCHMARK_BASELINE is "on" (the bench passes it to `wrangler dev`; nothing sets
 * it in wrangler.toml): then every method answers 404 with the error envelope, exactly as an unknown
 * path does. Not in the OpenAPI document.
 */
import type { MiddlewareHandler } from "hono";
import { requireIngestToken } from "../http/auth";
import { createRouter } from "../http/app";
import type { AppEnv } from "../http/bindings";
import { writeSession } from "../http/database";
import { ApiError } from "../http/errors";
import { limitBody, requireJsonBody } from "../http/json-body";
import { insertBaselineRow } from "../store/benchmark";

export const BENCH_BASELINE_PATH = "/api/bench/baseline";

/** Not a generated binding on purpose: production never declares it. */
const baselineEnabled: MiddlewareHandler<AppEnv> = async (c, next) => {
  const vars = c.env as unknown as Record<string, string | undefined>;
  if (vars.BENCHMARK_BASELINE !== "on") throw new ApiError("NOT_FOUND", `no route for ${c.req.method} ${c.req.path}`);
  await next();
};

const router = createRouter();

router.all(BENCH_BASELINE_PATH, baselineEnabled);
router.post(BENCH_BASELINE_PATH, requireIngestToken, limitBody, requireJsonBody, writeSession, async (c) => {
  const convId = `bench-baseline-${crypto.randomUUID()}`;
  const rowsWritten = await insertBaselineRow(c.var.db, convId, Date.now());
  return c.json({ conv_id: convId, rows_written: rowsWritten }, 201);
});

export default router;
