/** Strict parameters, tokens, and the debug surface switched off. */
import { describe, expect, it } from "vitest";
import { call, debugRoutes, expectError, get, json, post, turnBody } from "../harness";

const DEBUG_ROUTES = debugRoutes("c1").map((r) => r.path);

const expectGetError = async (path: string, status: number, code: string, message?: RegExp) =>
  expectError(await get(path), status, code, message);

describe("malformed parameters → 400 naming the parameter", () => {
  it.each([
    ["/api/debug/turns?conv_id=c&limit=0", /limit must be an integer 1\.\.1000/],
    ["/api/debug/turns?conv_id=c&limit=1001", /limit must be an integer 1\.\.1000/],
    ["/api/debug/turns?conv_id=c&limit=12abc", /limit must be an integer 1\.\.1000/],
    ["/api/debug/turns?conv_id=c&limit=-1", /limit/],
    ["/api/debug/turns?conv_id=c&limit=", /limit/],
    ["/api/debug/turns?conv_id=c&since_ms=-1", /since_ms must be a non-negative integer/],
    ["/api/debug/turns?conv_id=c&since_ms=1e3", /since_ms/],
    ["/api/debug/turns?conv_id=c&since_ms=99999999999999999", /since_ms/],
    ["/api/debug/conversations?limit=0", /limit/],
    ["/api/debug/conversations?since_ms=abc", /since_ms/],
    ["/api/debug/turn/c/s/t?limit=5000", /limit/],
  ])("%s", (path, message) => expectGetError(path, 400, "INVALID_PARAMETER", message));

  it.each(["/api/debug/turn/%FF/s/t", "/api/debug/conversations/%zz", "/api/debug/turn/c/%E0%A4/t"])(
    "refuses undecodable path segments: %s",
    (path) => expectGetError(path, 400, "INVALID_PARAMETER", /percent-encoded/),
  );

  it("requires conv_id or session_id", () =>
    expectGetError("/api/debug/turns?phase=final", 400, "INVALID_PARAMETER", /conv_id or session_id/));
  it("requires conv_id or session_id to be non-empty", () =>
    expectGetError("/api/debug/turns?conv_id=&session_id=", 400, "INVALID_PARAMETER"));

  it("refuses an unknown cursor", () => expectGetError("/api/debug/turns?conv_id=c&cursor=garbage", 400, "INVALID_CURSOR", /cursor/));

  it("refuses a tampered cursor and a cursor from other filters", async () => {
    const conv = "conv-cursor-tamper";
    await post("/api/turns/batch", {
      items: [1, 2, 3].map((i) => turnBody({ conv_id: conv, session_id: "s", turn_id: `t${i}`, created_at_ms: i })),
    });
    const { next_cursor } = await json(await get(`/api/debug/turns?conv_id=${conv}&limit=1`));
    expect(next_cursor).toBeTruthy();
    const [payload, mac] = (next_cursor as string).split(".");
    const forged = btoa(JSON.stringify({ createdAtMs: 999, id: 1 })).replace(/=+$/, "");
    await expectGetError(`/api/debug/turns?conv_id=${conv}&limit=1&cursor=${forged}.${mac}`, 400, "INVALID_CURSOR");
    await expectGetError(`/api/debug/turns?conv_id=${conv}&limit=1&cursor=${payload}.${mac}x`, 400, "INVALID_CURSOR");
    await expectGetError(
      `/api/debug/turns?conv_id=${conv}&phase=final&limit=1&cursor=${encodeURIComponent(next_cursor!)}`,
      400,
      "INVALID_CURSOR",
    );
    await expectGetError(`/api/debug/conversations?cursor=${encodeURIComponent(next_cursor!)}`, 400, "INVALID_CURSOR");
    // The genuine cursor works.
    const ok = await get(`/api/debug/turns?conv_id=${conv}&limit=1&cursor=${encodeURIComponent(next_cursor!)}`);
    expect(ok.status).toBe(200);
  });
});

describe("tokens", () => {
  it.each(DEBUG_ROUTES)("%s without or with a wrong token → 401", async (path) => {
    for (const token of [null, "wrong", "test-ingest-token"]) {
      const res = await call("GET", path, { token });
      expect(res.status).toBe(401);
      expect((await json(res)).error.code).toBe("UNAUTHORIZED");
    }
  });

  it("checks the token before the parameters", async () => {
    const res = await call("GET", "/api/debug/turns?limit=0", { token: "wrong" });
    expect(res.status).toBe(401);
  });

  it.each(DEBUG_ROUTES)("%s is 404 when DEBUG_TOKEN is unset, token or not, any method", async (path) => {
    for (const method of ["GET", "POST", "DELETE"]) {
      for (const token of [null, "test-debug-token"]) {
        const res = await call(method, path, { token, env: { DEBUG_TOKEN: "" } });
        expect(res.status).toBe(404);
        expect((await json(res)).error.code).toBe("NOT_FOUND");
      }
    }
  });

  it("GET only: other methods are 405", async () => {
    const res = await call("POST", "/api/debug/turns", { body: {} });
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("GET");
  });
});

describe("OpenAPI document", () => {
  it("is generated from the route schemas and covers every route", async () => {
    const res = await call("GET", "/api/openapi.json", { token: null });
    expect(res.status).toBe(200);
    const doc = await json(res);
    expect(doc.openapi).toBe("3.1.0");
    expect(Object.keys(doc.paths).sort()).toEqual([
      "/api/conversations/{conv_id}",
      "/api/conversations/{conv_id}/move",
      "/api/conversations/{conv_id}/runtime",
      "/api/conversations/{conv_id}/turns/latest",
      "/api/debug/conversations",
      "/api/debug/conversations/{conv_id}",
      "/api/debug/conversations/{conv_id}/export",
      "/api/debug/turn/{conv_id}/{session_id}/{turn_id}",
      "/api/debug/turns",
      "/api/tokens",
      "/api/turns",
      "/api/turns/batch",
      "/healthz",
      // OpenTelemetry ingestion (CONTRACT §6.5).
      "/v1/traces",
    ]);
    expect(doc.paths["/v1/traces"].post.security).toEqual([{ ingestToken: [] }, { conversationToken: [] }]);
    expect(Object.keys(doc.paths["/v1/traces"].post.requestBody.content)).toEqual(["application/x-protobuf", "application/json"]);
    expect(doc.paths["/api/turns"].post.responses).toHaveProperty("409");
    expect(doc.components.schemas.SnapshotRequest.required).toEqual(["conv_id", "session_id"]);
    expect(doc.components.securitySchemes).toHaveProperty("ingestToken");
    expect(doc.paths["/api/conversations/{conv_id}/turns/latest"].get.security).toEqual([{ ingestToken: [] }, { conversationToken: [] }]);
    expect(Object.keys(doc.paths["/api/debug/conversations/{conv_id}/export"].get.responses["200"].content)).toEqual([
      "application/json; charset=utf-8",
      "application/x-ndjson; charset=utf-8",
      "application/yaml; charset=utf-8",
      "text/markdown; charset=utf-8",
    ]);
  });
});
