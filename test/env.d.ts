declare namespace Cloudflare {
  interface Env {
    TEST_MIGRATIONS: import("cloudflare:test").D1Migration[];
    /** Set (TURNSTORE_TEST_LOGS=1 npm test) to see the Worker's info log lines. */
    TURNSTORE_TEST_LOGS?: string;
    /** Bound in the worker-3db project (vitest.config.ts), with CONVERSATION_DATABASES "DB,DB_1,DB_2". */
    DB_1?: D1Database;
    DB_2?: D1Database;
  }
}

declare module "*?raw" {
  const text: string;
  export default text;
}
