/** @jsxImportSource hono/jsx */
/**
 * The viewer's HTML shells, rendered on the server with hono/jsx. They carry no stored data — only
 * the ids from the URL (escaped by JSX) and empty containers; the browser code (src/viewer/client/)
 * fills them from the debug API with the token the user typed.
 */
import type { Child } from "hono/jsx";
import { conversationHref, type ViewerPageName } from "../../viewer/links";

export const SCRIPT_PATH = "/debug/assets/viewer.js";
export const STYLE_PATH = "/debug/assets/viewer.css";
export const ICON_PATH = "/debug/assets/icon.svg";

function Layout(props: { title: string; page: ViewerPageName; data?: Record<string, string>; children: Child }) {
  const dataAttributes = Object.fromEntries(Object.entries(props.data ?? {}).map(([k, v]) => [`data-${k}`, v]));
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="referrer" content="no-referrer" />
        <title>{`${props.title} · Turnstore debug`}</title>
        <link rel="icon" href={ICON_PATH} type="image/svg+xml" />
        <link rel="stylesheet" href={STYLE_PATH} />
        <script src={SCRIPT_PATH} defer></script>
      </head>
      <body>
        <header class="top">
          <a class="brand" href="/debug">
            Turnstore debug
          </a>
          <button type="button" id="forget-token" hidden>
            Forget token
          </button>
        </header>
        {/* The input has no name, so even without the script the token is never submitted anywhere. */}
        <form id="token-form" class="token-form" method="post" action="/debug" autocomplete="off" hidden>
          <label for="token-input">Debug token</label>
          <div class="token-row">
            <input id="token-input" type="password" autocomplete="off" spellcheck={false} required />
            <button type="submit">Open</button>
          </div>
          <p class="hint">
            Kept in this tab's session storage only, and sent as <code>Authorization: Bearer</code> to <code>/api/debug</code>.
          </p>
        </form>
        <p id="status" class="status" role="status"></p>
        <main id="view" data-page={props.page} {...dataAttributes} hidden>
          {props.children}
        </main>
        <noscript>
          <p class="status">The viewer needs JavaScript: it reads the debug API with your token from the browser.</p>
        </noscript>
      </body>
    </html>
  );
}

export function ConversationsPage() {
  return (
    <Layout title="Conversations" page="conversations">
      <h1>Conversations</h1>
      <p class="muted">Newest activity first. “Current runtime” is the conversation's pointer, not the history of its turns.</p>
      <table class="list">
        <thead>
          <tr>
            <th>Conversation</th>
            <th>Session</th>
            <th>Current runtime</th>
            <th>Last activity</th>
            <th class="num">Turns</th>
          </tr>
        </thead>
        <tbody id="conversation-rows"></tbody>
      </table>
      <p id="empty" class="muted" hidden>
        No conversations yet.
      </p>
      <button type="button" id="more" class="more" hidden>
        Load more
      </button>
    </Layout>
  );
}

export function ConversationPage(props: { convId: string }) {
  return (
    <Layout title={`Conversation ${props.convId}`} page="conversation" data={{ "conv-id": props.convId }}>
      <nav class="crumbs">
        <a href="/debug">Conversations</a> › <span>{props.convId}</span>
      </nav>
      <h1>
        Conversation <code class="id">{props.convId}</code>
      </h1>
      {/* Everything that needs the conversation; hidden when the API does not know it. */}
      <div id="content">
        <dl id="facts" class="facts"></dl>
        <section>
          <h2>Runtime history</h2>
          <p class="muted">
            Each segment is a run of consecutive turns produced by one runtime, oldest on the left; width follows the turn count. A long
            history scrolls sideways.
          </p>
          {/* biome-ignore lint/a11y/useSemanticElements: the band is a flex strip of segments styled as a list */}
          <div id="band" class="band" role="list" aria-label="runtime history, oldest first"></div>
          <div id="band-axis" class="band-axis"></div>
          <ul id="legend" class="legend"></ul>
        </section>
        <section>
          <h2>Turns</h2>
          <p class="muted">Snapshots newest first, grouped by turn; each shows its own runtime and inference id.</p>
          <form id="filters" class="filters">
            <label>
              Phase <select id="filter-phase"></select>
            </label>
            <label>
              Runtime <select id="filter-runtime"></select>
            </label>
          </form>
          <p id="phase-note" class="muted" hidden></p>
          <ol id="turns" class="turns"></ol>
          <p id="empty" class="muted" hidden>
            No snapshots match these filters.
          </p>
          <button type="button" id="more" class="more" hidden>
            Load more
          </button>
        </section>
      </div>
    </Layout>
  );
}

export function TurnPage(props: { convId: string; sessionId: string; turnId: string }) {
  return (
    <Layout
      title={`Turn ${props.turnId}`}
      page="turn"
      data={{ "conv-id": props.convId, "session-id": props.sessionId, "turn-id": props.turnId }}
    >
      <nav class="crumbs">
        <a href="/debug">Conversations</a> › <a href={conversationHref(props.convId)}>{props.convId}</a> › <span>{props.turnId}</span>
      </nav>
      <h1>
        Turn <code class="id">{props.turnId}</code>
      </h1>
      <p class="muted">
        Session <code class="id">{props.sessionId}</code>
      </p>
      {/* Everything that needs the turn; hidden when the API does not know it. */}
      <div id="content">
        <section>
          <h2>Snapshots</h2>
          <p class="muted">
            Newest first (#1 is the newest), the newest open. Runtime and inference are the snapshot's own values.{" "}
            <a href="#compare">Compare two snapshots</a>
          </p>
          <div class="toolbar">
            <button type="button" id="expand-all">
              Expand all
            </button>
            <button type="button" id="collapse-all">
              Collapse all
            </button>
            <span id="loaded" class="muted"></span>
          </div>
          <div id="snapshots"></div>
          <button type="button" id="more" class="more" hidden>
            Load more
          </button>
        </section>
        <section id="compare">
          <h2>Compare snapshots</h2>
          <form id="diff-form" class="filters">
            <label>
              Left <select id="diff-left"></select>
            </label>
            <label>
              Right <select id="diff-right"></select>
            </label>
          </form>
          <div id="diff"></div>
        </section>
      </div>
    </Layout>
  );
}
