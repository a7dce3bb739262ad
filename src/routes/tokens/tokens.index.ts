import { createRouter } from "../../http/app";
import * as handlers from "./tokens.handlers";
import * as routes from "./tokens.routes";

const router = createRouter().openapi(routes.mintTokenRoute, handlers.mintToken);

export default router;
