import { createRouter } from "../../http/app";
import { writeRoutesCors } from "../../http/cors";
import * as handlers from "./resume.handlers";
import * as routes from "./resume.routes";

const base = createRouter();
// The CORS preflight a browser sends first (Authorization is not a simple header): no token needed.
base.options("/api/conversations/:conv_id/turns/latest", writeRoutesCors);

// The routes, chained: the router's type carries them (AppType, src/index.ts).
const router = base.openapi(routes.getLatestTurnRoute, handlers.getLatestTurn);

export default router;
