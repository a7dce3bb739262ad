/**
 * The debug viewer in a real headless Chromium against `wrangler dev` (loopback, its own D1 under a
 * temp dir), with data seeded through the public write API: a conversation that switches from the
 * inventory runtime to the planner runtime, a block holding "<script>alert(1)</script>", a turn of 120
 * snapshots (custom phase "failed" among them), a conversation of 100 runtime segments; and, written
 * straight into D1 because the write API need not accept it, a conversation whose stored times a
 * JavaScript Date cannot hold. Saves the screenshots shown in the README to docs/img/.
 * Skipped, with a message, only when /usr/bin/chromium is absent (scripts/ensure-chromium.sh installs it).
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { applyMigrationsLocal, ROOT, startDev, wranglerSync, type DevServer } from "../../../tools/wrangler-dev";

const CHROMIUM = "/usr/bin/chromium";
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) {
  console.warn(
    `viewer browser test SKIPPED: ${CHROMIUM} not found. Install it with scripts/ensure-chromium.sh (apt-get install chromium).`,
  );
}

const PORT = 8791;
const INGEST_TOKEN = "viewer-ingest-token";
const DEBUG_TOKEN = "viewer-debug-token";
const SCREENSHOTS = join(ROOT, "docs", "img");
const HOSTILE = "<script>alert(1)</script>";
// Waits are generous because CI machines are shared; nothing here asserts on time.
const POLL = { timeout: 20_000 };

// Fixed times so the screenshots are the same from run to run.
const T0 = Date.UTC(2026, 3, 20, 9, 0, 0);
const MINUTE = 60_000;
const CONV = "conv-7f3a-warehouse";
const SESSION = "sess-a91c";

function snapshot(
  turnId: string,
  phase: string,
  at: number,
  runtimeKey: string,
  inferenceId: string,
  blocks: unknown[],
  conv = CONV,
  session = SESSION,
) {
  return {
    conv_id: conv,
    session_id: session,
    turn_id: turnId,
    phase,
    created_at_ms: at,
    ...(runtimeKey ? { runtime_key: runtimeKey } : {}),
    ...(inferenceId ? { inference_id: inferenceId } : {}),
    turn: { id: turnId, blocks, metadata: { "geppetto.session_id@v1": session } },
  };
}

const system = { kind: "system", role: "system", payload: { text: "You are the warehouse assistant. Answer from tool results only." } };
const ask = { kind: "user", role: "user", payload: { text: "How many blue widgets are in stock in the north warehouse?" } };
const call = {
  kind: "tool_call",
  payload: { id: "call-1", name: "inventory.lookup", args: { sku: "W-BLUE", warehouse: "north" } },
  metadata: { "geppetto.tool_latency_ms@v1": 41 },
};
const result = { kind: "tool_use", payload: { id: "call-1", result: { sku: "W-BLUE", on_hand: 42, reserved: 5 } } };
const answer = { kind: "llm_text", payload: { text: "There are 42 blue widgets in the north warehouse (5 of them reserved)." } };

/** A conversation inventory → planner, plus two small ones for the list. */
function seedItems() {
  return [
    snapshot("turn-001", "pre_inference", T0, "inventory", "inf-0001", [system, ask]),
    snapshot("turn-001", "post_tools", T0 + 4_000, "inventory", "inf-0001", [system, ask, call, result]),
    snapshot("turn-001", "final", T0 + 6_000, "inventory", "inf-0001", [system, ask, call, result, answer]),
    snapshot("turn-002", "final", T0 + 2 * MINUTE, "inventory", "inf-0002", [
      { kind: "user", role: "user", payload: { text: `Can you render this for me? ${HOSTILE}` } },
      { kind: "llm_text", payload: { text: `I will show it as text only: ${HOSTILE}` } },
    ]),
    snapshot("turn-003", "pre_inference", T0 + 5 * MINUTE, "planner", "inf-0003", [
      { kind: "user", role: "user", payload: { text: "Plan the restock for next week." } },
    ]),
    snapshot("turn-003", "final", T0 + 5 * MINUTE + 9_000, "planner", "inf-0003", [
      { kind: "user", role: "user", payload: { text: "Plan the restock for next week." } },
      { kind: "reasoning", payload: { text: "Stock is 42 with 5 reserved; weekly demand is about 60, so order at least 25." } },
      { kind: "llm_text", payload: { text: "Order 30 blue widgets on Monday; they arrive Wednesday." } },
    ]),
    snapshot("turn-004", "final", T0 + 7 * MINUTE, "planner", "inf-0004", [
      { kind: "user", role: "user", payload: { text: "And the red ones?" } },
      { kind: "llm_text", payload: { text: "Red widgets are fine for two weeks." } },
    ]),
    snapshot(
      "turn-a1",
      "final",
      T0 - 3 * 24 * 60 * MINUTE,
      "",
      "",
      [{ kind: "user", role: "user", payload: { text: "legacy turn" } }],
      "conv-2b10-legacy",
      "sess-old",
    ),
    snapshot(
      "turn-b1",
      "final",
      T0 - 60 * MINUTE,
      "inventory",
      "inf-0100",
      [{ kind: "user", role: "user", payload: { text: "hello" } }],
      "conv-9c44-returns",
      "sess-b22",
    ),
    ...fillerConversations(),
  ];
}

/** One turn of many snapshots (the turn page reads 50 at a time), growing to 60 blocks; phases include a custom "failed". */
const LONG_CONV = "conv-5e11-long-turn";
const LONG_SESSION = "sess-5e11";
const LONG_TURN = "turn-long";
const LONG_SNAPSHOTS = 120;
const longPhase = (i: number) =>
  i === LONG_SNAPSHOTS - 1 ? "final" : i % 10 === 9 ? "failed" : i % 2 === 1 ? "post_tools" : "pre_inference";
function longTurn() {
  return Array.from({ length: LONG_SNAPSHOTS }, (_, i) =>
    snapshot(
      LONG_TURN,
      longPhase(i),
      T0 - 36 * 60 * MINUTE + i * 1_000,
      "planner",
      "inf-long",
      Array.from({ length: Math.min(i + 1, 60) }, (_, b) =>
        b % 2 === 0
          ? { kind: "user", role: "user", payload: { text: `step ${b}: go on` } }
          : { kind: "llm_text", payload: { text: `step ${b}: done` } },
      ),
      LONG_CONV,
      LONG_SESSION,
    ),
  );
}

/** A conversation that switches runtime on every turn: 100 segments in the band. */
const SWITCH_CONV = "conv-3d77-switches";
const SWITCH_TURNS = 100;
const SWITCH_RUNTIMES = ["inventory", "planner", "returns"];
function switchingConversation() {
  return Array.from({ length: SWITCH_TURNS }, (_, i) =>
    snapshot(
      `turn-${String(i).padStart(3, "0")}`,
      "final",
      T0 - 30 * 60 * MINUTE + i * MINUTE,
      SWITCH_RUNTIMES[i % 3]!,
      `inf-s${i}`,
      [{ kind: "user", role: "user", payload: { text: `switch ${i}` } }],
      SWITCH_CONV,
      "sess-3d77",
    ),
  );
}

/**
 * Stored times beyond what a Date holds (2^53 − 1 ms): toISOString throws on them, and one such row
 * used to blank the list. Written with SQL, as a legacy import could have.
 */
const FAR = Number.MAX_SAFE_INTEGER;
const FAR_CONV = "conv-0ff0-far-future";
const FAR_SESSION = "sess-0ff0";
const FAR_TURN = "turn-far";
const FAR_SQL = [
  `INSERT INTO conversations (conv_id, session_id, current_runtime_key, current_runtime_at_ms, created_at_ms, last_activity_ms, turn_count, snapshot_count)
   VALUES ('${FAR_CONV}', '${FAR_SESSION}', 'planner', ${FAR}, ${FAR}, ${FAR}, 1, 1)`,
  `INSERT INTO turns (conv_id, session_id, turn_id, turn_created_at_ms, updated_at_ms, runtime_key, inference_id, runtime_key_at_ms, inference_id_at_ms)
   VALUES ('${FAR_CONV}', '${FAR_SESSION}', '${FAR_TURN}', ${FAR}, ${FAR}, 'planner', 'inf-far', ${FAR}, ${FAR})`,
  `INSERT INTO turn_snapshots (id, conv_id, session_id, turn_id, phase, created_at_ms, runtime_key, inference_id, block_refs_json)
   VALUES (1, '${FAR_CONV}', '${FAR_SESSION}', '${FAR_TURN}', 'final', ${FAR}, 'planner', 'inf-far', '[]')`,
].join(";\n");

/** Older conversations, enough that the list needs a second page (the viewer asks for 50 at a time). */
const FILLERS = 52;
/** Everything in the list: the three of seedItems, the long turn, the switches, the far future, and the fillers. */
const CONVERSATIONS = 6 + FILLERS;
function fillerConversations() {
  const runtimes = ["inventory", "planner", "returns", ""];
  return Array.from({ length: FILLERS }, (_, i) => {
    const suffix = (0x1a2b + i * 7919).toString(16);
    return snapshot(
      "turn-1",
      "final",
      T0 - 10 * 24 * 60 * MINUTE - i * 37 * MINUTE,
      runtimes[i % 4]!,
      `inf-f${i}`,
      [{ kind: "user", role: "user", payload: { text: `question ${i}` } }],
      `conv-${suffix}`,
      `sess-${suffix}`,
    );
  });
}

async function send(server: DevServer, method: string, path: string, body: unknown) {
  const response = await fetch(server.url + path, {
    method,
    headers: { authorization: `Bearer ${INGEST_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
}

describe.skipIf(!haveChromium)("debug viewer in headless Chromium", () => {
  let server: DevServer;
  let context: BrowserContext;
  let page: Page;
  let persistTo: string;
  let profile: string;
  const dialogs: string[] = [];
  const problems: string[] = [];
  /** Every debug API request the pages make, to check what they read. */
  const apiRequests: string[] = [];

  beforeAll(async () => {
    persistTo = mkdtempSync(join(tmpdir(), "turnstore-viewer-d1-"));
    profile = mkdtempSync(join(tmpdir(), "turnstore-viewer-chromium-"));
    applyMigrationsLocal(persistTo);
    wranglerSync(["d1", "execute", "DB", "--local", "--persist-to", persistTo, "--command", FAR_SQL]);
    server = await startDev({ port: PORT, persistTo, vars: { INGEST_TOKEN, DEBUG_TOKEN }, skipMigrations: true });
    const items = seedItems();
    // The switch to planner is announced between turn-002 and turn-003, as a frontend would.
    await send(server, "POST", "/api/turns/batch", { items: items.slice(0, 4) });
    await send(server, "PUT", `/api/conversations/${CONV}/runtime`, { runtime_key: "planner", at_ms: T0 + 4 * MINUTE });
    await send(server, "POST", "/api/turns/batch", { items: items.slice(4) });
    const long = longTurn();
    for (let i = 0; i < long.length; i += 100) await send(server, "POST", "/api/turns/batch", { items: long.slice(i, i + 100) });
    await send(server, "POST", "/api/turns/batch", { items: switchingConversation() });

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
      viewport: { width: 1200, height: 800 },
      deviceScaleFactor: 1,
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(20_000);
    page.on("dialog", (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
    page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
    // A CSP violation shows up as a console error; failed loads are recorded with their URL.
    page.on("console", (message) => {
      if (message.type() === "error" && !message.text().startsWith("Failed to load resource")) problems.push(`console: ${message.text()}`);
    });
    page.on("response", (response) => {
      if (response.status() >= 400) problems.push(`${response.status()} ${response.url()}`);
    });
    page.on("request", (request) => {
      const url = new URL(request.url());
      if (url.pathname.startsWith("/api/debug/")) apiRequests.push(url.pathname + url.search);
    });
    mkdirSync(SCREENSHOTS, { recursive: true });
  });

  afterAll(async () => {
    await context?.close();
    await server?.stop();
    for (const dir of [persistTo, profile]) if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("asks for the token once, keeps it out of URLs and cookies, and lists conversations newest first", async () => {
    await page.goto(`${server.url}/debug`);
    await page.locator("#token-form").waitFor({ state: "visible" });
    expect(await page.locator("#view").isHidden()).toBe(true);
    await page.fill("#token-input", DEBUG_TOKEN);
    await page.click("#token-form button[type=submit]");
    await page.locator("#conversation-rows tr").nth(2).waitFor();

    const rows = await page.$$eval("#conversation-rows tr", (trs) =>
      trs.map((tr) => Array.from(tr.querySelectorAll("td"), (td) => td.textContent?.trim() ?? "")),
    );
    const row = (convId: string) => rows.find((r) => r[0] === convId);
    expect(rows.slice(0, 6).map((r) => r[0])).toEqual([FAR_CONV, CONV, "conv-9c44-returns", SWITCH_CONV, LONG_CONV, "conv-2b10-legacy"]);
    expect(row(CONV)).toEqual([CONV, SESSION, "planner", "2026-04-20 09:07:00.000 UTC", "4"]);
    expect(row("conv-2b10-legacy")![2]).toBe("unknown");
    // A stored time no Date can hold shows as its raw value, and the rows around it render.
    expect(row(FAR_CONV)).toEqual([FAR_CONV, FAR_SESSION, "planner", "9007199254740991 ms", "1"]);
    await page.screenshot({ path: join(SCREENSHOTS, "viewer-conversations.png") });

    // Paging: 50 first, then the rest behind "Load more", without repeats, still newest first.
    expect(rows).toHaveLength(50);
    await page.click("#more");
    await expect.poll(() => page.locator("#conversation-rows tr").count(), POLL).toBe(CONVERSATIONS);
    expect(await page.locator("#more").isHidden()).toBe(true);
    const all = await page.$$eval("#conversation-rows tr", (trs) =>
      trs.map((tr) => [tr.querySelector("td")!.textContent!, tr.querySelectorAll("td")[3]!.textContent!]),
    );
    expect(new Set(all.map(([id]) => id)).size).toBe(CONVERSATIONS);
    expect(all.map(([, at]) => at)).toEqual(
      all
        .map(([, at]) => at)
        .sort()
        .reverse(),
    );

    expect(page.url()).toBe(`${server.url}/debug`);
    expect(await page.evaluate(() => document.cookie)).toBe("");
    expect(await page.evaluate(() => sessionStorage.getItem("turnstore.debugToken"))).toBe(DEBUG_TOKEN);
  });

  it("shows the runtime switch as a band of two runtimes in order, and each turn with its own runtime", async () => {
    await page.click(`#conversation-rows a:text-is("${CONV}")`);
    await page.waitForURL(`${server.url}/debug/c/${CONV}`);
    await page.locator("#turns .snap").nth(6).waitFor();
    // The token was asked once: the form stays hidden on the next page.
    expect(await page.locator("#token-form").isHidden()).toBe(true);

    const band = await page.$$eval("#band .seg", (segs) =>
      segs.map((s) => ({ runtime: (s as HTMLElement).dataset.runtime, text: s.textContent, colour: getComputedStyle(s).backgroundColor })),
    );
    expect(band.map((s) => s.runtime)).toEqual(["inventory", "planner"]);
    expect(band.map((s) => s.text)).toEqual(["inventory", "planner"]);
    expect(band[0]!.colour).not.toBe(band[1]!.colour);
    // Two segments fit: no sideways scrolling, so no "scroll sideways" note.
    expect(await page.locator("#band-axis .segment-count").count()).toBe(0);
    expect(await page.$$eval("#legend li", (lis) => lis.map((li) => (li as HTMLElement).dataset.runtime))).toEqual([
      "inventory",
      "planner",
    ]);
    expect(await page.textContent("#history-sequence")).toBe("inventory → planner");

    // Turns newest first; every snapshot carries its own runtime, not the pointer (planner).
    const turns = await page.$$eval("#turns > li.turn", (lis) =>
      lis.map((li) => ({
        turn: (li as HTMLElement).dataset.turnId,
        runtimes: Array.from(li.querySelectorAll(".snap .tag"), (t) => t.textContent),
        inferences: Array.from(li.querySelectorAll(".snap .inference"), (t) => t.textContent),
      })),
    );
    expect(turns.map((t) => t.turn)).toEqual(["turn-004", "turn-003", "turn-002", "turn-001"]);
    expect(turns[3]).toEqual({
      turn: "turn-001",
      runtimes: ["inventory", "inventory", "inventory"],
      inferences: Array(3).fill("inference inf-0001"),
    });
    expect(turns[0]!.runtimes).toEqual(["planner"]);
    // Summaries only: the block count comes with the list, the payloads do not.
    expect(await page.locator("#turns .snap .blocks-count").first().textContent()).toBe("2 blocks");
    expect(apiRequests.filter((r) => r.startsWith("/api/debug/turns?"))).toSatisfy(
      (reads: string[]) => reads.length > 0 && reads.every((r) => r.includes("payload=none")),
    );
    // The phase filter offers the phases this conversation has, not a fixed list.
    expect(await page.$$eval("#filter-phase option", (os) => os.map((o) => o.textContent))).toEqual([
      "all",
      "pre_inference",
      "post_tools",
      "final",
    ]);
    await page.screenshot({ path: join(SCREENSHOTS, "viewer-conversation.png"), fullPage: true });

    // Filter by runtime: only the inventory turns remain, and the filter is in the query string.
    await page.selectOption("#filter-runtime", "=inventory");
    await page.waitForURL(`${server.url}/debug/c/${CONV}?runtime=inventory`);
    await expect
      .poll(() => page.$$eval("#turns > li.turn", (lis) => lis.map((li) => (li as HTMLElement).dataset.turnId)), POLL)
      .toEqual(["turn-002", "turn-001"]);
    // And by phase: only the final snapshots.
    await page.selectOption("#filter-phase", "final");
    await expect
      .poll(() => page.$$eval("#turns .snap", (snaps) => snaps.map((s) => (s as HTMLElement).dataset.phase)), POLL)
      .toEqual(["final", "final"]);
  });

  it("reads on a phone width without sideways scrolling", async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    const fitsWidth = () => page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
    await page.goto(`${server.url}/debug`);
    await page.locator("#conversation-rows tr").nth(2).waitFor();
    expect(await fitsWidth()).toBe(true);
    await page.goto(`${server.url}/debug/t/${CONV}/${SESSION}/turn-001`);
    await page.locator("#diff table").waitFor();
    expect(await fitsWidth()).toBe(true);
    await page.goto(`${server.url}/debug/c/${CONV}`);
    await page.locator("#turns .snap").nth(6).waitFor();
    expect(await fitsWidth()).toBe(true);
    await page.screenshot({ path: join(SCREENSHOTS, "viewer-phone.png") });
    await page.setViewportSize({ width: 1200, height: 800 });
  });

  it("shows every snapshot of a turn with its blocks by kind, and a diff between two snapshots", async () => {
    await page.goto(`${server.url}/debug/c/${CONV}`);
    await page.click('#turns a:text-is("turn-001")');
    await page.waitForURL(`${server.url}/debug/t/${CONV}/${SESSION}/turn-001`);
    await page.locator("#snapshots .snapshot").nth(2).waitFor();

    // Newest open, the others folded (their blocks are built when first opened); "Expand all" opens them.
    const openStates = () => page.$$eval("#snapshots details.snapshot", (all) => all.map((d) => (d as HTMLDetailsElement).open));
    expect(await openStates()).toEqual([true, false, false]);
    await page.click("#expand-all");
    expect(await openStates()).toEqual([true, true, true]);

    const snapshots = await page.$$eval("#snapshots .snapshot", (sections) =>
      sections.map((s) => ({
        phase: (s as HTMLElement).dataset.phase,
        runtime: (s as HTMLElement).dataset.runtime,
        kinds: Array.from(s.querySelectorAll(".block"), (b) => (b as HTMLElement).dataset.kind),
      })),
    );
    expect(snapshots).toEqual([
      { phase: "final", runtime: "inventory", kinds: ["system", "user", "tool_call", "tool_use", "llm_text"] },
      { phase: "post_tools", runtime: "inventory", kinds: ["system", "user", "tool_call", "tool_use"] },
      { phase: "pre_inference", runtime: "inventory", kinds: ["system", "user"] },
    ]);
    const newest = page.locator("#snapshots .snapshot").first();
    expect(await newest.locator(".kind-tool_call .tool-name").textContent()).toBe("inventory.lookup");
    expect(JSON.parse((await newest.locator(".kind-tool_call pre.arguments").textContent())!)).toEqual({
      sku: "W-BLUE",
      warehouse: "north",
    });
    expect(JSON.parse((await newest.locator(".kind-tool_use pre.result").textContent())!)).toMatchObject({ on_hand: 42 });
    expect(await newest.locator(".kind-llm_text .text").textContent()).toContain("42 blue widgets");
    // Block metadata is there but folded.
    const metadata = newest.locator(".kind-tool_call details");
    expect(await metadata.evaluate((d) => (d as HTMLDetailsElement).open)).toBe(false);
    expect(await metadata.locator("summary").textContent()).toBe("metadata (1)");

    // Default diff: the previous snapshot (post_tools) against the newest (final): the answer block is added.
    const added = await page.$$eval("#diff td.ins:not(.ln)", (tds) => tds.map((td) => td.textContent));
    expect(added.join("\n")).toContain("42 blue widgets");
    expect(await page.locator("#diff td.del:not(.ln)").count()).toBe(0);
    await page.selectOption("#diff-left", "2");
    expect(await page.textContent("#diff .diff-summary")).toMatch(/^−0 line\(s\) on the left, \+\d+ line\(s\) on the right/);
    // The screenshot shows the page as it opens: newest snapshot open, the others folded, the default diff.
    await page.reload();
    await page.locator("#diff table").waitFor();
    await page.screenshot({ path: join(SCREENSHOTS, "viewer-turn.png"), fullPage: true });
  });

  it("reads a turn of 120 snapshots 50 at a time, folded but the newest, with expand and collapse all", async () => {
    const requestsBefore = apiRequests.length;
    await page.goto(`${server.url}/debug/t/${LONG_CONV}/${LONG_SESSION}/${LONG_TURN}`);
    const details = page.locator("#snapshots details.snapshot");
    await details.nth(49).waitFor();
    // The newest two hold the same 60 blocks (only their phases differ), which the diff says.
    expect(await page.textContent("#diff .diff-summary")).toBe("The two payloads are identical.");
    expect(await details.count()).toBe(50);
    const openCount = () => page.$$eval("#snapshots details.snapshot", (all) => all.filter((d) => (d as HTMLDetailsElement).open).length);
    expect(await openCount()).toBe(1);
    // Only the open snapshot has its blocks built: the page stays small and short.
    expect(await details.first().locator(".block").count()).toBe(60);
    expect(await page.locator("#snapshots .block").count()).toBe(60);
    expect(await page.evaluate(() => document.getElementsByTagName("*").length)).toBeLessThan(2_500);
    expect(await page.evaluate(() => document.documentElement.scrollHeight)).toBeLessThan(12_000);
    expect(await details.first().getAttribute("data-phase")).toBe("final");
    expect(await page.textContent("#loaded")).toBe("The newest 50 snapshots; older ones below “Load more”.");

    // Opening one by hand builds its blocks.
    await details.nth(1).locator("summary").click();
    await expect.poll(() => details.nth(1).locator(".block").count(), POLL).toBe(60);

    await page.click("#more");
    await expect.poll(() => details.count(), POLL).toBe(100);
    await page.click("#more");
    await expect.poll(() => details.count(), POLL).toBe(LONG_SNAPSHOTS);
    expect(await page.locator("#more").isHidden()).toBe(true);
    expect(await page.textContent("#loaded")).toBe(`All ${LONG_SNAPSHOTS} snapshots loaded.`);
    expect(await details.last().getAttribute("data-phase")).toBe("pre_inference");
    expect(await page.locator("#diff-left option").count()).toBe(LONG_SNAPSHOTS);
    // Never more than 50 snapshots per request.
    const turnReads = apiRequests.slice(requestsBefore).filter((r) => r.startsWith("/api/debug/turn/"));
    expect(turnReads).toHaveLength(3);
    expect(turnReads.every((r) => r.includes("limit=50"))).toBe(true);

    await page.click("#expand-all");
    expect(await openCount()).toBe(LONG_SNAPSHOTS);
    const blocks = longTurn().reduce((sum, item) => sum + item.turn.blocks.length, 0);
    expect(await page.locator("#snapshots .block").count()).toBe(blocks);
    await page.click("#collapse-all");
    expect(await openCount()).toBe(0);
  });

  it("offers custom phases such as failed in the phase filter, and pages the conversation's summaries", async () => {
    await page.goto(`${server.url}/debug/c/${LONG_CONV}`);
    await page.locator("#turns .snap").nth(99).waitFor();
    expect(await page.locator("#turns .snap").count()).toBe(100);
    await page.click("#more");
    await expect.poll(() => page.locator("#turns .snap").count(), POLL).toBe(LONG_SNAPSHOTS);
    await expect
      .poll(() => page.$$eval("#filter-phase option", (os) => os.map((o) => o.textContent)), POLL)
      .toEqual(["all", "pre_inference", "post_tools", "final", "failed"]);
    expect(await page.locator("#phase-note").isHidden()).toBe(true);

    await page.selectOption("#filter-phase", "failed");
    await page.waitForURL(`${server.url}/debug/c/${LONG_CONV}?phase=failed`);
    const failed = longTurn().filter((item) => item.phase === "failed").length;
    await expect
      .poll(() => page.$$eval("#turns .snap", (snaps) => snaps.map((s) => (s as HTMLElement).dataset.phase)), POLL)
      .toEqual(Array(failed).fill("failed"));
    // The filter survives a reload: it lives in the query string.
    await page.reload();
    await expect.poll(() => page.locator("#turns .snap").count(), POLL).toBe(failed);
    expect(await page.inputValue("#filter-phase")).toBe("failed");
  });

  it("keeps a band of 100 runtime segments readable: a minimum width each, scrolling sideways", async () => {
    await page.goto(`${server.url}/debug/c/${SWITCH_CONV}`);
    await page
      .locator("#band .seg")
      .nth(SWITCH_TURNS - 1)
      .waitFor();
    const widths = await page.$$eval("#band .seg", (segs) => segs.map((s) => s.getBoundingClientRect().width));
    expect(widths).toHaveLength(SWITCH_TURNS);
    expect(Math.min(...widths)).toBeGreaterThanOrEqual(63); // 4rem, less rounding
    expect(await page.$$eval("#band .seg", (segs) => segs.slice(0, 4).map((s) => s.textContent))).toEqual([
      "inventory",
      "planner",
      "returns",
      "inventory",
    ]);
    const band = await page.$eval("#band", (b) => ({ scrolls: b.scrollWidth > b.clientWidth, overflow: getComputedStyle(b).overflowX }));
    expect(band).toEqual({ scrolls: true, overflow: "auto" });
    // The page itself does not scroll sideways, and the legend has one entry per runtime.
    expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
    expect(await page.$$eval("#legend li", (lis) => lis.map((li) => li.textContent))).toEqual([
      "inventory34 turns, 34 segments",
      "planner33 turns, 33 segments",
      "returns33 turns, 33 segments",
    ]);
    expect(await page.textContent("#history-sequence")).toBe("inventory → planner → returns → … → returns → inventory (100 segments)");
    expect(await page.textContent("#band-axis .segment-count")).toBe("100 segments · scroll sideways");
    await page
      .locator("#content section")
      .first()
      .screenshot({ path: join(SCREENSHOTS, "viewer-many-segments.png") });
  });

  it("renders stored times no Date can hold as raw numbers, on the conversation and the turn page", async () => {
    await page.goto(`${server.url}/debug/c/${FAR_CONV}`);
    await page.locator("#turns .snap").first().waitFor();
    const facts = await page.$$eval("#facts dt", (dts) =>
      Object.fromEntries(dts.map((dt) => [dt.textContent, dt.nextElementSibling!.textContent])),
    );
    expect(facts).toMatchObject({ Created: "9007199254740991 ms", "Last activity": "9007199254740991 ms", History: "planner" });
    expect(await page.textContent("#turns .snap .time")).toBe("9007199254740991 ms");
    expect(await page.$$eval("#band-axis span", (spans) => spans.map((s) => s.textContent))).toEqual([
      "9007199254740991 ms",
      "9007199254740991 ms",
    ]);
    await page.click(`#turns a:text-is("${FAR_TURN}")`);
    await page.locator("#snapshots details.snapshot[open]").waitFor();
    expect(await page.textContent("#snapshots .snapshot .time")).toBe("9007199254740991 ms");
    expect(await page.textContent("#snapshots .snapshot-body")).toContain("No blocks in this snapshot.");
  });

  it("says so when the conversation or the turn does not exist (the API answers 404)", async () => {
    await page.goto(`${server.url}/debug/c/conv-does-not-exist`);
    await page.locator("#not-found").waitFor();
    expect(await page.textContent("#not-found .notice-title")).toBe("Conversation “conv-does-not-exist” not found");
    expect(await page.locator("#content").isHidden()).toBe(true);
    expect(await page.locator("#band .seg").count()).toBe(0);
    expect(await page.textContent("#status")).toBe("");

    await page.goto(`${server.url}/debug/t/${CONV}/${SESSION}/turn-does-not-exist`);
    await page.locator("#not-found").waitFor();
    expect(await page.textContent("#not-found .notice-title")).toBe("Turn “turn-does-not-exist” not found");
    expect(await page.locator("#content").isHidden()).toBe(true);
    expect(await page.locator("#snapshots details").count()).toBe(0);
  });

  it("renders a block containing <script> as text: nothing runs, no dialog opens", async () => {
    await page.goto(`${server.url}/debug/t/${CONV}/${SESSION}/turn-002`);
    await page.locator("#snapshots .snapshot .block").nth(1).waitFor();
    const texts = await page.$$eval("#snapshots .block .text", (ps) => ps.map((p) => p.textContent));
    expect(texts).toEqual([`Can you render this for me? ${HOSTILE}`, `I will show it as text only: ${HOSTILE}`]);
    expect(await page.locator("script").count()).toBe(1);
    expect(dialogs).toEqual([]);
  });

  it("forgets the token on request and asks again when a token is refused", async () => {
    await page.click("#forget-token");
    expect(await page.evaluate(() => sessionStorage.getItem("turnstore.debugToken"))).toBeNull();
    await page.goto(`${server.url}/debug`);
    await page.fill("#token-input", "not-the-token");
    await page.click("#token-form button[type=submit]");
    await expect.poll(() => page.textContent("#status"), POLL).toBe("That token was refused. Enter the debug token.");
    expect(await page.locator("#token-form").isVisible()).toBe(true);
    expect(await page.evaluate(() => sessionStorage.getItem("turnstore.debugToken"))).toBeNull();
  });

  it("met no CSP violation, script error or dialog on the way", () => {
    // The unknown conversation and turn (404) and the refused token (401) are the expected failed loads.
    expect(problems).toEqual([
      `404 ${server.url}/api/debug/conversations/conv-does-not-exist`,
      `404 ${server.url}/api/debug/turn/${CONV}/${SESSION}/turn-does-not-exist?limit=50`,
      `401 ${server.url}/api/debug/conversations?limit=50`,
    ]);
    expect(dialogs).toEqual([]);
  });
});
