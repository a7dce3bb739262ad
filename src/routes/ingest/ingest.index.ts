import { createRouter } from "../../http/app";
import { writeRoutesCors } from "../../http/cors";
import * as handlers from "./ingest.handlers";
import * as routes from "./ingest.routes";

const base = createRouter();
// CORS preflights: answered (or refused) before any token check.
base.options("/api/turns", writeRoutesCors);
base.options("/api/turns/batch", writeRoutesCors);
base.options("/api/conversations/:conv_id/runtime", writeRoutesCors);

// The routes, chained: the router's type carries them (AppType, src/index.ts).
const router = base
  .openapi(routes.postSnapshotRoute, handlers.postSnapshot)
  .openapi(routes.postSnapshotBatchRoute, handlers.postSnapshotBatch)
  .openapi(routes.switchRuntimeRoute, handlers.switchRuntime);

export default router;
