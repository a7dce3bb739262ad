declare namespace Cloudflare {
  interface Env {
    TEST_MIGRATIONS: import("cloudflare:test").D1Migration[];
    /** Set (TURNSTORE_TEST_LOGS=1 npm test) to see the Worker's info log lines. */
    TURNSTORE_TEST_LOGS?: string;
  }
}

declare module "*?raw" {
  const text: string;
  export default text;
}
