import { createRoute, z } from "@hono/zod-openapi";
import { requireIngestToken } from "../../http/auth";
import { writeSession } from "../../http/sessions";
import { limitBody, requireJsonBody } from "../../http/json-body";
import { requireDecodableUrl } from "../../http/path";
import { DEFAULT_TTL_SECONDS, MAX_TTL_SECONDS } from "../../tokens/conversation-token";
import { errorResponses, identifier, WRITE_AUTH_ERRORS, SERVER_ERRORS, JSON_BODY_ERRORS } from "../schemas";

export const MintTokenSchema = z
  .strictObject({
    conv_id: identifier("conv_id").openapi({ description: "The conversation the token is for" }),
    session_id: identifier("session_id").optional().openapi({ description: "Also bind the token to this session" }),
    ttl_seconds: z
      .number({ error: `ttl_seconds must be an integer 1..${MAX_TTL_SECONDS}` })
      .int(`ttl_seconds must be an integer 1..${MAX_TTL_SECONDS}`)
      .min(1, `ttl_seconds must be an integer 1..${MAX_TTL_SECONDS}`)
      .max(MAX_TTL_SECONDS, `ttl_seconds must be an integer 1..${MAX_TTL_SECONDS}`)
      .optional()
      .openapi({ description: `Lifetime in seconds (default ${DEFAULT_TTL_SECONDS})` }),
  })
  .openapi("MintTokenRequest");

export const ConversationTokenSchema = z
  .object({
    token: z.string().openapi({ description: "tsk1.<key id>.<payload>.<signature> (docs/API.md, Browser clients)" }),
    conv_id: z.string(),
    session_id: z.string().nullable().openapi({ description: "The bound session, or null for any session of the conversation" }),
    expires_at_ms: z.number().int(),
  })
  .openapi("ConversationToken");

export const mintConversationTokenRoute = createRoute({
  method: "post",
  path: "/api/tokens",
  operationId: "mintConversationToken",
  tags: ["tokens"],
  summary: "Mint a conversation token for a chat page (app backends only)",
  description:
    "A signed, stateless, expiring token that authorizes only: the write routes for items of its conversation (and session, when bound), PUT of that conversation's runtime, and its latest-turn read.",
  security: [{ ingestToken: [] }],
  middleware: [requireIngestToken, requireDecodableUrl, limitBody, requireJsonBody, writeSession],
  request: { body: { required: true, content: { "application/json": { schema: MintTokenSchema } } } },
  responses: {
    201: { description: "Minted", content: { "application/json": { schema: ConversationTokenSchema } } },
    ...errorResponses(...WRITE_AUTH_ERRORS, ...SERVER_ERRORS, ...JSON_BODY_ERRORS),
  },
});
