/**
 * The OpenAPI 3.1 document, generated from the route schemas (the same zod schemas that validate
 * requests), plus what holds for every operation and is stated once here instead of in each route:
 * the response headers (X-Request-Id on every response, X-D1-Bookmark on answers read or written
 * through a D1 session, Retry-After on 429 and 503) and the 405 every route answers for other methods.
 */
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "./http/bindings";

type Document = ReturnType<OpenAPIHono<AppEnv>["getOpenAPI31Document"]>;
type Operation = {
  responses?: Record<string, { headers?: Record<string, unknown>; content?: unknown; description?: string }>;
  security?: unknown;
};

const HEADERS = {
  "X-Request-Id": {
    description: "The request's id (also in the log line of the request); quote it when reporting a problem",
    schema: { type: "string" as const },
  },
  "X-D1-Bookmark": {
    description: "The D1 Sessions bookmark after this request: send it back as X-D1-Bookmark on a later read to see this request's writes",
    schema: { type: "string" as const },
  },
  "Retry-After": { description: "Seconds to wait before retrying", schema: { type: "integer" as const, minimum: 1 } },
};

const ref = (name: keyof typeof HEADERS) => ({ $ref: `#/components/headers/${name}` });

export function openApiDocument(app: OpenAPIHono<AppEnv>): Document {
  const doc = app.getOpenAPI31Document({
    openapi: "3.1.0",
    info: {
      title: "Turnstore",
      version: "0.2.0",
      description: "Chat-turn snapshots with per-turn runtime truth, on Cloudflare Workers + D1. Guide: docs/API.md.",
      // OpenAPI 3.1's SPDX identifier (the generator's types only know 3.0's name and url).
      license: { name: "Proprietary", identifier: "LicenseRef-Turnstore-Proprietary" } as { name: string },
    },
    servers: [{ url: "/", description: "This Worker (its own origin)" }],
  });
  doc.components = { ...doc.components, headers: { ...(doc.components?.headers ?? {}), ...HEADERS } };
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    const methods = Object.keys(item ?? {}).filter((m) => ["get", "put", "post", "delete", "patch"].includes(m));
    for (const method of methods) {
      const operation = (item as Record<string, Operation>)[method]!;
      const responses = (operation.responses ??= {});
      responses["405"] ??= {
        description: `METHOD_NOT_ALLOWED: another method than ${methods.map((m) => m.toUpperCase()).join(", ")} on ${path} (the Allow header lists them)`,
        content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
      };
      const usesSession = (path.startsWith("/api/") && path !== "/api/tokens") || path === "/v1/traces";
      for (const [status, response] of Object.entries(responses)) {
        response.headers = { ...response.headers, "X-Request-Id": ref("X-Request-Id") };
        if (usesSession && status.startsWith("2")) response.headers["X-D1-Bookmark"] = ref("X-D1-Bookmark");
        if (status === "429" || status === "503") response.headers["Retry-After"] = ref("Retry-After");
      }
    }
  }
  return doc;
}
