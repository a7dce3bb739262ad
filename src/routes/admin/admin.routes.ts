import { createRoute, z } from "@hono/zod-openapi";
import { requireAdminToken } from "../../http/auth";
import { writeSession } from "../../http/database";
import { requireDecodableUrl } from "../../http/path";
import { errorResponses, identifier } from "../schemas";

export const DeletionSchema = z
  .object({
    conv_id: z.string(),
    complete: z.boolean().openapi({
      description:
        "false when this request ran out of its batch budget: the conversation already reads 404, and the scheduled handler (or this request again) removes the rest",
    }),
    deleted: z.object({
      turns: z.number().int(),
      snapshots: z.number().int(),
      block_nodes: z.number().int(),
      blocks: z.number().int().openapi({ description: "Blocks no other conversation references" }),
      membership: z.number().int().openapi({ description: "Legacy turn_block_membership rows" }),
    }),
  })
  .openapi("ConversationDeletion");

export const deleteConversationRoute = createRoute({
  method: "delete",
  path: "/api/conversations/{conv_id}",
  operationId: "deleteConversation",
  tags: ["admin"],
  summary: "Delete a conversation: its turns, snapshots and every block no other conversation references",
  security: [{ adminToken: [] }],
  middleware: [requireAdminToken, requireDecodableUrl, writeSession],
  request: { params: z.object({ conv_id: identifier("conv_id").openapi({ param: { name: "conv_id", in: "path" } }) }) },
  responses: {
    200: { description: "Deleted (see complete)", content: { "application/json": { schema: DeletionSchema } } },
    ...errorResponses(400, 401, 403, 404, 500, 503),
  },
});
