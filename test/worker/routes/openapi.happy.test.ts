/**
 * GET /api/openapi.json as a generator reads it: every $ref resolves inside the document (the full
 * redocly lint runs against wrangler dev in test/node/tools/dev-server.test.ts; this is its fast half).
 */
import { expect, it } from "vitest";
import { get, json } from "../harness";

it("resolves every $ref inside the document", async () => {
  const doc = await json(await get("/api/openapi.json", { token: null }));
  const refs = new Set([...JSON.stringify(doc).matchAll(/"\$ref":"([^"]+)"/g)].map((m) => m[1]!));
  expect(refs.size).toBeGreaterThan(0);
  const resolve = (ref: string) =>
    ref
      .replace(/^#\//, "")
      .split("/")
      .reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key.replace(/~1/g, "/").replace(/~0/g, "~")], doc);
  expect([...refs].filter((ref) => resolve(ref) === undefined)).toEqual([]);
});
