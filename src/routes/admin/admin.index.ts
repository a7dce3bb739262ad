import { createRouter } from "../../http/app";
import * as handlers from "./admin.handlers";
import * as routes from "./admin.routes";

const router = createRouter()
  .openapi(routes.deleteConversationRoute, handlers.deleteConversation)
  .openapi(routes.moveConversationRoute, handlers.moveConversation);

export default router;
