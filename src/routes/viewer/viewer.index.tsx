/** @jsxImportSource hono/jsx */
/**
 * The debug viewer at /debug: HTML shells, one stylesheet and one script (the bundle of
 * src/viewer/client/), all served by this Worker. Plain Hono routes (not OpenAPI: these are pages, not
 * API). The shells hold no data, so they need no token; like the debug API, the whole surface is 404
 * while DEBUG_TOKEN is unset.
 */
import { Hono } from "hono";
import type { HtmlEscapedString } from "hono/utils/html";
import { secureHeaders } from "hono/secure-headers";
import type { AppEnv } from "../../http/bindings";
import { ConversationPage, ConversationsPage, ICON_PATH, SCRIPT_PATH, STYLE_PATH, TurnPage } from "./viewer.pages";
// Built by scripts/build-viewer.mjs (wrangler's [build], vitest.config.ts); imported as text.
import VIEWER_SCRIPT from "../../../dist/viewer/viewer.js.txt";
import { VIEWER_ICON, VIEWER_STYLE } from "./viewer.style";

// Turn text is untrusted: only our own script and stylesheet may run or style, nothing inline, and
// the only place the page may talk to is this origin (the debug API).
const viewerHeaders = secureHeaders({
  contentSecurityPolicy: {
    defaultSrc: ["'none'"],
    scriptSrc: ["'self'"],
    styleSrc: ["'self'"],
    imgSrc: ["'self'"],
    connectSrc: ["'self'"],
    baseUri: ["'none'"],
    formAction: ["'self'"],
    frameAncestors: ["'none'"],
  },
  xFrameOptions: "DENY",
  // HSTS is a decision for the whole host, not for one debug page.
  strictTransportSecurity: false,
});

async function shell(page: HtmlEscapedString | Promise<HtmlEscapedString>): Promise<Response> {
  return new Response(`<!doctype html>\n${await page}`, {
    headers: { "content-type": "text/html; charset=utf-8", "cache-control": "no-cache" },
  });
}

function asset(body: string, contentType: string): Response {
  return new Response(body, { headers: { "content-type": contentType, "cache-control": "no-cache" } });
}

const viewer = new Hono<AppEnv>({ strict: true })
  // The whole surface is 404 while DEBUG_TOKEN is unset (http/auth.ts GATED_SURFACES, before any route).
  .use("/debug", viewerHeaders)
  .use("/debug/*", viewerHeaders)
  .get("/debug", () => shell(<ConversationsPage />))
  .get("/debug/c/:conv_id", (c) => shell(<ConversationPage convId={c.req.param("conv_id")} />))
  .get("/debug/t/:conv_id/:session_id/:turn_id", (c) =>
    shell(<TurnPage convId={c.req.param("conv_id")} sessionId={c.req.param("session_id")} turnId={c.req.param("turn_id")} />),
  )
  .get(SCRIPT_PATH, () => asset(VIEWER_SCRIPT, "text/javascript; charset=utf-8"))
  .get(STYLE_PATH, () => asset(VIEWER_STYLE, "text/css; charset=utf-8"))
  .get(ICON_PATH, () => asset(VIEWER_ICON, "image/svg+xml"));

export default viewer;
