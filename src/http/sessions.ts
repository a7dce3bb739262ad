/**
 * The session middleware of the routes that touch D1: a RequestDatabases per request (http/database.ts),
 * opened at the bookmark the client sent, and the bookmark to send next on the way out.
 */
import type { MiddlewareHandler } from "hono";
import { DIRECTORY_BINDING } from "../turn/placement";
import type { AppEnv } from "./bindings";
import { BOOKMARK, BOOKMARK_ENTRY, BOOKMARK_HEADER, RequestDatabases } from "./database";
import { ApiError } from "./errors";

function parseBookmarks(sent: string | undefined): Map<string, string> {
  const bookmarks = new Map<string, string>();
  if (sent === undefined) return bookmarks;
  if (BOOKMARK.test(sent)) return bookmarks.set(DIRECTORY_BINDING, sent);
  for (const entry of sent.split(",")) {
    const match = BOOKMARK_ENTRY.exec(entry.trim());
    if (!match) throw new ApiError("INVALID_PARAMETER", `${BOOKMARK_HEADER} must be a bookmark returned by a previous response`);
    bookmarks.set(match[1]!, match[2]!);
  }
  return bookmarks;
}

function session(mode: "write" | "read"): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const databases = new RequestDatabases(c.env, mode, parseBookmarks(c.req.header(BOOKMARK_HEADER)));
    c.set("databases", databases);
    await next();
    const header = databases.bookmarkHeader();
    if (header) c.header(BOOKMARK_HEADER, header);
  };
}

export const writeSession = session("write");
export const readSession = session("read");
