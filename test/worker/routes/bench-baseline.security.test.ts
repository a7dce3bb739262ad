/**
 * The benchmark baseline (POST /api/bench/baseline) lives only in the bench-only entry
 * bench/worker.ts, which `npm run bench` runs under `wrangler dev`: the production Worker
 * (src/index.ts, what the harness calls and `wrangler deploy` bundles) does not have it — every
 * method is a 404 like an unknown path, nothing is written, and the OpenAPI document does not list
 * it. The bench entry serves it as a token-guarded single-row insert and hands everything else to
 * the real Worker.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import benchWorker from "../../../bench/worker";
import { deepestKnownTip } from "../../../src/store/known-paths";
import { prepareSnapshot } from "../../../src/turn/snapshot";
import { call, databaseDigest, INGEST_TOKEN, json, tableCounts } from "../harness";

const PATH = "/api/bench/baseline";

/** A request to the bench entry, as harness `call` makes them to the production Worker. */
async function callBench(
  method: string,
  path: string,
  options: { token?: string | null; raw?: string; headers?: Record<string, string> } = {},
): Promise<Response> {
  const headers = new Headers({ "content-type": "application/json", ...options.headers });
  const token = options.token === undefined ? INGEST_TOKEN : options.token;
  if (token !== null) headers.set("authorization", `Bearer ${token}`);
  const body = method === "GET" || method === "HEAD" ? undefined : (options.raw ?? "{}");
  const ctx = createExecutionContext();
  const response = await benchWorker.fetch(new Request(`https://turnstore.test${path}`, { method, headers, body }), env as Env, ctx);
  await waitOnExecutionContext(ctx);
  return response;
}

describe("production Worker (src/index.ts): no baseline route", () => {
  it.each(["GET", "POST", "PUT", "DELETE", "PATCH"])(
    "%s answers 404 NOT_FOUND like an unknown path and changes nothing",
    async (method) => {
      const before = await databaseDigest();
      const res = await call(method, PATH, method === "GET" || method === "DELETE" ? {} : { body: { conv_id: "x" } });
      expect(res.status).toBe(404);
      expect(res.headers.get("allow")).toBeNull();
      expect((await json(res)).error.code).toBe("NOT_FOUND");
      expect(await databaseDigest()).toBe(before);
    },
  );

  it("is not in the OpenAPI document", async () => {
    const doc = await json(await call("GET", "/api/openapi.json", { token: null }));
    expect(Object.keys(doc.paths)).not.toContain(PATH);
    expect(Object.keys(doc.paths).filter((p) => p.startsWith("/api/bench"))).toEqual([]);
  });
});

describe("bench entry (bench/worker.ts, npm run bench only)", () => {
  it("inserts exactly one conversations row per POST", async () => {
    for (let i = 0; i < 2; i++) {
      const before = await tableCounts();
      const res = await callBench("POST", PATH);
      expect(res.status).toBe(201);
      const body = (await res.json()) as { conv_id: string; rows_written: number };
      expect(body.conv_id).toMatch(/^bench-baseline-/);
      expect(await tableCounts()).toEqual({ ...before, conversations: before.conversations! + 1 });
    }
  });

  it("needs the ingest token, checked before the body: 401 and nothing written", async () => {
    const before = await databaseDigest();
    const res = await callBench("POST", PATH, { token: null, raw: "not json" });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("UNAUTHORIZED");
    expect(await databaseDigest()).toBe(before);
  });

  it("answers GET with 405 and Allow: POST", async () => {
    const res = await callBench("GET", PATH);
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("POST");
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("METHOD_NOT_ALLOWED");
  });

  it("hands every other request to the production Worker", async () => {
    const health = await callBench("GET", "/healthz", { token: null });
    expect(health.status).toBe(200);
    const unknown = await callBench("GET", "/api/bench/other");
    expect(unknown.status).toBe(404);
    const doc = (await (await callBench("GET", "/api/openapi.json", { token: null })).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths)).not.toContain(PATH);
  });

  it("clears the isolate's tip memory before a request with x-bench-forget-tips (the throughput bench's no-memory variant); the production Worker has no such header", async () => {
    const snapshot = (k: number) =>
      JSON.stringify({
        conv_id: "bench-tips",
        session_id: "s",
        created_at_ms: 1000 + k,
        turn: { id: `t${k}`, blocks: [{ id: "u", kind: "user", payload: { text: "hi" } }] },
      });
    const tip = async () => (await prepareSnapshot(JSON.parse(snapshot(0)), { nowMs: Date.now(), maxClockSkewMs: 300_000 })).tipChain;
    expect((await callBench("POST", "/api/turns", { raw: snapshot(0) })).status).toBe(201);
    expect(deepestKnownTip("bench-tips", [{ chain: await tip() }])).toBe(0);
    // Through the production Worker the header changes nothing.
    const kept = await call("POST", "/api/turns", { body: JSON.parse(snapshot(1)), headers: { "x-bench-forget-tips": "1" } });
    expect(kept.status).toBe(201);
    expect(deepestKnownTip("bench-tips", [{ chain: await tip() }])).toBe(0);
    expect((await callBench("POST", "/api/turns", { raw: snapshot(2), headers: { "x-bench-forget-tips": "1" } })).status).toBe(201);
    // Cleared before the request; the request then remembered its own tip — the same path here.
    expect(deepestKnownTip("bench-tips", [{ chain: await tip() }])).toBe(0);
    expect((await callBench("GET", "/healthz", { token: null, headers: { "x-bench-forget-tips": "1" } })).status).toBe(200);
    expect(deepestKnownTip("bench-tips", [{ chain: await tip() }])).toBe(-1);
  });

  it("exports the production Worker's scheduled handler", async () => {
    const { default: worker } = await import("../../../src/index");
    expect(benchWorker.scheduled).toBe(worker.scheduled);
  });
});
