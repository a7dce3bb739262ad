import { createRoute, z } from "@hono/zod-openapi";
import { createRouter } from "../http/app";
import { errorResponse } from "../http/errors";
import { errorResponses } from "./schemas";
import { EXPECTED_MIGRATION, lastAppliedMigration, migrationNumber, waitingMaintenance } from "../store/health";

const healthRoute = createRoute({
  method: "get",
  path: "/healthz",
  operationId: "getHealth",
  security: [],
  tags: ["operations"],
  summary: "D1 reachable and migrated at least as far as this Worker needs",
  description:
    "200 when D1 answers and its last applied migration is the one this Worker was built with, or a newer one (migrations are additive, so a Worker being rolled back still works). 503 NOT_CONFIGURED when D1 is unreachable, unmigrated, or behind: run `wrangler d1 migrations apply DB` before deploying.",
  responses: {
    200: {
      description: "Healthy",
      content: {
        "application/json": {
          schema: z.object({
            ok: z.literal(true),
            schema: z.string().openapi({ description: "The last migration applied to D1" }),
            expected_schema: z.string().openapi({ description: "The newest migration this Worker was built with" }),
            maintenance: z
              .object({
                deletions_failing: z
                  .number()
                  .int()
                  .openapi({ description: "Deletions whose scheduled continuation failed; retried later" }),
                conversions_failing: z
                  .number()
                  .int()
                  .openapi({ description: "Conversations whose legacy snapshots failed to convert; retried later" }),
              })
              .openapi({ description: "Maintenance that failed and waits to be retried (the Worker's log says why)" }),
          }),
        },
      },
    },
    ...errorResponses(503),
  },
});

const router = createRouter().openapi(healthRoute, async (c) => {
  try {
    const schema = await lastAppliedMigration(c.env.DB);
    if (!schema)
      return errorResponse("NOT_CONFIGURED", "D1 is reachable but no migration has been applied; run npm run db:migrate") as never;
    if (migrationNumber(schema) < migrationNumber(EXPECTED_MIGRATION)) {
      return errorResponse(
        "NOT_CONFIGURED",
        `D1 is at migration ${schema}; this Worker needs ${EXPECTED_MIGRATION}: run wrangler d1 migrations apply DB`,
      ) as never;
    }
    const waiting = await waitingMaintenance(c.env.DB);
    return c.json(
      {
        ok: true as const,
        schema,
        expected_schema: EXPECTED_MIGRATION,
        maintenance: { deletions_failing: waiting.deletions, conversions_failing: waiting.conversions },
      },
      200,
    );
  } catch (error) {
    console.error(JSON.stringify({ level: "error", event: "healthz", error: String(error) }));
    return errorResponse("NOT_CONFIGURED", "D1 is not reachable") as never;
  }
});

export default router;
