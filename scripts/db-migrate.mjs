#!/usr/bin/env node
// npm run db:migrate -- [--local [--persist-to DIR] | --remote]: applies the migrations of drizzle/ to
// every D1 database wrangler.toml binds (DB and each extra conversation database), in turn.
import { parseArgs } from "node:util";
import { migrateAll } from "./lib/d1-bindings.mjs";

const HELP = `usage: npm run db:migrate -- [--local [--persist-to DIR] | --remote]

Applies the migrations in drizzle/ (wrangler d1 migrations apply) to every D1 database bound in
wrangler.toml: DB first, then each extra conversation database. Safe to repeat: applied migrations
are skipped.

options:
  --local             the local databases of wrangler dev (the default)
  --persist-to DIR    local state under DIR instead of .wrangler/state
  --remote            the deployed databases (needs wrangler login or CLOUDFLARE_API_TOKEN)
  -h, --help          print this help and exit

exit codes:
  0  every database is migrated
  2  unknown or malformed flag
  *  wrangler's exit code for the first database that failed
`;

let values;
try {
  ({ values } = parseArgs({
    options: {
      local: { type: "boolean" },
      remote: { type: "boolean" },
      "persist-to": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  }));
} catch (error) {
  console.error(`npm run db:migrate: ${error.message.split("\n")[0]} (see --help)`);
  process.exit(2);
}
if (values.help) {
  process.stdout.write(HELP);
  process.exit(0);
}
if (values.remote && (values.local || values["persist-to"] !== undefined)) {
  console.error("npm run db:migrate: --remote cannot go with --local or --persist-to (see --help)");
  process.exit(2);
}
const target = values.remote ? ["--remote"] : ["--local", ...(values["persist-to"] ? ["--persist-to", values["persist-to"]] : [])];
const result = migrateAll(target);
if (result.status !== 0) console.error(`npm run db:migrate: migrating ${result.binding} failed`);
process.exit(result.status);
