/**
 * BENCH-ONLY — never imported by the production Worker (src/index.ts); served only by the bench
 * entry bench/worker.ts.
 *
 * POST /api/bench/baseline: the cheapest write this Worker can make — one single-row D1 insert —
 * behind the same token, body and session middleware as POST /api/turns, so `npm run bench` can
 * compare the snapshot write path with it in the same Worker and the same run. Not in the OpenAPI
 * document.
 */
import { requireIngestToken } from "../src/http/auth";
import { createRouter } from "../src/http/app";
import { writeSession } from "../src/http/sessions";
import { limitBody, requireJsonBody } from "../src/http/json-body";
import { insertBaselineRow } from "./baseline-insert";

export const BENCH_BASELINE_PATH = "/api/bench/baseline";

const router = createRouter();

router.post(BENCH_BASELINE_PATH, requireIngestToken, limitBody, requireJsonBody, writeSession, async (c) => {
  const convId = `bench-baseline-${crypto.randomUUID()}`;
  const rowsWritten = await insertBaselineRow(c.var.databases.directory, convId, Date.now());
  return c.json({ conv_id: convId, rows_written: rowsWritten }, 201);
});

export default router;
