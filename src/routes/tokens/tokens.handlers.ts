import type { RouteHandler } from "@hono/zod-openapi";
import { signingKeys } from "../../http/auth";
import type { AppEnv } from "../../http/bindings";
import { mintConversationToken } from "../../tokens/conversation-token";
import type { mintTokenRoute } from "./tokens.routes";

export const mintToken: RouteHandler<typeof mintTokenRoute, AppEnv> = async (c) => {
  const body = c.req.valid("json");
  const { token, expiresAtMs } = await mintConversationToken(signingKeys(c.env), {
    convId: body.conv_id,
    sessionId: body.session_id ?? null,
    ttlSeconds: body.ttl_seconds,
  });
  c.header("Cache-Control", "no-store");
  return c.json({ token, conv_id: body.conv_id, session_id: body.session_id ?? null, expires_at_ms: expiresAtMs }, 201);
};
