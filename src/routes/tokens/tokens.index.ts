import { createRouter } from "../../http/app";
import * as handlers from "./tokens.handlers";
import * as routes from "./tokens.routes";

const router = createRouter().openapi(routes.mintConversationTokenRoute, handlers.mintConversationToken);

export default router;
