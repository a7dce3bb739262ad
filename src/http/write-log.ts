/**
 * One JSON log line per write request (POST, PUT, DELETE under /api/), accepted or refused: the
 * request id, the route, the status and error code, the conversations and snapshots it named, and
 * what it cost — never payload text, turn content or tokens. Handlers add the details of what they
 * stored with `c.set("writeLog", …)`; refused requests are described from their parsed body.
 */
import type { MiddlewareHandler } from "hono";
import type { AppEnv, WriteLogDetails } from "./bindings";
import { requestLogFields } from "./request-id";

const WRITES = new Set(["POST", "PUT", "DELETE"]);

const idsOf = (value: unknown, key: string): string[] => {
  const items = Array.isArray((value as { items?: unknown })?.items) ? (value as { items: unknown[] }).items : [value];
  return [
    ...new Set(items.map((item) => (item as Record<string, unknown> | null)?.[key]).filter((v): v is string => typeof v === "string")),
  ];
};

export const logWriteRequests: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (!WRITES.has(c.req.method)) return next();
  const startedAt = Date.now();
  await next();
  const status = c.res.status;
  let code: string | null = null;
  if (status >= 400 && c.res.headers.get("content-type")?.includes("application/json")) {
    code =
      (
        (await c.res
          .clone()
          .json()
          .catch(() => null)) as { error?: { code?: string } } | null
      )?.error?.code ?? null;
  }
  const details = c.get("writeLog") as WriteLogDetails | undefined;
  const body = c.get("jsonBody");
  const pathConv = c.req.param("conv_id");
  const conversations = details?.snapshots
    ? [...new Set(details.snapshots.map((s) => s.conv_id))]
    : pathConv !== undefined
      ? [pathConv]
      : idsOf(body, "conv_id");
  const items = Array.isArray((body as { items?: unknown })?.items)
    ? (body as { items: unknown[] }).items.length
    : body === undefined
      ? 0
      : 1;
  console.log(
    JSON.stringify({
      level: status >= 500 ? "error" : "info",
      event: "write",
      ...requestLogFields(c),
      route: `${c.req.method} ${c.req.routePath}`,
      status,
      code,
      conversations,
      sessions: details?.snapshots ? [...new Set(details.snapshots.map((s) => s.session_id))] : idsOf(body, "session_id"),
      items,
      ...details,
      duration_ms: Date.now() - startedAt,
    }),
  );
};
