import type { ConversationGrant } from "../tokens/conversation-token";
import type { SnapshotProjection } from "../turn/snapshot";

/** Who is calling (set by http/auth.ts, charged by http/rate-limit.ts). */
export type Principal = { kind: "ingest" } | { kind: "conversation"; grant: ConversationGrant };

/** What a handler reports about an accepted write (logged by http/write-log.ts). */
export interface WriteLogDetails {
  snapshots?: Array<SnapshotProjection & { outcome: string }>;
  rows_written?: number;
  [detail: string]: unknown;
}

/** Hono environment: Worker bindings from `wrangler types`, plus what middleware sets per request. */
export interface AppEnv {
  Bindings: Env;
  Variables: {
    /** The Worker's id of this request (http/request-id.ts), on every response as X-Request-Id. */
    requestId: string;
    /** The X-Request-Id the client sent, when short printable ASCII: logged only, as client_request_id. */
    clientRequestId: string | undefined;
    /** The request's D1 databases and sessions (bookmark-aware), see http/database.ts. */
    databases: import("./database").RequestDatabases;
    /** Who is calling (http/auth.ts), on routes that authenticate a writer. */
    principal: Principal;
    /** The parsed JSON body of a write (http/json-body.ts), before validation. */
    jsonBody: unknown;
    /** What an accepted write stored, for its log line (http/write-log.ts). */
    writeLog: WriteLogDetails;
  };
}
