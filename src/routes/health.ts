import { createRoute, z } from "@hono/zod-openapi";
import { createRouter } from "../http/app";
import { errorResponse } from "../http/errors";
import { errorResponses } from "./schemas";
import { lastAppliedMigration } from "../store/health";

const healthRoute = createRoute({
  method: "get",
  path: "/healthz",
  operationId: "getHealth",
  security: [],
  tags: ["operations"],
  summary: "D1 reachable, and the last applied migration",
  responses: {
    200: {
      description: "Healthy",
      content: { "application/json": { schema: z.object({ ok: z.literal(true), schema: z.string() }) } },
    },
    ...errorResponses(503),
  },
});

const router = createRouter().openapi(healthRoute, async (c) => {
  try {
    const schema = await lastAppliedMigration(c.env.DB);
    if (!schema) return errorResponse("NOT_CONFIGURED", "D1 is reachable but no migration has been applied; run npm run db:migrate") as never;
    return c.json({ ok: true as const, schema }, 200);
  } catch (error) {
    console.error(JSON.stringify({ level: "error", event: "healthz", error: String(error) }));
    return errorResponse("NOT_CONFIGURED", "D1 is not reachable") as never;
  }
});

export default router;
