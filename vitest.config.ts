import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-pool-workers";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";
import { buildViewer } from "./scripts/build-viewer.mjs";

// The Worker imports the viewer's browser bundle (dist/viewer/viewer.js.txt): build it before any test
// loads the Worker, in the pool or under wrangler dev.
await buildViewer();

const migrationsDir = fileURLToPath(new URL("./drizzle", import.meta.url));

// .ci/run asks for a JSON report next to the usual output (its summary line is read from it).
const jsonReport = process.env.TURNSTORE_VITEST_JSON;

export default defineConfig({
  test: {
    reporters: jsonReport ? ["default", ["json", { outputFile: jsonReport }]] : ["default"],
    projects: [
      {
        // The Worker's real fetch handler against a real miniflare D1 (fresh per test file),
        // migrated with the same drizzle/ folder `wrangler d1 migrations apply` uses.
        plugins: [
          cloudflareTest(async () => ({
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: {
              bindings: {
                INGEST_TOKEN: "test-ingest-token",
                DEBUG_TOKEN: "test-debug-token",
                ADMIN_TOKEN: "test-admin-token",
                CORS_ORIGINS: "https://chat.example.com, https://app.example.com",
                // Two keys: "test-1" signs, "old-1" still verifies (a rotation in progress).
                TOKEN_SIGNING_KEY: "test-1:test-token-signing-secret-0123456789abcdef,old-1:old-token-signing-secret-0123456789abcdef",
                // Rate limits count across a whole test file; the tests that exercise them switch them on per request.
                RATE_LIMITS: "off",
                TEST_MIGRATIONS: await readD1Migrations(migrationsDir),
                TURNSTORE_TEST_LOGS: process.env.TURNSTORE_TEST_LOGS ?? "",
              },
            },
          })),
        ],
        test: {
          name: "worker",
          include: ["test/worker/**/*.test.ts"],
          setupFiles: ["./test/worker/apply-migrations.ts"],
        },
      },
      {
        // Node-side tools (import, db:check) and generators, run outside the Worker runtime.
        test: {
          name: "node",
          include: ["test/node/**/*.test.ts"],
          environment: "node",
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
