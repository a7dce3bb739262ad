import { createRouter } from "../../http/app";
import * as handlers from "./debug.handlers";
import * as routes from "./debug.routes";

const router = createRouter()
  .openapi(routes.listConversationsRoute, handlers.listConversations)
  .openapi(routes.getConversationRoute, handlers.getConversation)
  .openapi(routes.listSnapshotsRoute, handlers.listSnapshots)
  .openapi(routes.getTurnRoute, handlers.getTurn);

export default router;
