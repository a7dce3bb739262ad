/**
 * The viewer's browser script, served at /debug/assets/viewer.js. It is shipped as text (the Worker
 * never runs it), written as plain ES2020 with no framework and no build step. Rules it keeps:
 *  - the debug token lives only in sessionStorage and goes out only as `Authorization: Bearer`
 *    to this origin's /api/debug routes — never in a URL, never in a cookie;
 *  - every piece of data becomes DOM through createElement/textContent, never innerHTML, so turn
 *    text (untrusted) always renders as text.
 * Inside these template strings: no backticks and no dollar-brace (they would end or interpolate).
 */

/** Line diff of two arrays of lines; exported separately so it can be tested on its own. */
export const LINE_DIFF_SOURCE = String.raw`
// Longest-common-subsequence diff. The common head and tail are trimmed first, so snapshots of a
// growing turn (mostly appended lines) stay cheap; a middle too large to compare in a browser is
// shown as removed-then-added instead of freezing the tab.
function lineDiff(left, right) {
  let start = 0;
  while (start < left.length && start < right.length && left[start] === right[start]) start++;
  let endLeft = left.length;
  let endRight = right.length;
  while (endLeft > start && endRight > start && left[endLeft - 1] === right[endRight - 1]) {
    endLeft--;
    endRight--;
  }
  const ops = [];
  for (let i = 0; i < start; i++) ops.push({ op: "eq", left: i, right: i });
  const n = endLeft - start;
  const m = endRight - start;
  if (n * m <= 4000000) {
    const width = m + 1;
    const lcs = new Uint32Array((n + 1) * width);
    for (let a = n - 1; a >= 0; a--) {
      for (let b = m - 1; b >= 0; b--) {
        lcs[a * width + b] = left[start + a] === right[start + b]
          ? lcs[(a + 1) * width + b + 1] + 1
          : Math.max(lcs[(a + 1) * width + b], lcs[a * width + b + 1]);
      }
    }
    let a = 0;
    let b = 0;
    while (a < n && b < m) {
      if (left[start + a] === right[start + b]) {
        ops.push({ op: "eq", left: start + a, right: start + b });
        a++;
        b++;
      } else if (lcs[(a + 1) * width + b] >= lcs[a * width + b + 1]) {
        ops.push({ op: "del", left: start + a });
        a++;
      } else {
        ops.push({ op: "ins", right: start + b });
        b++;
      }
    }
    for (; a < n; a++) ops.push({ op: "del", left: start + a });
    for (; b < m; b++) ops.push({ op: "ins", right: start + b });
  } else {
    for (let a = 0; a < n; a++) ops.push({ op: "del", left: start + a });
    for (let b = 0; b < m; b++) ops.push({ op: "ins", right: start + b });
  }
  for (let k = 0; endLeft + k < left.length; k++) ops.push({ op: "eq", left: endLeft + k, right: endRight + k });
  return ops;
}

// Side-by-side rows: a run of removed lines is paired with the run of added lines that follows it.
function sideBySide(ops) {
  const rows = [];
  let removed = [];
  let added = [];
  const flush = () => {
    for (let i = 0; i < Math.max(removed.length, added.length); i++) {
      rows.push({ change: true, left: i < removed.length ? removed[i] : null, right: i < added.length ? added[i] : null });
    }
    removed = [];
    added = [];
  };
  for (const op of ops) {
    if (op.op === "del") removed.push(op.left);
    else if (op.op === "ins") added.push(op.right);
    else {
      flush();
      rows.push({ change: false, left: op.left, right: op.right });
    }
  }
  flush();
  return rows;
}
`;

const APP_SOURCE = String.raw`
const TOKEN_KEY = "turnstore.debugToken";
const PALETTE_SIZE = 8;
const STANDARD_PHASES = ["draft", "pre_inference", "post_inference", "post_tools", "final"];
const KIND_LABELS = {
  user: "User",
  llm_text: "Assistant",
  tool_call: "Tool call",
  tool_use: "Tool result",
  system: "System",
  reasoning: "Reasoning",
  other: "Other",
};
const DEFAULT_ROLES = { user: "user", llm_text: "assistant", system: "system" };

const byId = (id) => document.getElementById(id);
const view = byId("view");
const tokenForm = byId("token-form");
const tokenInput = byId("token-input");
const forgetButton = byId("forget-token");
const statusLine = byId("status");

class Unauthorized extends Error {}

// ---- DOM building: text only, never markup -------------------------------------------------

function h(tag, props, children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  if (children === undefined || children === null) return node;
  for (const child of Array.isArray(children) ? children : [children]) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const enc = encodeURIComponent;
const conversationHref = (convId) => "/debug/c/" + enc(convId);
const turnHref = (convId, sessionId, turnId) => "/debug/t/" + enc(convId) + "/" + enc(sessionId) + "/" + enc(turnId);

function formatTime(ms) {
  if (typeof ms !== "number" || !Number.isFinite(ms)) return "—";
  return new Date(ms).toISOString().replace("T", " ").replace("Z", " UTC");
}

const isObject = (value) => typeof value === "object" && value !== null && !Array.isArray(value);

function pretty(value) {
  if (value === undefined) return "(none)";
  if (typeof value === "string") {
    const trimmed = value.trim();
    if (trimmed.startsWith("{") || trimmed.startsWith("[")) {
      try {
        return JSON.stringify(JSON.parse(trimmed), null, 2);
      } catch (error) {
        return value;
      }
    }
    return value;
  }
  return JSON.stringify(value, null, 2);
}

function setStatus(text, isError) {
  statusLine.textContent = text || "";
  statusLine.classList.toggle("error", Boolean(isError));
}

// One colour class per runtime key, in the order the page first meets them; '' is always "unknown".
function makePalette() {
  const seen = new Map();
  return (runtimeKey) => {
    if (runtimeKey === "") return "rt-unknown";
    if (!seen.has(runtimeKey)) seen.set(runtimeKey, seen.size % PALETTE_SIZE);
    return "rt-" + seen.get(runtimeKey);
  };
}

const runtimeLabel = (runtimeKey) => (runtimeKey === "" ? "unknown" : runtimeKey);

function runtimeTag(palette, runtimeKey) {
  const colour = palette ? palette(runtimeKey) : "plain";
  return h(
    "span",
    {
      class: "tag " + colour + (runtimeKey === "" ? " unknown-text" : ""),
      title: runtimeKey === "" ? "runtime unknown (recorded as empty)" : "runtime " + runtimeKey,
      dataset: { runtime: runtimeKey },
    },
    runtimeLabel(runtimeKey),
  );
}

function inferenceTag(inferenceId) {
  return h(
    "span",
    { class: "inference" + (inferenceId === "" ? " unknown" : ""), dataset: { inference: inferenceId } },
    "inference " + (inferenceId === "" ? "unknown" : inferenceId),
  );
}

function details(summary, text) {
  return h("details", null, [h("summary", null, summary), h("pre", null, text)]);
}

// ---- the debug API ---------------------------------------------------------------------------

async function api(path) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) throw new Unauthorized("no token");
  const response = await fetch(path, {
    headers: { Authorization: "Bearer " + token, Accept: "application/json" },
    cache: "no-store",
    credentials: "omit",
  });
  if (response.status === 401) throw new Unauthorized("token refused");
  let body = null;
  try {
    body = await response.json();
  } catch (error) {
    body = null;
  }
  if (!response.ok) {
    const message = body && body.error && body.error.message ? body.error.message : "HTTP " + response.status;
    throw new Error(message + " (" + response.status + ")");
  }
  return body;
}

function fail(error) {
  if (error instanceof Unauthorized) {
    sessionStorage.removeItem(TOKEN_KEY);
    askForToken(error.message === "no token" ? "" : "That token was refused. Enter the debug token.");
    return;
  }
  setStatus(error && error.message ? error.message : String(error), true);
}

const run = (task) => Promise.resolve().then(task).catch(fail);

// ---- page: conversations -----------------------------------------------------------------------

async function conversationsPage() {
  const rows = byId("conversation-rows");
  const more = byId("more");
  const empty = byId("empty");
  rows.replaceChildren();
  let cursor = null;
  const load = async () => {
    setStatus("Loading conversations…");
    more.disabled = true;
    const page = await api("/api/debug/conversations?limit=50" + (cursor ? "&cursor=" + enc(cursor) : "")).finally(() => {
      more.disabled = false;
    });
    for (const conversation of page.items) {
      rows.append(
        h("tr", { dataset: { convId: conversation.conv_id } }, [
          h("td", { dataset: { label: "Conversation" } }, h("a", { href: conversationHref(conversation.conv_id), class: "mono" }, conversation.conv_id)),
          h("td", { dataset: { label: "Session" }, class: "mono" }, conversation.session_id),
          h("td", { dataset: { label: "Current runtime" } }, runtimeTag(null, conversation.resolved_runtime_key)),
          h("td", { dataset: { label: "Last activity" } }, formatTime(conversation.last_activity_ms)),
          h("td", { dataset: { label: "Turns" }, class: "num" }, String(conversation.turn_count)),
        ]),
      );
    }
    cursor = page.next_cursor;
    more.hidden = !cursor;
    empty.hidden = rows.children.length > 0;
    setStatus("");
  };
  more.onclick = () => run(load);
  await load();
}

// ---- page: one conversation --------------------------------------------------------------------

function renderBand(history, palette) {
  const band = byId("band");
  const axis = byId("band-axis");
  const legend = byId("legend");
  band.replaceChildren();
  axis.replaceChildren();
  legend.replaceChildren();
  if (history.length === 0) {
    band.append(h("div", { class: "seg rt-unknown" }, "no turns yet"));
    return;
  }
  const totals = new Map();
  for (const segment of history) {
    const turns = segment.turn_count + " turn" + (segment.turn_count === 1 ? "" : "s");
    const node = h(
      "div",
      {
        class: "seg " + palette(segment.runtime_key),
        role: "listitem",
        dataset: { runtime: segment.runtime_key },
        title:
          runtimeLabel(segment.runtime_key) + " · " + turns + " · " + segment.first_turn_id + " → " + segment.last_turn_id +
          " · " + formatTime(segment.from_ms) + " → " + formatTime(segment.to_ms),
      },
      runtimeLabel(segment.runtime_key),
    );
    // Width follows the turn count (CSSOM, which the CSP allows; style attributes it does not).
    node.style.flexGrow = String(segment.turn_count);
    band.append(node);
    const total = totals.get(segment.runtime_key) || { turns: 0, segments: 0 };
    total.turns += segment.turn_count;
    total.segments += 1;
    totals.set(segment.runtime_key, total);
  }
  axis.append(h("span", null, formatTime(history[0].from_ms)), h("span", null, formatTime(history[history.length - 1].to_ms)));
  for (const [runtimeKey, total] of totals) {
    legend.append(
      h("li", { dataset: { runtime: runtimeKey } }, [
        h("span", { class: "swatch " + palette(runtimeKey) }),
        h("span", { class: runtimeKey === "" ? "unknown-text" : "mono" }, runtimeLabel(runtimeKey)),
        h("span", { class: "muted" }, total.turns + " turn(s), " + total.segments + " segment(s)"),
      ]),
    );
  }
}

function renderFacts(conversation, palette) {
  const facts = byId("facts");
  const sequence = conversation.runtime_history.map((segment) => runtimeLabel(segment.runtime_key)).join(" → ");
  const rows = [
    ["Session", h("code", { class: "id" }, conversation.session_id)],
    ["Current runtime", [runtimeTag(palette, conversation.resolved_runtime_key), h("span", { class: "muted" }, " (pointer)")]],
    ["History", h("span", { id: "history-sequence" }, sequence || "no turns yet")],
    ["Turns", conversation.turn_count + " (" + conversation.snapshot_count + " snapshots)"],
    ["Created", formatTime(conversation.created_at_ms)],
    ["Last activity", formatTime(conversation.last_activity_ms)],
  ];
  facts.replaceChildren();
  for (const [label, value] of rows) facts.append(h("dt", null, label), h("dd", null, value));
}

function addOption(select, value, label) {
  for (const option of select.options) if (option.value === value) return;
  select.append(h("option", { value }, label));
}

async function conversationPage() {
  const convId = view.dataset.convId;
  setStatus("Loading conversation…");
  const conversation = await api("/api/debug/conversations/" + enc(convId));
  const palette = makePalette();
  for (const segment of conversation.runtime_history) palette(segment.runtime_key);
  renderFacts(conversation, palette);
  renderBand(conversation.runtime_history, palette);

  // Filters live in the query string (?phase=…&runtime=…; runtime= alone means "unknown").
  const params = new URLSearchParams(location.search);
  const phaseSelect = byId("filter-phase");
  const runtimeSelect = byId("filter-runtime");
  phaseSelect.replaceChildren(h("option", { value: "" }, "all"));
  for (const phase of STANDARD_PHASES) addOption(phaseSelect, phase, phase);
  if (params.get("phase")) addOption(phaseSelect, params.get("phase"), params.get("phase"));
  phaseSelect.value = params.get("phase") || "";
  // Runtime option values are "*" (all) or "=" + key, so the unknown runtime '' has a value too.
  runtimeSelect.replaceChildren(h("option", { value: "*" }, "all"));
  for (const segment of conversation.runtime_history) addOption(runtimeSelect, "=" + segment.runtime_key, runtimeLabel(segment.runtime_key));
  addOption(runtimeSelect, "=", "unknown");
  if (params.has("runtime")) addOption(runtimeSelect, "=" + params.get("runtime"), runtimeLabel(params.get("runtime")));
  runtimeSelect.value = params.has("runtime") ? "=" + params.get("runtime") : "*";

  const list = byId("turns");
  const more = byId("more");
  const empty = byId("empty");
  let cursor = null;
  let lastGroup = null;
  // Bumped on every filter change: a response to an older query is dropped, not appended.
  let generation = 0;

  const load = async () => {
    const mine = generation;
    const phase = phaseSelect.value;
    const runtime = runtimeSelect.value === "*" ? null : runtimeSelect.value.slice(1);
    let path = "/api/debug/turns?limit=100&conv_id=" + enc(convId);
    if (phase) path += "&phase=" + enc(phase);
    if (runtime !== null) path += "&runtime_key=" + enc(runtime);
    if (cursor) path += "&cursor=" + enc(cursor);
    setStatus("Loading snapshots…");
    more.disabled = true;
    const page = await api(path).finally(() => {
      more.disabled = false;
    });
    if (mine !== generation) return;
    for (const item of page.items) {
      addOption(phaseSelect, item.phase, item.phase);
      addOption(runtimeSelect, "=" + item.runtime_key, runtimeLabel(item.runtime_key));
      const groupKey = item.session_id + "\u0000" + item.turn_id;
      if (!lastGroup || lastGroup.key !== groupKey) {
        const snaps = h("ul", { class: "snaps" });
        const head = h("div", { class: "turn-head" }, [
          h("a", { href: turnHref(item.conv_id, item.session_id, item.turn_id), class: "mono" }, item.turn_id),
          item.session_id !== conversation.session_id ? h("span", { class: "muted" }, "session " + item.session_id) : null,
        ]);
        list.append(h("li", { class: "turn", dataset: { turnId: item.turn_id } }, [head, snaps]));
        lastGroup = { key: groupKey, snaps };
      }
      lastGroup.snaps.append(
        h("li", { class: "snap", dataset: { phase: item.phase } }, [
          h("span", { class: "phase" }, item.phase),
          h("span", { class: "time" }, formatTime(item.created_at_ms)),
          runtimeTag(palette, item.runtime_key),
          inferenceTag(item.inference_id),
        ]),
      );
    }
    cursor = page.next_cursor;
    more.hidden = !cursor;
    empty.hidden = list.children.length > 0;
    setStatus("");
  };

  const reload = () => {
    const query = new URLSearchParams();
    if (phaseSelect.value) query.set("phase", phaseSelect.value);
    if (runtimeSelect.value !== "*") query.set("runtime", runtimeSelect.value.slice(1));
    const search = query.toString();
    history.replaceState(null, "", location.pathname + (search ? "?" + search : ""));
    generation++;
    list.replaceChildren();
    cursor = null;
    lastGroup = null;
    return run(load);
  };
  phaseSelect.onchange = reload;
  runtimeSelect.onchange = reload;
  more.onclick = () => run(load);
  list.replaceChildren();
  await load();
}

// ---- page: one turn ----------------------------------------------------------------------------

function takeFirst(payload, used, keys) {
  for (const key of keys) {
    if (Object.prototype.hasOwnProperty.call(payload, key)) {
      used.add(key);
      return payload[key];
    }
  }
  return undefined;
}

function renderBlock(block) {
  const kind = typeof block.kind === "string" ? block.kind : "other";
  const payload = isObject(block.payload) ? block.payload : {};
  const used = new Set();
  const known = Object.prototype.hasOwnProperty.call(KIND_LABELS, kind);
  const head = [h("span", { class: "kind" }, known ? KIND_LABELS[kind] : kind)];
  const body = [];
  if (kind === "tool_call") {
    const name = takeFirst(payload, used, ["name"]);
    const callId = takeFirst(payload, used, ["id"]);
    if (name !== undefined) head.push(h("code", { class: "tool-name" }, String(name)));
    if (callId !== undefined) head.push(h("span", { class: "mono" }, "call " + String(callId)));
    body.push(h("div", { class: "muted" }, "arguments"), h("pre", { class: "arguments" }, pretty(takeFirst(payload, used, ["args", "arguments", "input"]))));
  } else if (kind === "tool_use") {
    const callId = takeFirst(payload, used, ["id", "tool_call_id"]);
    if (callId !== undefined) head.push(h("span", { class: "mono" }, "for call " + String(callId)));
    body.push(h("pre", { class: "result" }, pretty(takeFirst(payload, used, ["result", "output", "content"]))));
    const error = takeFirst(payload, used, ["error"]);
    if (error !== undefined && error !== null && error !== "") body.push(h("p", { class: "status error" }, "error: " + pretty(error)));
  } else {
    const text = takeFirst(payload, used, ["text"]);
    if (typeof text === "string") body.push(h("p", { class: "text" }, text));
    else if (text !== undefined) used.delete("text");
    if (kind === "reasoning") {
      const encrypted = takeFirst(payload, used, ["encrypted_content"]);
      if (typeof encrypted === "string") body.push(h("p", { class: "muted" }, "encrypted reasoning (" + encrypted.length + " characters)"));
    }
  }
  if (typeof block.role === "string" && block.role !== "" && block.role !== (known ? DEFAULT_ROLES[kind] : undefined)) head.push(h("span", null, "role " + block.role));
  if (block.id) head.push(h("span", { class: "mono" }, block.id));
  const rest = {};
  for (const key of Object.keys(payload)) if (!used.has(key)) rest[key] = payload[key];
  if (Object.keys(rest).length > 0) {
    const text = JSON.stringify(rest, null, 2);
    body.push(body.length === 0 ? h("pre", null, text) : details("other payload fields", text));
  }
  if (body.length === 0) body.push(h("p", { class: "muted" }, "(empty payload)"));
  const metadata = isObject(block.metadata) ? block.metadata : {};
  if (Object.keys(metadata).length > 0) {
    body.push(details("metadata (" + Object.keys(metadata).length + ")", JSON.stringify(metadata, null, 2)));
  }
  return h("li", { class: "block kind-" + kind, dataset: { kind } }, [h("div", { class: "block-head" }, head)].concat(body));
}

function snapshotLabel(item, number) {
  return "#" + number + " · " + item.phase + " · " + formatTime(item.created_at_ms);
}

function renderSnapshot(item, number, palette) {
  const turn = isObject(item.parsed) ? item.parsed : {};
  const blocks = Array.isArray(turn.blocks) ? turn.blocks : [];
  const parts = [
    h("h3", null, [
      h("span", { class: "mono" }, "#" + number),
      h("span", { class: "phase" }, item.phase),
      h("span", { class: "time" }, formatTime(item.created_at_ms)),
      runtimeTag(palette, item.runtime_key),
      inferenceTag(item.inference_id),
    ]),
    blocks.length > 0
      ? h("ol", { class: "blocks" }, blocks.map(renderBlock))
      : h("p", { class: "muted" }, "No blocks in this snapshot."),
  ];
  for (const field of ["metadata", "data"]) {
    const value = isObject(turn[field]) ? turn[field] : {};
    if (Object.keys(value).length > 0) parts.push(details("turn " + field + " (" + Object.keys(value).length + ")", JSON.stringify(value, null, 2)));
  }
  parts.push(details("YAML payload", item.payload));
  return h("section", { class: "snapshot", id: "snapshot-" + number, dataset: { phase: item.phase, runtime: item.runtime_key } }, parts);
}

const payloadLines = (yaml) => yaml.replace(/\n$/, "").split("\n");

function renderDiff(items, numbers, leftIndex, rightIndex) {
  const target = byId("diff");
  target.replaceChildren();
  const left = payloadLines(items[leftIndex].payload);
  const right = payloadLines(items[rightIndex].payload);
  const rows = sideBySide(lineDiff(left, right));
  const removed = rows.filter((row) => row.change && row.left !== null).length;
  const added = rows.filter((row) => row.change && row.right !== null).length;
  target.append(h("p", { class: "diff-summary" }, removed === 0 && added === 0
    ? "The two payloads are identical."
    : "−" + removed + " line(s) on the left, +" + added + " line(s) on the right (YAML payloads)."));
  if (removed === 0 && added === 0) return;
  // Only changes and three lines of context around them; long unchanged stretches fold into one row.
  const CONTEXT = 3;
  const keep = rows.map(() => false);
  rows.forEach((row, i) => {
    if (!row.change) return;
    for (let j = Math.max(0, i - CONTEXT); j <= Math.min(rows.length - 1, i + CONTEXT); j++) keep[j] = true;
  });
  const table = h("table", { class: "diff" }, [
    h("colgroup", null, [h("col", { class: "ln" }), h("col"), h("col", { class: "ln" }), h("col")]),
    h("thead", null, h("tr", null, [
      h("th", { colspan: 2 }, snapshotLabel(items[leftIndex], numbers[leftIndex])),
      h("th", { colspan: 2 }, snapshotLabel(items[rightIndex], numbers[rightIndex])),
    ])),
  ]);
  const tbody = h("tbody");
  let folded = 0;
  const flushFold = () => {
    if (folded > 0) tbody.append(h("tr", null, h("td", { colspan: 4, class: "gap" }, folded + " unchanged line(s)")));
    folded = 0;
  };
  rows.forEach((row, i) => {
    if (!keep[i]) {
      folded++;
      return;
    }
    flushFold();
    const side = (lines, index, kindClass) =>
      index === null
        ? [h("td", { class: "ln" }), h("td")]
        : [h("td", { class: "ln " + kindClass }, String(index + 1)), h("td", { class: kindClass }, lines[index])];
    tbody.append(h("tr", { class: row.change ? "change" : "same" }, side(left, row.left, row.change ? "del" : "").concat(side(right, row.right, row.change ? "ins" : ""))));
  });
  flushFold();
  table.append(tbody);
  target.append(table);
}

async function turnPage() {
  const { convId, sessionId, turnId } = view.dataset;
  const base = "/api/debug/turn/" + enc(convId) + "/" + enc(sessionId) + "/" + enc(turnId);
  setStatus("Loading turn…");
  let items = [];
  let cursor = null;
  do {
    const page = await api(base + (cursor ? "?cursor=" + enc(cursor) : ""));
    items = items.concat(page.items);
    cursor = page.next_cursor;
  } while (cursor);
  // Items are newest first; number them from the oldest (#1) and colour runtimes in that order too.
  const numbers = items.map((item, i) => items.length - i);
  const palette = makePalette();
  for (let i = items.length - 1; i >= 0; i--) palette(items[i].runtime_key);
  const container = byId("snapshots");
  container.replaceChildren(...items.map((item, i) => renderSnapshot(item, numbers[i], palette)));

  const leftSelect = byId("diff-left");
  const rightSelect = byId("diff-right");
  const options = () => items.map((item, i) => h("option", { value: String(i) }, snapshotLabel(item, numbers[i])));
  leftSelect.replaceChildren(...options());
  rightSelect.replaceChildren(...options());
  if (items.length < 2) {
    byId("diff-form").hidden = true;
    byId("diff").replaceChildren(h("p", { class: "muted" }, "This turn has one snapshot; there is nothing to compare."));
  } else {
    leftSelect.value = "1";
    rightSelect.value = "0";
    const update = () => renderDiff(items, numbers, Number(leftSelect.value), Number(rightSelect.value));
    leftSelect.onchange = update;
    rightSelect.onchange = update;
    update();
  }
  setStatus("");
}

// ---- start ---------------------------------------------------------------------------------------

const PAGES = { conversations: conversationsPage, conversation: conversationPage, turn: turnPage };

function askForToken(message) {
  view.hidden = true;
  forgetButton.hidden = true;
  tokenForm.hidden = false;
  setStatus(message, Boolean(message));
  tokenInput.focus();
}

function start() {
  if (!sessionStorage.getItem(TOKEN_KEY)) {
    askForToken("");
    return;
  }
  tokenForm.hidden = true;
  forgetButton.hidden = false;
  view.hidden = false;
  const page = PAGES[view.dataset.page];
  if (page) run(page);
}

tokenForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const token = tokenInput.value.trim();
  if (!token) return;
  sessionStorage.setItem(TOKEN_KEY, token);
  tokenInput.value = "";
  start();
});

forgetButton.addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  askForToken("Token forgotten.");
});

start();
`;

export const VIEWER_SCRIPT = `(() => {\n"use strict";\n${LINE_DIFF_SOURCE}\n${APP_SOURCE}\n})();\n`;
