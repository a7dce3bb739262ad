/**
 * The benchmark-only baseline route (src/routes/bench-baseline.ts) does not exist unless the var
 * BENCHMARK_BASELINE is "on": off by default it is indistinguishable from an unknown path and writes
 * nothing; on, it is a token-guarded single-row insert.
 */
import { describe, expect, it } from "vitest";
import { call, databaseDigest, json, post, tableCounts } from "./harness";

const PATH = "/api/bench/baseline";
const on = { env: { BENCHMARK_BASELINE: "on" } as unknown as Partial<Env> };

describe("bench baseline route, BENCHMARK_BASELINE unset (production)", () => {
  it.each(["GET", "POST", "PUT", "DELETE"])("%s answers 404 like an unknown path and changes nothing", async (method) => {
    const before = await databaseDigest();
    const res = await call(method, PATH, method === "GET" || method === "DELETE" ? {} : { body: { conv_id: "x" } });
    expect(res.status).toBe(404);
    expect(res.headers.get("allow")).toBeNull();
    expect((await json(res)).error.code).toBe("NOT_FOUND");
    expect(await databaseDigest()).toBe(before);
  });

  it("any other value than \"on\" keeps it off", async () => {
    const res = await post(PATH, {}, { env: { BENCHMARK_BASELINE: "true" } as unknown as Partial<Env> });
    expect(res.status).toBe(404);
  });

  it("is not in the OpenAPI document", async () => {
    const doc = await json(await call("GET", "/api/openapi.json", { token: null }));
    expect(Object.keys(doc.paths)).not.toContain(PATH);
  });
});

describe("bench baseline route, BENCHMARK_BASELINE=on (npm run bench)", () => {
  it("inserts exactly one conversations row per request", async () => {
    const before = await tableCounts();
    const res = await post(PATH, {}, on);
    expect(res.status).toBe(201);
    const body = await json(res);
    expect(body.conv_id).toMatch(/^bench-baseline-/);
    const after = await tableCounts();
    expect(after).toEqual({ ...before, conversations: before.conversations! + 1 });
  });

  it("needs the ingest token, checked before the body", async () => {
    const before = await databaseDigest();
    const res = await call("POST", PATH, { ...on, token: null, raw: "not json" });
    expect(res.status).toBe(401);
    expect((await json(res)).error.code).toBe("UNAUTHORIZED");
    expect(await databaseDigest()).toBe(before);
  });

  it("other methods are 405 with Allow: POST", async () => {
    const res = await call("GET", PATH, on);
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("POST");
  });
});
