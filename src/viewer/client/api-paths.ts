/**
 * Request URLs of the debug API. Route paths and parameter names are checked against the route
 * definitions (api-types.ts), so a renamed route or parameter is a type error. Pure: no DOM.
 */
import type { MAX_LIMIT } from "../../routes/debug/debug.routes";
import type {
  ConversationPath,
  ConversationsPath,
  ConversationsQuery,
  SnapshotsPath,
  SnapshotsQuery,
  TurnPath,
  TurnQuery,
} from "./api-types";
import type { SnapshotFilters } from "./filters";

const CONVERSATIONS: ConversationsPath = "/api/debug/conversations";
const CONVERSATION: ConversationPath = "/api/debug/conversations/{conv_id}";
const SNAPSHOTS: SnapshotsPath = "/api/debug/turns";
const TURN: TurnPath = "/api/debug/turn/{conv_id}/{session_id}/{turn_id}";

/** Page sizes: every list is read in pages; nothing loads an unbounded number of rows at once. */
export const CONVERSATIONS_PAGE = 50;
export const SNAPSHOTS_PAGE = 100;
export const TURN_SNAPSHOTS_PAGE = 50;
/** The phase filter's look-up reads this many snapshot summaries (no payloads): the API's largest page. */
export const PHASE_SCAN: typeof MAX_LIMIT = 1000;

type PathParams<Path extends string> = Path extends `${string}{${infer Name}}${infer Rest}` ? Name | PathParams<Rest> : never;

/** A route path with each {name} replaced by its value, encodeURIComponent-encoded. */
function fill<Path extends string>(path: Path, params: Record<PathParams<Path>, string>): string {
  const values: Record<string, string> = params;
  return path.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(values[name] ?? ""));
}

/** Query parameters in the order given, each value encodeURIComponent-encoded; absent ones left out. */
function withQuery(path: string, query: Record<string, string | undefined>): string {
  const pairs = Object.entries(query).flatMap(([name, value]) => (value === undefined ? [] : [`${name}=${encodeURIComponent(value)}`]));
  return pairs.length > 0 ? `${path}?${pairs.join("&")}` : path;
}

const given = (cursor: string | null) => cursor ?? undefined;

export function conversationsUrl(cursor: string | null): string {
  const query: ConversationsQuery = { limit: String(CONVERSATIONS_PAGE), cursor: given(cursor) };
  return withQuery(CONVERSATIONS, query);
}

export const conversationUrl = (convId: string) => fill(CONVERSATION, { conv_id: convId });

/** Summaries (payload=none: no YAML, a block count instead) of a conversation's snapshots, newest first. */
export function snapshotSummariesUrl(convId: string, filters: SnapshotFilters, cursor: string | null, limit = SNAPSHOTS_PAGE): string {
  const query: SnapshotsQuery = {
    conv_id: convId,
    payload: "none",
    limit: String(limit),
    phase: filters.phase ?? undefined,
    runtime_key: filters.runtimeKey ?? undefined,
    cursor: given(cursor),
  };
  return withQuery(SNAPSHOTS, query);
}

/** Full snapshots (YAML and parsed turn) of one turn, newest first, one page at a time. */
export function turnUrl(convId: string, sessionId: string, turnId: string, cursor: string | null, limit = TURN_SNAPSHOTS_PAGE): string {
  const query: TurnQuery = { limit: String(limit), cursor: given(cursor) };
  return withQuery(fill(TURN, { conv_id: convId, session_id: sessionId, turn_id: turnId }), query);
}
