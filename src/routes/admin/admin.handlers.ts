import type { RouteHandler } from "@hono/zod-openapi";
import type { AppEnv } from "../../http/bindings";
import { ApiError } from "../../http/errors";
import { continueDeletion, startDeletion } from "../../store/deletion";
import type { deleteConversationRoute } from "./admin.routes";

/** Batches one DELETE request may use (D1 counts every statement of a batch against the invocation). */
export const DELETE_BATCHES_PER_REQUEST = 6;

export const deleteConversation: RouteHandler<typeof deleteConversationRoute, AppEnv> = async (c) => {
  const { conv_id } = c.req.valid("param");
  if (!(await startDeletion(c.var.db, conv_id, "admin", Date.now()))) {
    throw new ApiError("NOT_FOUND", `conversation ${JSON.stringify(conv_id)} not found`);
  }
  const result = await continueDeletion(c.var.db, conv_id, DELETE_BATCHES_PER_REQUEST);
  c.set("writeLog", { complete: result.complete, deleted: result.deleted, batches: result.batches, rows_written: result.rowsWritten });
  return c.json({ conv_id, complete: result.complete, deleted: result.deleted }, 200);
};
