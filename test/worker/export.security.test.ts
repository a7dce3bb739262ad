/**
 * The export is a debug route (CONTRACT §4, §5.5): DEBUG_TOKEN only — 404 while it is unset, 401
 * without it (the ingest token included), 403 for a conversation token — checked before the
 * parameters; then 400 for an unknown format and 404 for an unknown conversation.
 */
import { describe, expect, it } from "vitest";
import { call, expectError, json, post, turnBody, uid } from "./harness";

const path = (conv: string, query = "?format=jsonl") => `/api/debug/conversations/${encodeURIComponent(conv)}/export${query}`;

describe("who may export", () => {
  it("no token, a wrong token, the ingest token → 401 (before the parameters)", async () => {
    for (const token of [null, "wrong", "test-ingest-token"]) {
      await expectError(await call("GET", path("c1"), { token }), 401, "UNAUTHORIZED");
      await expectError(await call("GET", path("c1", "?format=xml"), { token }), 401, "UNAUTHORIZED");
    }
  });

  it("a conversation token, even for that conversation → 403", async () => {
    const conv = uid("conv-export-sec");
    await post("/api/turns", turnBody({ conv_id: conv, session_id: "s", turn_id: "t", created_at_ms: 1 }));
    const { token } = await json(await post("/api/tokens", { conv_id: conv }));
    await expectError(await call("GET", path(conv), { token }), 403, "FORBIDDEN", /conversation token cannot use/);
    await expectError(await call("GET", path(conv), { token, headers: { origin: "https://chat.example.com" } }), 403, "FORBIDDEN");
  });

  it("404 while DEBUG_TOKEN is unset, whatever the token or method", async () => {
    for (const method of ["GET", "POST", "DELETE"]) {
      for (const token of [null, "test-debug-token"]) {
        await expectError(await call(method, path("c1"), { token, env: { DEBUG_TOKEN: "" } }), 404, "NOT_FOUND");
      }
    }
  });

  it("GET only: other methods are 405", async () => {
    const res = await call("POST", path("c1"), { body: {} });
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("GET");
  });
});

describe("bad requests", () => {
  it.each(["xml", "JSON", "md", "", "csv"])("format=%s → 400 INVALID_PARAMETER naming the formats", async (format) => {
    await expectError(
      await call("GET", path("c1", `?format=${format}`)),
      400,
      "INVALID_PARAMETER",
      /format must be json, jsonl, yaml or markdown/,
    );
  });

  it("an unknown conversation → 404, in every format", async () => {
    for (const format of ["json", "jsonl", "yaml", "markdown"]) {
      await expectError(await call("GET", path(uid("conv-nope"), `?format=${format}`)), 404, "NOT_FOUND", /not found/);
    }
  });

  it("an undecodable path → 400", async () => {
    await expectError(await call("GET", "/api/debug/conversations/%FF/export"), 400, "INVALID_PARAMETER", /percent-encoded/);
  });

  it("a phase over 256 characters → 400", async () => {
    await expectError(await call("GET", path("c1", `?phase=${"p".repeat(257)}`)), 400, "INVALID_PARAMETER", /phase/);
  });
});
