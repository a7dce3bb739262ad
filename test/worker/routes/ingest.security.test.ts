/** Tokens and CORS on the write routes. */
import { describe, expect, it } from "vitest";
import { call, post, databaseDigest, json, turnBody, writeRoutes } from "../harness";

const routes = writeRoutes("conv-sec").map((r): [string, string] => [r.method, r.path]);
const body = turnBody({ conv_id: "conv-sec", session_id: "s", turn_id: "t", created_at_ms: 1 });

describe("bearer token on write routes", () => {
  it.each(routes)("%s %s without a token → 401, nothing written", async (method, path) => {
    const before = await databaseDigest();
    const res = await call(method, path, { body, token: null });
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toMatch(/^Bearer/);
    expect((await json(res)).error.code).toBe("UNAUTHORIZED");
    expect(await databaseDigest()).toBe(before);
  });

  it.each(routes)("%s %s with a wrong token → 401", async (method, path) => {
    for (const token of ["wrong", "test-ingest-tokenX", "test-debug-token", ""]) {
      const res = await call(method, path, { body, token });
      expect(res.status).toBe(401);
    }
    const basic = await call(method, path, { body, token: null, headers: { authorization: "Basic dGVzdA==" } });
    expect(basic.status).toBe(401);
  });

  it.each(routes)("%s %s checks the token before the body", async (method, path) => {
    const res = await call(method, path, { raw: "{not json", token: "wrong", headers: { "content-type": "application/json" } });
    expect(res.status).toBe(401);
  });

  it.each(routes)("%s %s fails closed with 503 when INGEST_TOKEN is unset", async (method, path) => {
    const before = await databaseDigest();
    const res = await call(method, path, { body, env: { INGEST_TOKEN: "" } });
    expect(res.status).toBe(503);
    expect((await json(res)).error.code).toBe("NOT_CONFIGURED");
    expect(await databaseDigest()).toBe(before);
  });

  it("never echoes the token in an error", async () => {
    const res = await call("POST", "/api/turns", { body: { nope: true }, token: "secret-looking-token" });
    expect(await res.text()).not.toContain("secret-looking-token");
  });
});

describe("CORS", () => {
  const preflight = (origin: string | null, path = "/api/turns") =>
    call("OPTIONS", path, {
      token: null,
      headers: {
        ...(origin ? { origin } : {}),
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type",
      },
    });

  it.each(routes.map(([, path]) => path))("answers a preflight from a configured origin without a token (%s)", async (path) => {
    const res = await preflight("https://chat.example.com", path);
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBe("https://chat.example.com");
    expect(res.headers.get("access-control-allow-headers")?.toLowerCase()).toContain("authorization");
  });

  it("refuses a preflight from any other origin", async () => {
    for (const origin of ["https://evil.example.com", "https://chat.example.com.evil.io", "null", null]) {
      const res = await preflight(origin);
      expect(res.status).toBe(403);
      expect(res.headers.get("access-control-allow-origin")).toBeNull();
      expect((await json(res)).error.code).toBe("ORIGIN_NOT_ALLOWED");
    }
  });

  it("adds CORS headers to real requests only for configured origins, error responses included", async () => {
    const { token } = await json(await post("/api/tokens", { conv_id: "conv-cors" }));
    const ok = await call("POST", "/api/turns", {
      token,
      body: turnBody({ conv_id: "conv-cors", session_id: "s", turn_id: "t", created_at_ms: 2 }),
      headers: { origin: "https://app.example.com" },
    });
    expect(ok.status).toBe(201);
    expect(ok.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
    expect(ok.headers.get("access-control-expose-headers")).toContain("X-D1-Bookmark");
    // A page can read why it was refused.
    const refused = await call("POST", "/api/turns", {
      token,
      body: turnBody({ conv_id: "conv-other", session_id: "s", turn_id: "t", created_at_ms: 2 }),
      headers: { origin: "https://app.example.com" },
    });
    expect(refused.status).toBe(403);
    expect(refused.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
    const other = await call("POST", "/api/turns", {
      token,
      body: turnBody({ conv_id: "conv-cors", session_id: "s", turn_id: "t", created_at_ms: 3 }),
      headers: { origin: "https://evil.example.com" },
    });
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
  });
});
