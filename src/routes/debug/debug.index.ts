import { createRouter } from "../../http/app";
import * as handlers from "./debug.handlers";
import * as routes from "./debug.routes";

const router = createRouter()
  .openapi(routes.listConversationsRoute, handlers.listConversationsHandler)
  .openapi(routes.getConversationRoute, handlers.getConversationHandler)
  .openapi(routes.listTurnsRoute, handlers.listTurnsHandler)
  .openapi(routes.getTurnRoute, handlers.getTurnHandler);

export default router;
