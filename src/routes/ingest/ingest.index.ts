import { createRouter } from "../../http/app";
import { writeRoutesCors } from "../../http/cors";
import * as handlers from "./ingest.handlers";
import * as routes from "./ingest.routes";

const router = createRouter();

// CORS preflights: answered (or refused) before any token check.
for (const path of ["/api/turns", "/api/turns/batch", "/api/conversations/:conv_id/runtime"]) {
  router.options(path, writeRoutesCors);
}

router
  .openapi(routes.postTurnRoute, handlers.postTurn)
  .openapi(routes.postTurnBatchRoute, handlers.postTurnBatch)
  .openapi(routes.putRuntimeRoute, handlers.putRuntime);

export default router;
