/**
 * The debug API as the viewer sees it: response bodies are the output types of the zod schemas the
 * routes validate and document with (src/routes/debug/debug.routes.ts), query parameters their input
 * types, and paths the routes' own path literals. A renamed or retyped field fails `npm run
 * typecheck` here instead of showing "undefined" in the page. Types only: nothing of the server
 * reaches the bundle.
 */
import type { z } from "@hono/zod-openapi";
import type { getConversationRoute, getTurnRoute, listConversationsRoute, listSnapshotsRoute } from "../../routes/debug/debug.routes";
import type { ErrorSchema } from "../../routes/schemas";

/** The JSON body a route documents for one status. */
type JsonBody<Route, Status extends number = 200> = Route extends {
  responses: { [S in Status]: { content: { "application/json": { schema: infer Schema extends z.ZodType } } } };
}
  ? z.output<Schema>
  : never;

/** The query parameters a route accepts, as the strings they are sent as. */
type QueryOf<Route> = Route extends { request: { query: infer Schema extends z.ZodType } } ? z.input<Schema> : never;

type PathOf<Route> = Route extends { path: infer Path extends string } ? Path : never;

export type ConversationPage = JsonBody<typeof listConversationsRoute>;
export type Conversation = ConversationPage["items"][number];
export type ConversationDetail = JsonBody<typeof getConversationRoute>;
export type RuntimeSegment = ConversationDetail["runtime_history"][number];
export type SnapshotPage = JsonBody<typeof listSnapshotsRoute>;
export type SnapshotSummary = SnapshotPage["items"][number];
export type TurnDetail = JsonBody<typeof getTurnRoute>;
export type TurnSnapshot = TurnDetail["items"][number];
export type ErrorBody = z.output<typeof ErrorSchema>;

export type ConversationsQuery = QueryOf<typeof listConversationsRoute>;
export type SnapshotsQuery = QueryOf<typeof listSnapshotsRoute>;
export type TurnQuery = QueryOf<typeof getTurnRoute>;

export type ConversationsPath = PathOf<typeof listConversationsRoute>;
export type ConversationPath = PathOf<typeof getConversationRoute>;
export type SnapshotsPath = PathOf<typeof listSnapshotsRoute>;
export type TurnPath = PathOf<typeof getTurnRoute>;
