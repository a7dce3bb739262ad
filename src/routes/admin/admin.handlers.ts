import type { RouteHandler } from "@hono/zod-openapi";
import type { AppEnv } from "../../http/bindings";
import { ApiError } from "../../http/errors";
import { forgetPlacement } from "../../http/database";
import { continueDeletion, startDeletion } from "../../store/deletion";
import { moveConversation as move } from "../../store/moves";
import type { deleteConversationRoute, moveConversationRoute } from "./admin.routes";

/** Batches one DELETE request may use (D1 counts every statement of a batch against the invocation). */
export const DELETE_BATCHES_PER_REQUEST = 6;

export const deleteConversation: RouteHandler<typeof deleteConversationRoute, AppEnv> = async (c) => {
  const { conv_id } = c.req.valid("param");
  const placement = await c.var.databases.placement(conv_id);
  if (placement?.movingTo) {
    throw new ApiError(
      "CONVERSATION_MOVING",
      `conversation ${JSON.stringify(conv_id)} is moving to ${placement.movingTo}; delete it once the move is done`,
    );
  }
  const { db } = await c.var.databases.forConversation(conv_id, { place: false, fresh: true });
  if (!(await startDeletion(db, conv_id, "admin", Date.now()))) {
    throw new ApiError("NOT_FOUND", `conversation ${JSON.stringify(conv_id)} not found`);
  }
  const result = await continueDeletion(db, conv_id, DELETE_BATCHES_PER_REQUEST);
  c.set("writeLog", { complete: result.complete, deleted: result.deleted, batches: result.batches, rows_written: result.rowsWritten });
  return c.json({ conv_id, complete: result.complete, deleted: result.deleted }, 200);
};

export const moveConversation: RouteHandler<typeof moveConversationRoute, AppEnv> = async (c) => {
  const { conv_id } = c.req.valid("param");
  const { to } = c.req.valid("json");
  const databases = c.var.databases;
  if (!databases.holdsConversations(to)) {
    throw new ApiError("UNKNOWN_DATABASE", `${to} is not one of CONVERSATION_DATABASES (${databases.config.conversation.join(", ")})`);
  }
  const result = await move((binding) => databases.session(binding), conv_id, to, { nowMs: Date.now() });
  if (!result) throw new ApiError("NOT_FOUND", `conversation ${JSON.stringify(conv_id)} not found`);
  forgetPlacement(conv_id);
  c.set("writeLog", { from: result.from, to: result.to, complete: result.complete, statements: result.statements });
  const { convId, statements, ...answer } = result;
  return c.json({ conv_id: convId, ...answer }, 200);
};
