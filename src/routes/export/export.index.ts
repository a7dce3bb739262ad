import { createRouter } from "../../http/app";
import * as handlers from "./export.handlers";
import * as routes from "./export.routes";

const router = createRouter().openapi(routes.exportConversationRoute, handlers.exportConversation);

export default router;
