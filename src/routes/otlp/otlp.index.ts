import { createRouter } from "../../http/app";
import { writeRoutesCors } from "../../http/cors";
import { logWriteRequests } from "../../http/write-log";
import * as handlers from "./otlp.handlers";
import * as routes from "./otlp.routes";

const base = createRouter();
// One log line per export, like the writes under /api/ (createApp logs those).
base.use("/v1/traces", logWriteRequests);
// CORS preflights (a browser OTel exporter): answered (or refused) before any token check.
base.options("/v1/traces", writeRoutesCors);

// The routes, chained: the router's type carries them (AppType, src/index.ts).
const router = base.openapi(routes.exportTracesRoute, handlers.exportTraces);

export default router;
