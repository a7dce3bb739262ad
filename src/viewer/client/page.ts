/**
 * What every viewer page shares: the token form, the status line, error handling, "not found", and
 * starting the page named by the shell's data-page.
 */
import { debugToken, type NotFound, Unauthorized } from "./api";
import { VIEWER_PAGES, type ViewerPageName } from "../links";
import { h, shellElement } from "./dom";

export type ViewerPage = (view: HTMLElement) => Promise<void>;

const view = shellElement("view", HTMLElement);
const tokenForm = shellElement("token-form", HTMLFormElement);
const tokenInput = shellElement("token-input", HTMLInputElement);
const forgetButton = shellElement("forget-token", HTMLButtonElement);
const statusLine = shellElement("status", HTMLParagraphElement);

export function setStatus(text: string, isError = false): void {
  statusLine.textContent = text;
  statusLine.classList.toggle("error", isError);
}

function askForToken(message: string): void {
  view.hidden = true;
  forgetButton.hidden = true;
  tokenForm.hidden = false;
  setStatus(message, message !== "");
  tokenInput.focus();
}

function fail(error: unknown): void {
  if (error instanceof Unauthorized) {
    debugToken.forget();
    askForToken(error.message === "no token" ? "" : "That token was refused. Enter the debug token.");
    return;
  }
  setStatus(error instanceof Error ? error.message : String(error), true);
}

/** Runs a step of a page (a load, a click); a failure shows in the status line or asks for the token again. */
export const run = (task: () => Promise<void> | void): Promise<void> => Promise.resolve().then(task).catch(fail);

/**
 * The conversation or turn of this URL does not exist (the API answered 404): say so instead of
 * showing empty sections. The shell's #content (everything that needs data) is hidden.
 */
export function showNotFound(what: string, error: NotFound): void {
  shellElement("content", HTMLElement).hidden = true;
  setStatus("");
  const notice = h("div", { id: "not-found", class: "notice", role: "alert" }, [
    h("p", { class: "notice-title" }, `${what} not found`),
    h("p", null, `The debug API answered: ${error.message}.`),
    h("p", null, h("a", { href: "/debug" }, "Back to the conversations")),
  ]);
  document.getElementById("not-found")?.remove();
  view.append(notice);
}

export function start(pages: Record<ViewerPageName, ViewerPage>): void {
  const open = () => {
    if (!debugToken.get()) {
      askForToken("");
      return;
    }
    tokenForm.hidden = true;
    forgetButton.hidden = false;
    view.hidden = false;
    const name = VIEWER_PAGES.find((page) => page === view.dataset.page);
    if (name) void run(() => pages[name](view));
  };

  tokenForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const token = tokenInput.value.trim();
    if (!token) return;
    debugToken.set(token);
    tokenInput.value = "";
    open();
  });

  forgetButton.addEventListener("click", () => {
    debugToken.forget();
    askForToken("Token forgotten.");
  });

  open();
}
