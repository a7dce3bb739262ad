/**
 * The webchat example (examples/webchat/) in a real headless Chromium, started exactly as
 * `npm run example:webchat` starts it (startWebchatExample: Turnstore's `wrangler dev` on a local D1
 * under a temp dir, and the example's backend Worker): a visitor chats three turns, switches the
 * runtime, reloads and continues (also in the middle of a turn), outlives a short-lived token, opens
 * a second tab, and is rate limited; the debug API and the viewer then show every turn with the
 * runtime that produced it, and a backend minting offline (TOKEN_SOURCE=offline) gives tokens
 * Turnstore takes.
 * From inside the page it checks CORS as a browser applies it: the preflight for Authorization on
 * every route a conversation token may call, for the page's origin and for another one, and which
 * response headers a page can read. Takes the screenshots shown in examples/webchat/README.md — into
 * docs/img/ with TURNSTORE_SCREENSHOTS=docs (the conversation's ids and times differ from run to run,
 * so a plain test run writes them to a temporary folder and leaves the committed ones alone).
 * Skipped, with a message, only when /usr/bin/chromium is absent (scripts/ensure-chromium.sh).
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXAMPLE_TOKENS, startWebchatExample, type WebchatExample } from "../../../examples/webchat/start";
import { freePort, ROOT, startDev } from "../../../tools/wrangler-dev";

const CHROMIUM = "/usr/bin/chromium";
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) {
  console.warn(
    `webchat browser test SKIPPED: ${CHROMIUM} not found. Install it with scripts/ensure-chromium.sh (apt-get install chromium).`,
  );
}

const SCREENSHOTS =
  process.env.TURNSTORE_SCREENSHOTS === "docs" ? join(ROOT, "docs", "img") : join(tmpdir(), "turnstore-webchat-screenshots");
/** Short, so the test outlives a token (the mint route allows 1..86400 s), yet longer than a few turns. */
const TOKEN_TTL_SECONDS = 15;
const RATE_WINDOW_MS = 10_000;
// Waits are generous because CI machines are shared; nothing here asserts on time.
const POLL = { timeout: 30_000 };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** What the page asked Turnstore (preflights are not listed: the browser sends them on its own). */
interface TurnstoreCall {
  method: string;
  path: string;
  status: number;
  /** POST /api/turns: the snapshot's phase and whether it went as a delta (with a prefix). */
  phase?: string;
  delta?: boolean;
}

describe.skipIf(!haveChromium)("webchat example in headless Chromium", () => {
  let example: WebchatExample;
  let context: BrowserContext;
  let page: Page;
  let persistTo: string;
  let profile: string;
  /** A page on an origin Turnstore's CORS_ORIGINS does not list. */
  let elsewhere: Server;
  let elsewhereUrl: string;
  const calls: TurnstoreCall[] = [];
  const tokenRequests: Array<{ expires_at_ms: number }> = [];
  const problems: string[] = [];
  let convId = "";

  const debugApi = async (path: string) => {
    const res = await fetch(example.turnstore.url + path, { headers: { authorization: `Bearer ${EXAMPLE_TOKENS.DEBUG_TOKEN}` } });
    expect(res.status, path).toBe(200);
    return res.json();
  };
  const assistantCount = (p: Page = page) => p.locator("#messages .msg.assistant").count();
  /** Types a message and waits until its turn is answered and recorded. */
  async function ask(text: string, p: Page = page): Promise<void> {
    const before = await assistantCount(p);
    await p.fill("#message", text);
    await p.press("#message", "Enter");
    await expect.poll(() => assistantCount(p), POLL).toBe(before + 1);
    await p.locator('body[data-busy="false"]').waitFor();
    expect(await p.getAttribute("#status", "data-kind")).toBe("info");
  }
  const chips = (p: Page = page) => p.$$eval("#messages .msg.assistant .chip", (spans) => spans.map((s) => s.textContent));
  /**
   * Turnstore's answers since `from`, but 401s: a token may expire during any step on a slow machine,
   * and the page then sends the refused request again with a new one (the expiry test looks at those).
   */
  const answered = (from = 0) => calls.slice(from).filter((c) => c.status !== 401);
  const snapshotPosts = (from = 0) => answered(from).filter((c) => c.method === "POST" && c.path === "/api/turns");

  /** Mints a token for a conversation as an app backend does (the ingest token never goes to a browser). */
  async function mint(conv: string): Promise<string> {
    const res = await fetch(`${example.turnstore.url}/api/tokens`, {
      method: "POST",
      headers: { authorization: `Bearer ${EXAMPLE_TOKENS.INGEST_TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({ conv_id: conv }),
    });
    expect(res.status).toBe(201);
    return ((await res.json()) as { token: string }).token;
  }

  /**
   * Spends the conversation's rate budget, then reads the latest turn from the page: what the page
   * can read of Turnstore's 429 (null when no 429 came). The budget is spent from here, many requests
   * at once: one at a time from the page they took ~100 ms each on a loaded machine, too slow to spend
   * 100 units in one 10 s window (the budget refilled before it ran out, and the test timed out).
   */
  async function burst(token: string) {
    const latest = `${example.turnstore.url}/api/conversations/${encodeURIComponent(convId)}/turns/latest`;
    for (let wave = 0; wave < 6; wave++) {
      const statuses = await Promise.all(
        Array.from({ length: 50 }, async () => {
          const res = await fetch(latest, { headers: { authorization: `Bearer ${token}` } });
          await res.arrayBuffer();
          return res.status;
        }),
      );
      if (statuses.includes(429)) break;
    }
    return page.evaluate(
      async ({ url, token }) => {
        const res = await fetch(url, { headers: { Authorization: `Bearer ${token}` } });
        return res.status === 429
          ? { status: res.status, retryAfter: res.headers.get("Retry-After"), requestId: res.headers.get("X-Request-Id") }
          : null;
      },
      { url: latest, token },
    );
  }

  beforeAll(async () => {
    persistTo = mkdtempSync(join(tmpdir(), "turnstore-webchat-d1-"));
    profile = mkdtempSync(join(tmpdir(), "turnstore-webchat-chromium-"));
    example = await startWebchatExample({ persistTo, tokenTtlSeconds: TOKEN_TTL_SECONDS });
    const port = await freePort();
    elsewhere = createServer((_req, res) =>
      res.writeHead(200, { "content-type": "text/html" }).end("<!doctype html><title>elsewhere</title>"),
    );
    await new Promise<void>((resolve) => elsewhere.listen(port, "127.0.0.1", resolve));
    elsewhereUrl = `http://127.0.0.1:${port}/`;

    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
      ],
      viewport: { width: 900, height: 860 },
      deviceScaleFactor: 1,
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(30_000);
    context.on("request", (request) => {
      const url = new URL(request.url());
      if (url.origin !== example.turnstore.url || url.pathname !== "/api/turns" || request.method() !== "POST") return;
      const body = request.postDataJSON() as { phase: string; prefix?: unknown };
      (request as unknown as { snapshot: Partial<TurnstoreCall> }).snapshot = { phase: body.phase, delta: body.prefix !== undefined };
    });
    context.on("response", async (response) => {
      const url = new URL(response.url());
      const request = response.request();
      if (url.origin === example.turnstore.url && url.pathname.startsWith("/api/") && !url.pathname.startsWith("/api/debug")) {
        const snapshot = (request as unknown as { snapshot?: Partial<TurnstoreCall> }).snapshot ?? {};
        calls.push({ method: request.method(), path: url.pathname, status: response.status(), ...snapshot });
      }
      if (url.origin === example.backend.url && url.pathname === "/api/chat-token") tokenRequests.push(await response.json());
    });
    context.on("weberror", (error) => problems.push(`page error: ${error.error().message}`));
    mkdirSync(SCREENSHOTS, { recursive: true });
  }, 180_000);

  afterAll(async () => {
    await context?.close();
    await example?.stop();
    await new Promise((resolve) => (elsewhere ? elsewhere.close(resolve) : resolve(null)));
    for (const dir of [persistTo, profile]) if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("records three turns: pre_inference, the agent's steps and final, the history sent once (deltas)", async () => {
    await page.goto(example.pageUrl);
    await page.locator('body[data-ready="true"]').waitFor();
    convId = (await page.textContent("#conv-id"))!;
    expect(convId).toMatch(/^chat-/);
    expect(await page.textContent("#minted-by")).toBe("POST /api/tokens");

    await ask("How many blue widgets are in stock?");
    await ask("And the red ones?");
    await ask("Any green gadgets left?");
    expect(await chips()).toEqual(["inventory", "inventory", "inventory"]);
    expect(await page.$$eval("#messages .msg.assistant", (items) => items.map((i) => i.lastChild?.textContent))).toEqual([
      "W-BLUE: 42 on hand, 5 of them reserved.",
      "W-RED: 17 on hand, 0 of them reserved.",
      "G-GREEN: 8 on hand, 3 of them reserved.",
    ]);
    const posts = snapshotPosts();
    expect(posts.map((p) => p.phase)).toEqual(Array(3).fill(["pre_inference", "post_tools", "final"]).flat());
    expect(posts.every((p) => p.status === 201)).toBe(true);
    // Only the very first snapshot goes in full: block ids stay the same from turn to turn.
    expect(posts.map((p) => p.delta)).toEqual([false, ...Array(8).fill(true)]);
  });

  it("switches the runtime mid-conversation: announced to Turnstore, the next turn is the planner's", async () => {
    const from = calls.length;
    await page.click("label.runtime.planner");
    await expect.poll(() => page.textContent("#status"), POLL).toMatch(/^Switched to planner/);
    expect(answered(from)).toEqual([{ method: "PUT", path: `/api/conversations/${convId}/runtime`, status: 200 }]);
    await ask("Plan the restock for next week.");
    expect(await chips()).toEqual(["inventory", "inventory", "inventory", "planner"]);
    expect(await page.isChecked("input[name=runtime][value=planner]")).toBe(true);
  });

  it("continues after a reload from the newest turn stored in Turnstore", async () => {
    const before = await page.$$eval("#messages .msg", (items) => items.map((i) => i.textContent));
    const from = calls.length;
    await page.reload();
    await page.locator('body[data-ready="true"]').waitFor();
    expect(await page.textContent("#status")).toBe(`Resumed ${convId} from its newest snapshot in Turnstore.`);
    expect(await page.textContent("#conv-id")).toBe(convId);
    // The page was rebuilt from GET …/turns/latest alone: the same messages, the planner still chosen.
    expect(await page.$$eval("#messages .msg", (items) => items.map((i) => i.textContent))).toEqual(before);
    expect(answered(from)).toEqual([{ method: "GET", path: `/api/conversations/${convId}/turns/latest`, status: 200 }]);
    expect(await page.isChecked("input[name=runtime][value=planner]")).toBe(true);
  });

  it("finishes a turn that a reload interrupted, under its own id", async () => {
    const from = calls.length;
    await page.fill("#message", "And for the week after?");
    const question = page.waitForResponse((r) => r.url().endsWith("/api/turns") && r.status() === 201);
    await page.press("#message", "Enter");
    await question;
    // The tab goes away while the agent is still thinking: the question is stored, the answer is not.
    await page.goto("about:blank");
    await page.goto(example.pageUrl);
    await page.locator('body[data-ready="true"]').waitFor();
    expect(await chips()).toEqual(["inventory", "inventory", "inventory", "planner", "planner"]);
    expect((await page.$$eval("#messages .msg.user", (items) => items.map((i) => i.textContent))).at(-1)).toBe("And for the week after?");
    // The reopened page read the pre_inference snapshot and posted the final one; the latest turn's
    // paths count as known, so even that first post after the reload is a delta.
    expect(answered(from).map((c) => [c.method, c.phase ?? c.path, c.status, c.delta])).toEqual([
      ["POST", "pre_inference", 201, true],
      ["GET", `/api/conversations/${convId}/turns/latest`, 200, undefined],
      ["POST", "final", 201, true],
    ]);
    const turn = await debugApi(`/api/debug/turns?conv_id=${encodeURIComponent(convId)}&limit=2`);
    const [final, preInference] = turn.items as Array<{ turn_id: string; phase: string; inference_id: string; runtime_key: string }>;
    expect([preInference!.phase, final!.phase]).toEqual(["pre_inference", "final"]);
    expect(final).toMatchObject({ turn_id: preInference!.turn_id, inference_id: preInference!.inference_id, runtime_key: "planner" });
  });

  it("gets a new token from the backend when the old one expires, and records the turn", async () => {
    const newest = tokenRequests.at(-1)!;
    await sleep(Math.max(0, newest.expires_at_ms - Date.now()) + 500);
    const from = calls.length;
    const minted = tokenRequests.length;
    await ask("How many blue widgets now?");
    const after = calls.slice(from);
    // Refused with the expired token, then the same snapshot again with the new one.
    expect(after[0]).toMatchObject({ method: "POST", path: "/api/turns", phase: "pre_inference", status: 401 });
    expect(after[1]).toMatchObject({ method: "POST", path: "/api/turns", phase: "pre_inference", status: 201 });
    expect(after.slice(2).map((c) => [c.phase, c.status])).toEqual([["final", 201]]);
    expect(tokenRequests.length).toBe(minted + 1);
    expect(tokenRequests.at(-1)!.expires_at_ms).toBeGreaterThan(Date.now());
    await page.screenshot({ path: join(SCREENSHOTS, "webchat-page.png"), fullPage: true });
  });

  it("keeps a second tab of the conversation up to date", async () => {
    const second = await context.newPage();
    await second.goto(example.pageUrl);
    await second.locator('body[data-ready="true"]').waitFor();
    expect(await second.textContent("#conv-id")).toBe(convId);
    expect(await assistantCount(second)).toBe(await assistantCount());
    await ask("Any red widgets reserved?", second);
    // The first tab hears of the turn without reloading, and is drawn with it.
    await expect.poll(() => assistantCount(), POLL).toBe(await assistantCount(second));
    await second.close();
  });

  it("answers the preflight for Authorization on every route a conversation token may call, for the page's origin only", async () => {
    const conv = `cors-${convId}`;
    const token = await mint(conv);
    const routes: Array<[string, string, string | undefined]> = [
      ["POST", "/api/turns", "{}"],
      ["POST", "/api/turns/batch", "{}"],
      ["PUT", `/api/conversations/${conv}/runtime`, "{}"],
      ["GET", `/api/conversations/${conv}/turns/latest`, undefined],
    ];
    const fromPage = (p: Page) =>
      p.evaluate(
        async ({ base, token, routes }) =>
          Promise.all(
            routes.map(async ([method, path, body]) => {
              try {
                const res = await fetch(base + path, {
                  method,
                  headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
                  body,
                });
                return { path, status: res.status, requestId: res.headers.get("X-Request-Id") };
              } catch (error) {
                return { path, error: String(error) };
              }
            }),
          ),
        { base: example.turnstore.url, token, routes },
      );

    // The page's origin: every preflight passes, the answers reach the page with their request id
    // (400: the bodies are empty on purpose; 404: the conversation has no turn).
    const allowed = await fromPage(page);
    expect(allowed.map((r) => [r.path, r.status])).toEqual([
      ["/api/turns", 400],
      ["/api/turns/batch", 400],
      [`/api/conversations/${conv}/runtime`, 400],
      [`/api/conversations/${conv}/turns/latest`, 404],
    ]);
    for (const r of allowed) expect(r.requestId).toMatch(/^[0-9a-f-]{36}$/);

    // Another origin: the browser refuses each request because its preflight was refused.
    const other = await context.newPage();
    await other.goto(elsewhereUrl);
    const refused = await fromPage(other);
    expect(refused).toEqual(routes.map(([, path]) => ({ path, error: "TypeError: Failed to fetch" })));
    await other.close();
    // That was Turnstore's refusal: 403 ORIGIN_NOT_ALLOWED for the origin.
    const preflight = await fetch(example.turnstore.url + routes[0]![1], {
      method: "OPTIONS",
      headers: {
        origin: new URL(elsewhereUrl).origin,
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization",
      },
    });
    expect(preflight.status).toBe(403);
    expect(preflight.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("reads Retry-After in the page and waits out a 429 before recording the turn", async () => {
    const token = await mint(convId);
    // The limiter counts in fixed 10 s windows: the burst and the visitor's turn must share one.
    // Start at a window's beginning, and again when the burst left too little of it (a slow machine).
    let limited: { status: number; retryAfter: string | null; requestId: string | null } | null = null;
    for (let tries = 0; tries < 3 && (limited === null || Date.now() % RATE_WINDOW_MS > RATE_WINDOW_MS - 4_000); tries++) {
      await sleep(RATE_WINDOW_MS - (Date.now() % RATE_WINDOW_MS) + 100);
      limited = await burst(token);
    }
    // Retry-After and X-Request-Id are not CORS-safelisted: the page reads them because they are exposed.
    expect(limited).toMatchObject({ status: 429, retryAfter: "10", requestId: expect.stringMatching(/^[0-9a-f-]{36}$/) });

    const from = calls.length;
    const before = await assistantCount();
    await page.fill("#message", "How many red widgets after the rush?");
    await page.press("#message", "Enter");
    await expect.poll(() => page.textContent("#status"), POLL).toMatch(/^Turnstore answered 429 RATE_LIMITED: retrying in 10 s/);
    expect(await page.getAttribute("#status", "data-kind")).toBe("wait");
    await expect.poll(() => assistantCount(), POLL).toBe(before + 1);
    await page.locator('body[data-busy="false"]').waitFor();
    const posts = snapshotPosts(from);
    expect(posts[0]).toMatchObject({ phase: "pre_inference", status: 429 });
    // After the wait (and a new token if this one expired meanwhile) the planner's turn is recorded.
    expect(posts.filter((p) => p.status === 201).map((p) => p.phase)).toEqual(["pre_inference", "final"]);
  }, 90_000);

  it("shows every turn with its own runtime in the debug API and the viewer; the history shows the switch", async () => {
    const finals = await debugApi(`/api/debug/turns?conv_id=${encodeURIComponent(convId)}&phase=final`);
    const runtimes = (finals.items as Array<{ turn_id: string; runtime_key: string; created_at_ms: number }>)
      .sort((a, b) => a.created_at_ms - b.created_at_ms)
      .map((i) => [i.turn_id.replace(/-[0-9a-f]{4}$/, ""), i.runtime_key]);
    expect(runtimes).toEqual([
      ["turn-1", "inventory"],
      ["turn-2", "inventory"],
      ["turn-3", "inventory"],
      ["turn-4", "planner"],
      ["turn-5", "planner"],
      ["turn-6", "planner"],
      ["turn-7", "planner"],
      ["turn-8", "planner"],
    ]);
    const conversation = await debugApi(`/api/debug/conversations/${encodeURIComponent(convId)}`);
    expect(conversation.resolved_runtime_key).toBe("planner");
    expect(conversation.runtime_history.map((s: { runtime_key: string; turn_count: number }) => [s.runtime_key, s.turn_count])).toEqual([
      ["inventory", 3],
      ["planner", 5],
    ]);

    await page.goto(`${example.viewerUrl}/c/${encodeURIComponent(convId)}`);
    await page.fill("#token-input", EXAMPLE_TOKENS.DEBUG_TOKEN);
    await page.click("#token-form button[type=submit]");
    await page.locator("#turns > li.turn").nth(7).waitFor();
    expect(await page.$$eval("#band .seg", (segs) => segs.map((s) => (s as HTMLElement).dataset.runtime))).toEqual([
      "inventory",
      "planner",
    ]);
    const turns = await page.$$eval("#turns > li.turn", (lis) =>
      lis.map((li) => Array.from(new Set(Array.from(li.querySelectorAll(".snap .tag"), (t) => t.textContent)))),
    );
    expect(turns).toEqual([...Array(5).fill(["planner"]), ...Array(3).fill(["inventory"])]);
    await page.setViewportSize({ width: 1200, height: 900 });
    await page.screenshot({ path: join(SCREENSHOTS, "webchat-viewer.png") });
  });

  it("mints offline too (TOKEN_SOURCE=offline): Turnstore takes the backend's own tokens", async () => {
    const offline = await startDev({
      config: "examples/webchat/wrangler.toml",
      persistTo: join(persistTo, "offline-backend"),
      skipMigrations: true,
      vars: { TURNSTORE_URL: example.turnstore.url, TOKEN_SOURCE: "offline", TOKEN_SIGNING_KEY: EXAMPLE_TOKENS.TOKEN_SIGNING_KEY },
    });
    try {
      const res = await fetch(`${offline.url}/api/chat-token`, { method: "POST", body: "{}" });
      const session = (await res.json()) as { conv_id: string; session_id: string; token: string; minted_by: string };
      expect(session).toMatchObject({ minted_by: "offline", conv_id: expect.stringMatching(/^chat-/) });
      const write = await fetch(`${example.turnstore.url}/api/turns`, {
        method: "POST",
        headers: { authorization: `Bearer ${session.token}`, "content-type": "application/json", origin: new URL(example.pageUrl).origin },
        body: JSON.stringify({
          conv_id: session.conv_id,
          session_id: session.session_id,
          runtime_key: "inventory",
          turn: { id: "t1", blocks: [] },
        }),
      });
      expect(write.status).toBe(201);
    } finally {
      await offline.stop();
    }
  });

  it("met no script error on the way", () => {
    expect(problems).toEqual([]);
  });
});
