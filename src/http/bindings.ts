import type { D1Handle } from "../store/d1";

/** Hono environment: Worker bindings from `wrangler types`, plus what middleware sets per request. */
export interface AppEnv {
  Bindings: Env;
  Variables: {
    requestId: string;
    /** D1 Sessions-API session for this request (bookmark-aware), see http/database.ts. */
    db: D1Handle & { getBookmark(): string | null };
  };
}
