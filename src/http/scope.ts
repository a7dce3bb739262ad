/**
 * What a request touches, checked against a conversation token's grant before the body or the
 * parameters are validated (http/auth.ts): each snapshot's conv_id and session_id, the runtime
 * switch's conversation and session, the latest-turn read's conversation and session. The ingest
 * token passes.
 */
import type { MiddlewareHandler } from "hono";
import { assertWithinGrant, grantOf } from "./auth";
import type { AppEnv } from "./bindings";

const field = (value: unknown, key: string): unknown =>
  typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>)[key] : undefined;

/** POST /api/turns: the snapshot's conversation and session. */
export const snapshotScope: MiddlewareHandler<AppEnv> = async (c, next) => {
  const body = c.get("jsonBody");
  assertWithinGrant(grantOf(c), [{ convId: field(body, "conv_id"), sessionId: field(body, "session_id"), where: "" }]);
  await next();
};

/** POST /api/turns/batch: every item's conversation and session. */
export const batchScope: MiddlewareHandler<AppEnv> = async (c, next) => {
  const items = field(c.get("jsonBody"), "items");
  if (Array.isArray(items)) {
    assertWithinGrant(
      grantOf(c),
      items.map((item, i) => ({ convId: field(item, "conv_id"), sessionId: field(item, "session_id"), where: `items[${i}].` })),
    );
  }
  await next();
};

/** PUT /api/conversations/:conv_id/runtime: the path's conversation and the body's session. */
export const runtimeScope: MiddlewareHandler<AppEnv> = async (c, next) => {
  assertWithinGrant(grantOf(c), [{ convId: c.req.param("conv_id"), sessionId: field(c.get("jsonBody"), "session_id"), where: "" }]);
  await next();
};

/**
 * GET /api/conversations/:conv_id/turns/latest: the path's conversation and the session_id asked
 * for. A session-bound token may read its session only; without session_id the read is of the
 * token's session (the handler fills it in), so it never reaches another session either.
 */
export const latestTurnScope: MiddlewareHandler<AppEnv> = async (c, next) => {
  const sessionId = c.req.query("session_id");
  assertWithinGrant(grantOf(c), [{ convId: c.req.param("conv_id"), sessionId: sessionId === "" ? undefined : sessionId, where: "" }]);
  await next();
};
