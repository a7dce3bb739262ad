/**
 * The viewer's browser code, bundled by scripts/build-viewer.mjs into /debug/assets/viewer.js. The
 * server renders empty shells (src/routes/viewer/viewer.pages.tsx); this fills the one named by its
 * data-page from the debug API.
 */
import { start } from "./page";
import { conversationPage } from "./pages/conversation";
import { conversationsPage } from "./pages/conversations";
import { turnPage } from "./pages/turn";

start({ conversations: conversationsPage, conversation: conversationPage, turn: turnPage });
