/**
 * Ids travel in URL path segments and query parameters, decoded exactly once. Text that is not
 * valid percent-encoded UTF-8 (e.g. "%FF", "%zz") cannot be decoded at all: refuse it with a 400
 * instead of looking up the raw text as an id.
 */
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "./bindings";
import { ApiError } from "./errors";

function decodable(text: string): boolean {
  try {
    decodeURIComponent(text);
    return true;
  } catch {
    return false;
  }
}

export const requireDecodableUrl: MiddlewareHandler<AppEnv> = async (c, next) => {
  const url = new URL(c.req.url);
  const segment = url.pathname.split("/").findIndex((part) => !decodable(part));
  if (segment !== -1) {
    throw new ApiError("INVALID_PARAMETER", `path segment ${segment} is not valid percent-encoded UTF-8; encode each id with encodeURIComponent`);
  }
  const parameter = url.search
    .slice(1)
    .split("&")
    .flatMap((pair) => pair.split("="))
    .find((part) => !decodable(part.replace(/\+/g, " ")));
  if (parameter !== undefined) {
    throw new ApiError("INVALID_PARAMETER", "a query parameter is not valid percent-encoded UTF-8; encode each value with encodeURIComponent");
  }
  await next();
};
