/**
 * D1 Sessions API: writes run on the primary and answer with the session bookmark; reads start from
 * the bookmark a client sends back (X-D1-Bookmark), so they see that client's writes even once read
 * replication is switched on. Without a bookmark a read may use any replica.
 */
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "./bindings";
import { ApiError } from "./errors";

export const BOOKMARK_HEADER = "X-D1-Bookmark";

const BOOKMARK = /^[A-Za-z0-9-]{1,256}$/;

function session(mode: "write" | "read"): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const sent = c.req.header(BOOKMARK_HEADER);
    if (sent !== undefined && !BOOKMARK.test(sent)) {
      throw new ApiError("INVALID_PARAMETER", `${BOOKMARK_HEADER} must be a bookmark returned by a previous response`);
    }
    const db = c.env.DB.withSession(mode === "write" ? "first-primary" : (sent ?? "first-unconstrained"));
    c.set("db", db);
    await next();
    const bookmark = db.getBookmark();
    if (bookmark) c.header(BOOKMARK_HEADER, bookmark);
  };
}

export const writeSession = session("write");
export const readSession = session("read");
