import { applyD1Migrations } from "cloudflare:test";
import { env } from "cloudflare:workers";

// Setup files run before each test file; applied migrations are recorded, so this is idempotent.
// Every database of the project (DB, and those CONVERSATION_DATABASES adds) gets the same migrations.
for (const binding of new Set(["DB", ...(env.CONVERSATION_DATABASES ?? "DB").split(",")])) {
  await applyD1Migrations((env as unknown as Record<string, D1Database>)[binding]!, env.TEST_MIGRATIONS);
}

// The Worker logs one JSON line per write (and per maintenance run): thousands in a run, which bury
// the report. Info lines are dropped unless TURNSTORE_TEST_LOGS is set; errors always print. A test
// that reads log lines spies on console.log itself, which replaces this filter while it runs.
if (!env.TURNSTORE_TEST_LOGS) {
  const log = console.log.bind(console);
  console.log = (...args: unknown[]) => {
    if (typeof args[0] === "string" && args[0].startsWith('{"level":"info"')) return;
    log(...args);
  };
}
