// Rewrites drizzle/0002_backfill.sql from src/db/backfill-sql.ts (npm run db:backfill-sql).
import { readFileSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { generateBackfillSql } from "../src/db/backfill-sql";

const HELP = `usage: npm run db:backfill-sql -- [--check]

Writes drizzle/0002_backfill.sql, the backfill step of the cutover migration, from the extraction rule's
key lists (src/db/backfill-sql.ts). Run it after changing those lists, review the diff by eye, and
commit both. A database that already applied 0002 is not affected: wrangler applies a migration once.

options:
  --check      write nothing; exit 1 if the file differs from what would be written
  -h, --help   print this help and exit

exit codes:
  0  written (or, with --check, up to date)
  1  --check: the file is out of date
  2  unknown flag or argument
`;

const target = new URL("../drizzle/0002_backfill.sql", import.meta.url);
let values: { check?: boolean; help?: boolean };
try {
  ({ values } = parseArgs({
    args: process.argv.slice(2),
    options: { check: { type: "boolean" }, help: { type: "boolean", short: "h" } },
    strict: true,
    allowPositionals: false,
  }));
} catch (error) {
  console.error(`db:backfill-sql: ${(error as Error).message.split("\n")[0]!.split(". To specify")[0]} (see --help)`);
  process.exit(2);
}
if (values.help) {
  process.stdout.write(HELP);
  process.exit(0);
}
const sql = generateBackfillSql();
if (values.check) {
  const current = readFileSync(target, "utf8");
  if (current !== sql) {
    console.error("drizzle/0002_backfill.sql is out of date: run npm run db:backfill-sql and review the diff");
    process.exit(1);
  }
  console.log("drizzle/0002_backfill.sql is up to date");
} else {
  writeFileSync(target, sql);
  console.log("wrote drizzle/0002_backfill.sql");
}
