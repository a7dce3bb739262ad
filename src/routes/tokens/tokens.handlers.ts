import type { RouteHandler } from "@hono/zod-openapi";
import { signingKeys } from "../../http/auth";
import type { AppEnv } from "../../http/bindings";
import { databaseConfig } from "../../http/database";
import { mintConversationToken as signConversationToken } from "../../tokens/conversation-token";
import type { mintConversationTokenRoute } from "./tokens.routes";

export const mintConversationToken: RouteHandler<typeof mintConversationTokenRoute, AppEnv> = async (c) => {
  const body = c.req.valid("json");
  // The keys first: a mint that cannot sign places nothing.
  const keys = signingKeys(c.env);
  // With several databases the token carries where the conversation lives (placed now if new), so the
  // page's writes need no directory lookup.
  const { conversation } = databaseConfig(c.env);
  const placement = conversation.length > 1 ? (await c.var.databases.forConversation(body.conv_id, { place: true })).binding : null;
  const { token, expiresAtMs } = await signConversationToken(keys, {
    convId: body.conv_id,
    sessionId: body.session_id ?? null,
    ttlSeconds: body.ttl_seconds,
    placement,
  });
  c.header("Cache-Control", "no-store");
  return c.json({ token, conv_id: body.conv_id, session_id: body.session_id ?? null, expires_at_ms: expiresAtMs }, 201);
};
