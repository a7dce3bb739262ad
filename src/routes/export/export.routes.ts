import { createRoute, z } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import { requireDebugToken } from "../../http/auth";
import type { AppEnv } from "../../http/bindings";
import { readSession } from "../../http/sessions";
import { requireDecodableUrl } from "../../http/path";
import { EXPORT_FORMAT_NAMES, EXPORT_FORMATS, type ExportFormat } from "../../turn/export-formats";
import { errorResponses, DEBUG_AUTH_ERRORS, SERVER_ERRORS } from "../schemas";

const formatsText = `${EXPORT_FORMAT_NAMES.slice(0, -1).join(", ")} or ${EXPORT_FORMAT_NAMES.at(-1)}`;

const exportMiddleware: MiddlewareHandler<AppEnv>[] = [requireDebugToken, requireDecodableUrl, readSession];

const documentSchema = (description: string) => ({ schema: z.string().openapi({ description }) });

export const exportConversationRoute = createRoute({
  method: "get",
  path: "/api/debug/conversations/{conv_id}/export",
  operationId: "exportConversation",
  tags: ["debug"],
  summary: "A conversation's snapshots as one file: JSON, JSON Lines, YAML or a Markdown transcript (streamed)",
  description:
    "Streamed page by page, oldest snapshot first (Markdown: each turn's newest snapshot, in turn creation order), as an attachment named turnstore-<conv id>.<ext>. Each JSON Lines record is an item of POST /api/turns/batch.",
  security: [{ debugToken: [] }],
  middleware: exportMiddleware,
  request: {
    params: z.object({
      conv_id: z
        .string()
        .min(1)
        .openapi({ param: { name: "conv_id", in: "path" } }),
    }),
    query: z.object({
      format: z
        .enum(EXPORT_FORMAT_NAMES as [ExportFormat, ...ExportFormat[]], { error: `format must be ${formatsText}` })
        .optional()
        .openapi({ description: `${formatsText} (default json)`, param: { name: "format", in: "query" } }),
      phase: z
        .string()
        .max(256, "phase must be at most 256 characters")
        .optional()
        .openapi({ description: "Only snapshots of this phase", param: { name: "phase", in: "query" } }),
    }),
  },
  responses: {
    200: {
      description: "The export, as an attachment (Content-Disposition)",
      content: {
        [EXPORT_FORMATS.json.contentType]: documentSchema('{"conv_id", "exported_at_ms", "snapshots": [batch items…]}'),
        [EXPORT_FORMATS.jsonl.contentType]: documentSchema("One snapshot per line, each an item of POST /api/turns/batch"),
        [EXPORT_FORMATS.yaml.contentType]: documentSchema("conv_id, exported_at_ms and the snapshots as YAML 1.2 (Go-safe)"),
        [EXPORT_FORMATS.markdown.contentType]: documentSchema("A transcript: each turn's newest snapshot, its blocks by role, its runtime"),
      },
      headers: z.object({
        "Content-Disposition": z
          .string()
          .openapi({ description: 'attachment; filename="turnstore-<conv id reduced to [A-Za-z0-9._-]>.<json|jsonl|yaml|md>"' }),
      }),
    },
    ...errorResponses(...DEBUG_AUTH_ERRORS, ...SERVER_ERRORS, "FORBIDDEN", "INVALID_CURSOR"),
  },
});
