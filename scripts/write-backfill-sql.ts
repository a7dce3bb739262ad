// Rewrites drizzle/0002_backfill.sql from src/db/backfill-sql.ts (run: npm run db:backfill-sql).
import { writeFileSync } from "node:fs";
import { generateBackfillSql } from "../src/db/backfill-sql";

writeFileSync(new URL("../drizzle/0002_backfill.sql", import.meta.url), generateBackfillSql());
console.log("wrote drizzle/0002_backfill.sql");
