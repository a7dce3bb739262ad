import { createRoute, z } from "@hono/zod-openapi";
import { requireAdminToken } from "../../http/auth";
import { writeSession } from "../../http/sessions";
import { limitBody, requireJsonBody } from "../../http/json-body";
import { requireDecodableUrl } from "../../http/path";
import { BINDING } from "../../turn/placement";
import { errorResponses, identifier, ADMIN_AUTH_ERRORS, SERVER_ERRORS, JSON_BODY_ERRORS } from "../schemas";

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
    ...errorResponses(...ADMIN_AUTH_ERRORS, ...SERVER_ERRORS, "CONVERSATION_MOVING"),
  },
});

export const MoveRequestSchema = z
  .strictObject({
    to: z
      .string({ error: "to must be a D1 binding name, one CONVERSATION_DATABASES lists" })
      .regex(BINDING, "to must be a D1 binding name (upper-case letters, digits and _), one CONVERSATION_DATABASES lists")
      .openapi({ example: "DB_1" }),
  })
  .openapi("MoveConversationRequest");

export const MoveSchema = z
  .object({
    conv_id: z.string(),
    from: z.string().openapi({ description: "The database the conversation lived in" }),
    to: z.string().openapi({ description: "The database it lives in now (once complete)" }),
    complete: z.boolean().openapi({
      description:
        "false when this request ran out of its statement budget: POST again (or let the scheduled handler) to continue where it stopped; writes to the conversation answer 409 CONVERSATION_MOVING meanwhile",
    }),
    snapshots: z.number().int().openapi({ description: "The conversation's snapshots in the target" }),
    blocks: z.number().int().openapi({ description: "Distinct blocks its snapshots use, in the target" }),
    digest: z.string().openapi({ description: "SHA-256 chained over the digests of the copied chunks, as read on both sides" }),
  })
  .openapi("ConversationMove");

export const moveConversationRoute = createRoute({
  method: "post",
  path: "/api/conversations/{conv_id}/move",
  operationId: "moveConversation",
  tags: ["admin"],
  summary: "Move a conversation to another D1 database: copied in chunks, verified, switched, then removed from the source",
  security: [{ adminToken: [] }],
  middleware: [requireAdminToken, requireDecodableUrl, limitBody, requireJsonBody, writeSession],
  request: {
    params: z.object({ conv_id: identifier("conv_id").openapi({ param: { name: "conv_id", in: "path" } }) }),
    body: { required: true, content: { "application/json": { schema: MoveRequestSchema } } },
  },
  responses: {
    200: { description: "Moved, or still moving (see complete)", content: { "application/json": { schema: MoveSchema } } },
    ...errorResponses(
      ...ADMIN_AUTH_ERRORS,
      ...SERVER_ERRORS,
      ...JSON_BODY_ERRORS,
      "CONVERSATION_MOVING",
      "CONVERSATION_DELETING",
      "UNKNOWN_DATABASE",
    ),
  },
});
