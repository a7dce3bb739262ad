/**
 * Addresses of the viewer's pages. Imported by the server shells (src/routes/viewer/) and by the
 * browser code (src/viewer/client/), so a link means the same page on both sides. Every id is
 * encodeURIComponent-encoded: ids may hold "/", "%", "?" or anything else.
 */
export const conversationHref = (convId: string) => `/debug/c/${encodeURIComponent(convId)}`;

export const turnHref = (convId: string, sessionId: string, turnId: string) =>
  `/debug/t/${encodeURIComponent(convId)}/${encodeURIComponent(sessionId)}/${encodeURIComponent(turnId)}`;

/** The shell's data-page, which names the client code that fills it. */
export const VIEWER_PAGES = ["conversations", "conversation", "turn"] as const;
export type ViewerPageName = (typeof VIEWER_PAGES)[number];
