/**
 * Ids travel in URL path segments and query parameters, decoded exactly once. Text that is not
 * valid percent-encoded UTF-8 (e.g. "%FF", "%zz") cannot be decoded at all: refuse it with a 400
 * instead of looking up the raw text as an id. A query parameter given twice is refused too.
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
  // Only a "%" can make text undecodable, and only a query can repeat a parameter: most requests
  // (POST /api/turns) have neither, and are not parsed again here.
  if (c.req.url.includes("%") || c.req.url.includes("?")) assertDecodable(new URL(c.req.url));
  await next();
};

function assertDecodable(url: URL): void {
  const segment = url.pathname.split("/").findIndex((part) => !decodable(part));
  if (segment !== -1) {
    throw new ApiError(
      "INVALID_PARAMETER",
      `path segment ${segment} is not valid percent-encoded UTF-8; encode each id with encodeURIComponent`,
    );
  }
  const parameter = url.search
    .slice(1)
    .split("&")
    .flatMap((pair) => pair.split("="))
    .find((part) => !decodable(part.replace(/\+/g, " ")));
  if (parameter !== undefined) {
    throw new ApiError(
      "INVALID_PARAMETER",
      "a query parameter is not valid percent-encoded UTF-8; encode each value with encodeURIComponent",
    );
  }
  // A parameter given twice has no one meaning (the first? the last? both?): say so.
  const seen = new Map<string, number>();
  for (const name of url.searchParams.keys()) seen.set(name, (seen.get(name) ?? 0) + 1);
  for (const [name, times] of seen) {
    if (times > 1)
      throw new ApiError("INVALID_PARAMETER", `query parameter ${JSON.stringify(name)} is given ${times} times; give each parameter once`);
  }
}
