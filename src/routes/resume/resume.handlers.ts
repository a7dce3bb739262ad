import type { RouteHandler } from "@hono/zod-openapi";
import { grantOf } from "../../http/auth";
import type { AppEnv } from "../../http/bindings";
import { ApiError } from "../../http/errors";
import { deletedSince } from "../../store/conversations";
import { latestSnapshot } from "../../store/snapshot-reads";
import { turnToJson } from "../../turn/turn";
import { givenFilter } from "../schemas";
import type { getLatestTurnRoute } from "./resume.routes";

export const getLatestTurn: RouteHandler<typeof getLatestTurnRoute, AppEnv> = async (c) => {
  const { conv_id } = c.req.valid("param");
  const query = c.req.valid("query");
  const phase = givenFilter(query.phase);
  // A session-bound token reads its own session (latestTurnScope refused any other).
  const sessionId = givenFilter(query.session_id) ?? grantOf(c)?.sessionId ?? undefined;
  const grant = grantOf(c);
  const found = await c.var.databases.read(conv_id, { hint: grant?.placement }, async (db) => {
    if (grant && (await deletedSince(db, conv_id, grant.issuedAtMs))) {
      throw new ApiError(
        "FORBIDDEN",
        `conversation ${JSON.stringify(conv_id)} was deleted after this conversation token was minted; get a new token`,
      );
    }
    return latestSnapshot(db, { convId: conv_id, sessionId, phase });
  });
  if (!found) {
    const which = [
      phase !== undefined ? `phase ${JSON.stringify(phase)}` : "",
      sessionId !== undefined ? `session ${JSON.stringify(sessionId)}` : "",
    ].filter(Boolean);
    throw new ApiError(
      "NOT_FOUND",
      `conversation ${JSON.stringify(conv_id)} has no snapshot${which.length ? ` of ${which.join(" and ")}` : ""}`,
    );
  }
  c.header("Cache-Control", "no-store");
  return c.json(
    {
      conv_id: found.convId,
      session_id: found.sessionId,
      turn_id: found.turnId,
      phase: found.phase,
      created_at_ms: found.createdAtMs,
      runtime_key: found.runtimeKey,
      inference_id: found.inferenceId,
      turn: turnToJson(found.turn),
    },
    200,
  );
};
