/**
 * The debug viewer through the Worker's real fetch handler: shells render and escape, carry no stored
 * data, send a strict CSP, the script and stylesheet are served with the right types, and the whole
 * /debug surface is 404 while DEBUG_TOKEN is unset.
 */
import { describe, expect, it } from "vitest";
import { call, get, json, post, turnBody, uid } from "../harness";

const HOSTILE = `<script>alert("x")</script>&'"`;
const enc = encodeURIComponent;

function expectViewerHeaders(response: Response) {
  const csp = response.headers.get("content-security-policy") ?? "";
  expect(csp).toContain("default-src 'none'");
  expect(csp).toContain("script-src 'self'");
  expect(csp).toContain("style-src 'self'");
  expect(csp).toContain("connect-src 'self'");
  expect(csp).toContain("frame-ancestors 'none'");
  expect(csp).not.toContain("unsafe-inline");
  expect(csp).not.toContain("unsafe-eval");
  expect(response.headers.get("x-content-type-options")).toBe("nosniff");
  expect(response.headers.get("x-frame-options")).toBe("DENY");
  expect(response.headers.get("referrer-policy")).toBe("no-referrer");
}

describe("viewer shells", () => {
  it("serves the conversation list shell without a token, and it holds no stored data", async () => {
    const convId = uid("conv-viewer-shell");
    expect(
      (await post("/api/turns", turnBody({ conv_id: convId, session_id: "s1", turn_id: "t1", runtime_key: "inventory" }))).status,
    ).toBe(201);

    const response = await get("/debug", { token: null });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expectViewerHeaders(response);
    const html = await response.text();
    expect(html.startsWith("<!doctype html>")).toBe(true);
    expect(html).toContain('<script src="/debug/assets/viewer.js" defer=""></script>');
    expect(html).toContain('<link rel="stylesheet" href="/debug/assets/viewer.css"/>');
    expect(html).toContain('data-page="conversations"');
    expect(html).toContain('id="token-form"');
    expect(html).toContain('id="conversation-rows"');
    expect(html).toContain('name="viewport"');
    // Data only ever comes from the API with the token.
    expect(html).not.toContain(convId);
    expect(html).not.toContain("inventory");
    // The token input has no name, so a script-less submit cannot send it anywhere.
    expect(html).toMatch(/<input id="token-input" type="password"[^>]*>/);
    expect(html).not.toMatch(/<input[^>]*name=/);
    // No inline script or handler for the CSP to block.
    expect(html.match(/<script/g)).toHaveLength(1);
    expect(html).not.toMatch(/\son[a-z]+=/i);
    expect(html).not.toMatch(/style=/);
  });

  it("renders the conversation shell with the id from the URL, escaped", async () => {
    const response = await get(`/debug/c/${enc(HOSTILE)}`, { token: null });
    expect(response.status).toBe(200);
    expectViewerHeaders(response);
    const html = await response.text();
    expect(html).toContain('data-page="conversation"');
    expect(html).toContain('data-conv-id="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;&quot;"');
    expect(html).toContain('<code class="id">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;&quot;</code>');
    expect(html).not.toContain("<script>alert");
    for (const id of ["content", "band", "legend", "facts", "filter-phase", "filter-runtime", "phase-note", "turns", "more"])
      expect(html).toContain(`id="${id}"`);
  });

  it("renders the turn shell with its three ids and an encoded link back to the conversation", async () => {
    const response = await get(`/debug/t/${enc("conv/1 %")}/${enc("sess?2")}/${enc(HOSTILE)}`, { token: null });
    expect(response.status).toBe(200);
    expectViewerHeaders(response);
    const html = await response.text();
    expect(html).toContain('data-page="turn"');
    expect(html).toContain('data-conv-id="conv/1 %"');
    expect(html).toContain('data-session-id="sess?2"');
    expect(html).toContain('data-turn-id="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;&quot;"');
    expect(html).toContain('href="/debug/c/conv%2F1%20%25"');
    expect(html).not.toContain("<script>alert");
    for (const id of ["content", "snapshots", "expand-all", "collapse-all", "more", "diff-left", "diff-right", "diff"])
      expect(html).toContain(`id="${id}"`);
  });

  it("serves the script and stylesheet with their content types", async () => {
    const script = await get("/debug/assets/viewer.js", { token: null });
    expect(script.status).toBe(200);
    expect(script.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expectViewerHeaders(script);
    const source = await script.text();
    // The esbuild bundle of src/viewer/client/: one classic script, no module syntax left.
    expect(source).toContain("built from src/viewer/client/ by scripts/build-viewer.mjs");
    expect(source).not.toMatch(/^\s*(import|export)\s/m);
    expect(source).toContain("sessionStorage");
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the viewer's source text is what is checked
    expect(source).toContain("Authorization: `Bearer ${token}`");
    expect(source).toContain('credentials: "omit"');
    expect(source).toContain("/api/debug/conversations");
    expect(source).toContain('payload: "none"');
    // Data reaches the page as text nodes only, and the token goes nowhere but the header.
    expect(source).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(/);
    expect(source).not.toMatch(/document\.cookie|localStorage/);

    const style = await get("/debug/assets/viewer.css", { token: null });
    expect(style.status).toBe(200);
    expect(style.headers.get("content-type")).toBe("text/css; charset=utf-8");
    expect(await style.text()).toContain(".band");

    const icon = await get("/debug/assets/icon.svg", { token: null });
    expect(icon.status).toBe(200);
    expect(icon.headers.get("content-type")).toBe("image/svg+xml");
  });

  it("answers unknown viewer paths with 404 and other methods with 405", async () => {
    const missing = await get("/debug/nope", { token: null });
    expect(missing.status).toBe(404);
    expect((await json(missing)).error.code).toBe("NOT_FOUND");

    const wrongMethod = await call("POST", "/debug", { token: null, raw: "x" });
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get("allow")).toContain("GET");
    expect((await json(wrongMethod)).error.code).toBe("METHOD_NOT_ALLOWED");
  });

  it("stays out of the OpenAPI document", async () => {
    const document = await json(await get("/api/openapi.json"));
    expect(Object.keys(document.paths).some((path) => path.startsWith("/debug"))).toBe(false);
  });
});

describe("viewer with DEBUG_TOKEN unset", () => {
  const off = { env: { DEBUG_TOKEN: "" }, token: null };
  const paths = [
    "/debug",
    "/debug/",
    "/debug/c/conv-1",
    "/debug/t/conv-1/s1/t1",
    "/debug/assets/viewer.js",
    "/debug/assets/viewer.css",
    "/debug/assets/icon.svg",
    "/debug/anything/else",
  ];

  for (const path of paths) {
    it(`GET ${path} is 404 like the debug API`, async () => {
      const response = await get(path, off);
      expect(response.status).toBe(404);
      expect(response.headers.get("content-type")).toContain("application/json");
      expect((await json(response)).error.code).toBe("NOT_FOUND");
    });
  }

  it("is 404 for other methods too (no 405 that would reveal the route)", async () => {
    for (const method of ["POST", "PUT", "DELETE"]) {
      const response = await call(method, "/debug", { ...off, raw: "x" });
      expect(response.status).toBe(404);
    }
  });

  it("answers the debug API the same way", async () => {
    expect((await get("/api/debug/conversations", off)).status).toBe(404);
  });
});
