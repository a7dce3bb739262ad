import { createRouter } from "../../http/app";
import { writeRoutesCors } from "../../http/cors";
import * as handlers from "./resume.handlers";
import * as routes from "./resume.routes";

const router = createRouter();

// The CORS preflight a browser sends first (Authorization is not a simple header): no token needed.
router.options("/api/conversations/:conv_id/turns/latest", writeRoutesCors);

router.openapi(routes.getLatestTurnRoute, handlers.getLatestTurn);

export default router;
