import { applyD1Migrations, reset } from "cloudflare:test";
import { env } from "cloudflare:workers";

// Setup files run before each test file, in a workerd that served earlier files (isolate: false in
// vitest.config.ts): reset() empties every database first, then each gets the drizzle/ migrations.
// reset() right after a heavy file sometimes leaves a database as it was (a second call a moment
// later clears it), so it is checked and repeated: a file never starts on a database not empty.
const bindings = new Set(["DB", ...(env.CONVERSATION_DATABASES ?? "DB").split(",")]);
const database = (binding: string) => (env as unknown as Record<string, D1Database>)[binding]!;
const userObjects = async (binding: string) =>
  (await database(binding)
    .prepare("SELECT count(*) AS n FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%'")
    .first<number>("n"))!;
for (let attempt = 1; ; attempt++) {
  await reset();
  let left = 0;
  for (const binding of bindings) left += await userObjects(binding);
  if (left === 0) break;
  if (attempt === 20) throw new Error("reset() left D1 non-empty 20 times");
  await new Promise((resolve) => setTimeout(resolve, 50 * attempt));
}
for (const binding of bindings) await applyD1Migrations(database(binding), env.TEST_MIGRATIONS);

// The Worker logs one JSON line per write (and per maintenance run): thousands in a run, which bury
// the report. Info lines are dropped unless TURNSTORE_TEST_LOGS is set; errors always print. A test
// that reads log lines spies on console.log itself, which replaces this filter while it runs.
// Installed once per workerd (this file runs again for every test file).
const QUIET = Symbol.for("turnstore.test.quietLog");
if (!env.TURNSTORE_TEST_LOGS && !(QUIET in console.log)) {
  const log = console.log.bind(console);
  console.log = Object.assign(
    (...args: unknown[]) => {
      if (typeof args[0] === "string" && args[0].startsWith('{"level":"info"')) return;
      log(...args);
    },
    { [QUIET]: true },
  );
}
