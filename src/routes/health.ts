import { createRoute, type RouteHandler, z } from "@hono/zod-openapi";
import type { AppEnv } from "../http/bindings";
import { createRouter } from "../http/app";
import { databaseConfig } from "../http/database";
import { ApiError, errorResponse } from "../http/errors";
import { errorResponses } from "./schemas";
import { EXPECTED_MIGRATION, lastAppliedMigration, migrationNumber, waitingMaintenance } from "../store/health";
import { DIRECTORY_BINDING } from "../turn/placement";

export const getHealthRoute = createRoute({
  method: "get",
  path: "/healthz",
  operationId: "getHealth",
  security: [],
  tags: ["operations"],
  summary: "Every D1 database reachable and migrated at least as far as this Worker needs",
  description:
    "200 when every database (DB and each of CONVERSATION_DATABASES) answers and its last applied migration is the one this Worker was built with, or a newer one (migrations are additive, so a Worker being rolled back still works). 503 NOT_CONFIGURED, naming the databases, when any is unreachable, unmigrated, or behind: run `npm run db:migrate -- --remote` before deploying.",
  responses: {
    200: {
      description: "Healthy",
      content: {
        "application/json": {
          schema: z.object({
            ok: z.literal(true),
            schema: z.string().openapi({ description: "The last migration applied to DB" }),
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
                moves_unfinished: z
                  .number()
                  .int()
                  .openapi({ description: "Moves between databases not finished yet; the scheduled handler continues them" }),
              })
              .openapi({
                description: "Maintenance that failed and waits to be retried (the Worker's log says why), across every database",
              }),
            databases: z
              .array(z.object({ binding: z.string(), schema: z.string() }))
              .openapi({ description: "Each database, DB first: its binding and last applied migration" }),
          }),
        },
      },
    },
    ...errorResponses("NOT_CONFIGURED", "INTERNAL"),
  },
});

/** A database's last migration; why it cannot serve this Worker, if it cannot. */
async function schemaOf(db: D1Database, binding: string): Promise<{ schema: string } | { problem: string }> {
  try {
    const schema = await lastAppliedMigration(db);
    if (!schema) return { problem: `${binding} is reachable but no migration has been applied` };
    if (migrationNumber(schema) < migrationNumber(EXPECTED_MIGRATION)) return { problem: `${binding} is at migration ${schema}` };
    return { schema };
  } catch (error) {
    console.error(JSON.stringify({ level: "error", event: "healthz", database: binding, error: String(error) }));
    return { problem: `${binding} is not reachable` };
  }
}

export const getHealth: RouteHandler<typeof getHealthRoute, AppEnv> = async (c) => {
  const env = c.env as unknown as Record<string, D1Database>;
  let bindings: string[];
  try {
    bindings = [...new Set([DIRECTORY_BINDING, ...databaseConfig(c.env).conversation])];
  } catch (error) {
    if (error instanceof ApiError) return error.toResponse() as never;
    throw error;
  }
  const found = await Promise.all(bindings.map(async (binding) => ({ binding, ...(await schemaOf(env[binding]!, binding)) })));
  const problems = found.flatMap((f) => ("problem" in f ? [f.problem] : []));
  if (problems.length > 0) {
    return errorResponse(
      "NOT_CONFIGURED",
      `${problems.join("; ")}; this Worker needs ${EXPECTED_MIGRATION}: run npm run db:migrate (-- --remote when deployed)`,
    ) as never;
  }
  try {
    const waiting = await Promise.all(bindings.map((binding) => waitingMaintenance(env[binding]!, binding === DIRECTORY_BINDING)));
    const sum = (key: keyof (typeof waiting)[number]) => waiting.reduce((total, w) => total + w[key], 0);
    return c.json(
      {
        ok: true as const,
        schema: (found[0] as { schema: string }).schema,
        expected_schema: EXPECTED_MIGRATION,
        maintenance: { deletions_failing: sum("deletions"), conversions_failing: sum("conversions"), moves_unfinished: sum("moves") },
        databases: found.map((f) => ({ binding: f.binding, schema: (f as { schema: string }).schema })),
      },
      200,
    );
  } catch (error) {
    console.error(JSON.stringify({ level: "error", event: "healthz", error: String(error) }));
    return errorResponse("NOT_CONFIGURED", "D1 is not reachable") as never;
  }
};

const router = createRouter().openapi(getHealthRoute, getHealth);

export default router;
