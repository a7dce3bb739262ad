import { defineConfig } from "drizzle-kit";

// Migrations are generated from src/db/schema.ts into flat drizzle/NNNN_name.sql files,
// which `wrangler d1 migrations apply` and the test harness (readD1Migrations) both read.
export default defineConfig({
  dialect: "sqlite",
  schema: "./src/db/schema.ts",
  out: "./drizzle",
});
