/**
 * Reading the debug API with the debug token. The token lives only in this tab's sessionStorage and
 * leaves the page only as `Authorization: Bearer` on fetch calls to this origin: never in a URL,
 * never in a cookie (credentials: "omit").
 */
import type { ConversationDetail, ConversationPage, ErrorBody, SnapshotPage, TurnDetail } from "./api-types";
import { conversationsUrl, conversationUrl, snapshotSummariesUrl, turnUrl } from "./api-paths";
import type { SnapshotFilters } from "./filters";

const TOKEN_KEY = "turnstore.debugToken";

export const debugToken = {
  get: (): string | null => sessionStorage.getItem(TOKEN_KEY),
  set: (token: string) => sessionStorage.setItem(TOKEN_KEY, token),
  forget: () => sessionStorage.removeItem(TOKEN_KEY),
};

/** No token yet, or the API refused it (401): the page asks for one. */
export class Unauthorized extends Error {
  override name = "Unauthorized";
}

/** The API answered 404: the conversation or turn does not exist. */
export class NotFound extends Error {
  override name = "NotFound";
}

const isErrorBody = (body: unknown): body is ErrorBody =>
  typeof body === "object" && body !== null && typeof (body as ErrorBody).error?.message === "string";

/** GET a debug API URL. The body's type is the route's documented response (api-types.ts). */
async function read<Body>(url: string): Promise<Body> {
  const token = debugToken.get();
  if (!token) throw new Unauthorized("no token");
  const response = await fetch(url, {
    headers: { Authorization: `Bearer ${token}`, Accept: "application/json" },
    cache: "no-store",
    credentials: "omit",
  });
  if (response.status === 401) throw new Unauthorized("token refused");
  const body: unknown = await response.json().catch(() => null);
  if (!response.ok) {
    const message = isErrorBody(body) ? body.error.message : `HTTP ${response.status}`;
    if (response.status === 404) throw new NotFound(message);
    throw new Error(`${message} (${response.status})`);
  }
  return body as Body;
}

export const debugApi = {
  conversations: (cursor: string | null) => read<ConversationPage>(conversationsUrl(cursor)),
  conversation: (convId: string) => read<ConversationDetail>(conversationUrl(convId)),
  snapshotSummaries: (convId: string, filters: SnapshotFilters, cursor: string | null, limit?: number) =>
    read<SnapshotPage>(snapshotSummariesUrl(convId, filters, cursor, limit)),
  turn: (convId: string, sessionId: string, turnId: string, cursor: string | null) =>
    read<TurnDetail>(turnUrl(convId, sessionId, turnId, cursor)),
};
