#!/usr/bin/env node
// npm run db:migrate -- [--local [--persist-to DIR] | --remote] [--config FILE]: applies the migrations
// of drizzle/ to every D1 database the wrangler configuration binds (DB and each extra one), in turn.
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { migrateAll } from "../tools/d1-bindings.mjs";

const HELP = `usage: npm run db:migrate -- [--local [--persist-to DIR] | --remote] [--config FILE]

Applies the migrations (wrangler d1 migrations apply) to every D1 database bound in wrangler.toml:
DB first, then each extra conversation database. Safe to repeat: applied migrations are skipped.

options:
  --local             the local databases of wrangler dev (the default)
  --persist-to DIR    local state under DIR instead of .wrangler/state
  --remote            the deployed databases (needs wrangler login or CLOUDFLARE_API_TOKEN)
  --config FILE       another wrangler configuration (its d1_databases and migrations_dir)
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
      config: { type: "string" },
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
// npm run starts scripts in the package root: a relative path is the operator's (INIT_CWD).
const here = (path) => resolve(process.env.INIT_CWD ?? process.cwd(), path);
const target = values.remote ? ["--remote"] : ["--local", ...(values["persist-to"] ? ["--persist-to", here(values["persist-to"])] : [])];
const config = values.config === undefined ? undefined : here(values.config);
const result = migrateAll(target, { config });
if (result.status !== 0) console.error(`npm run db:migrate: migrating ${result.binding} failed`);
process.exit(result.status);
