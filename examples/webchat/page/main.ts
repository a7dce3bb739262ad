/**
 * The chat page: draws the conversation and wires the controls to chat.ts. Which conversation this
 * browser is in (ids and chosen runtime) lives in localStorage, so a reload and a second tab find it.
 * Turn text is untrusted (a visitor or a model wrote it): it only ever goes into textContent.
 */
import { type Block, type RuntimeKey, RUNTIMES } from "./agent";
import { Chat, requestChatToken } from "./chat";

const STORAGE_KEY = "turnstore-webchat";
interface Saved {
  conv_id: string;
  session_id: string;
  runtime?: RuntimeKey;
}

const byId = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const messages = byId<HTMLOListElement>("messages");
const form = byId<HTMLFormElement>("composer");
const input = byId<HTMLInputElement>("message");
const statusLine = byId<HTMLParagraphElement>("status");

function element(tag: string, className: string, text?: string): HTMLElement {
  const node = document.createElement(tag);
  node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** One list item per block the visitor should see; system blocks stay out of the way. */
function blockView(block: Block): HTMLElement | null {
  const text = typeof block.payload.text === "string" ? block.payload.text : "";
  switch (block.kind) {
    case "user":
      return element("li", "msg user", text);
    case "llm_text": {
      const item = element("li", "msg assistant", text);
      const runtime = block.metadata?.["webchat.runtime_key@v1"];
      if (typeof runtime === "string") item.prepend(element("span", `chip ${runtime}`, runtime));
      return item;
    }
    case "tool_call":
      return element("li", "msg step", `tool call  ${block.payload.name}(${JSON.stringify(block.payload.args)})`);
    case "tool_use":
      return element("li", "msg step", `tool result ${JSON.stringify(block.payload.result)}`);
    case "reasoning":
      return element("li", "msg step", `thinking  ${text}`);
    default:
      return null;
  }
}

function showStatus(text: string, kind: "info" | "wait" | "error"): void {
  statusLine.textContent = text;
  statusLine.dataset.kind = kind;
}

async function main(): Promise<void> {
  const saved = JSON.parse(localStorage.getItem(STORAGE_KEY) ?? "null") as Saved | null;
  const session = await requestChatToken(saved ?? undefined);
  const chat = new Chat(session, saved?.runtime ?? "inventory", { changed: draw, status: showStatus });
  const save = () =>
    localStorage.setItem(
      STORAGE_KEY,
      JSON.stringify({ conv_id: chat.session.conv_id, session_id: chat.session.session_id, runtime: chat.runtime }),
    );

  function draw(): void {
    messages.replaceChildren(...[...chat.history, ...chat.current].flatMap((b) => blockView(b) ?? []));
    messages.lastElementChild?.scrollIntoView({ block: "end" });
    for (const radio of document.querySelectorAll<HTMLInputElement>("input[name=runtime]")) {
      radio.checked = radio.value === chat.runtime;
      radio.disabled = chat.busy;
    }
    input.disabled = chat.busy;
    byId("conv-id").textContent = chat.session.conv_id;
    byId("session-id").textContent = chat.session.session_id;
    byId("minted-by").textContent = chat.session.minted_by === "api" ? "POST /api/tokens" : "offline (turnstore/tokens)";
    byId("expires").textContent = new Date(chat.session.expires_at_ms).toLocaleTimeString();
    byId<HTMLAnchorElement>("viewer-link").href = `${chat.session.turnstore_url}/debug/c/${encodeURIComponent(chat.session.conv_id)}`;
    document.body.dataset.busy = String(chat.busy);
    save();
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text || chat.busy) return;
    input.value = "";
    chat.send(text).catch((error: Error) => showStatus(error.message, "error"));
  });
  for (const radio of document.querySelectorAll<HTMLInputElement>("input[name=runtime]")) {
    radio.addEventListener("change", () =>
      chat.switchRuntime(radio.value as RuntimeKey).catch((error: Error) => {
        showStatus(error.message, "error");
        draw();
      }),
    );
  }
  byId("new-conversation").addEventListener("click", () => {
    localStorage.removeItem(STORAGE_KEY);
    location.reload();
  });

  draw();
  showStatus(
    saved ? "Reading the conversation back from Turnstore…" : "New conversation. Ask about stock, or switch to the planner.",
    "info",
  );
  const runtime = await chat.resume();
  // The runtime this browser chose wins; else that of the newest turn.
  if (!saved?.runtime && runtime) chat.runtime = runtime;
  if (runtime) showStatus(`Resumed ${session.conv_id} from its newest snapshot in Turnstore.`, "info");
  draw();
  input.focus();
  document.body.dataset.ready = "true";
}

// The two runtimes the stand-in agent has, as the switch offers them.
byId("runtimes").replaceChildren(
  ...RUNTIMES.map((key) => {
    const label = element("label", `runtime ${key}`);
    const radio = document.createElement("input");
    Object.assign(radio, { type: "radio", name: "runtime", value: key });
    label.append(radio, element("span", "", key));
    return label;
  }),
);

main().catch((error: Error) => showStatus(`Could not start: ${error.message}`, "error"));
