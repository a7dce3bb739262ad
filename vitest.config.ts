import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-pool-workers";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";
import { BaseSequencer, type TestSpecification } from "vitest/node";
import { buildViewer } from "./scripts/build-viewer.mjs";

// The Worker imports the viewer's browser bundle (dist/viewer/viewer.js.txt): build it before any test
// loads the Worker, in the pool or under wrangler dev.
await buildViewer();

const ROOT = fileURLToPath(new URL(".", import.meta.url));
const migrationsDir = join(ROOT, "drizzle");

// .ci/run asks for a JSON report next to the usual output (its summary line is read from it).
const jsonReport = process.env.TURNSTORE_VITEST_JSON;

/**
 * The packages the Worker and its tests import (bare specifiers, type-only imports left out). Each
 * test file gets a fresh workerd that loads every module it needs from Vite one request at a time:
 * hono, zod, drizzle, yaml and protobuf are hundreds of small modules, seconds per file. Vite's
 * dependency optimizer bundles each package into one module once (node_modules/.vite), so a file
 * loads a few dozen. Read from the sources, so a new import is bundled too.
 */
function workerPackages(): string[] {
  const found = new Set<string>();
  for (const dir of ["src", "test/worker"]) {
    for (const file of readdirSync(join(ROOT, dir), { recursive: true, encoding: "utf8" })) {
      if (!/\.tsx?$/.test(file) || file.startsWith("viewer/client/")) continue;
      const text = readFileSync(join(ROOT, dir, file), "utf8");
      for (const m of text.matchAll(/^\s*(?:import|export)(?!\s+type\b)[^;"]*?from\s+"([^"]+)"|\bimport\(\s*"([^"]+)"\s*\)/gm)) {
        const spec = m[1] ?? m[2]!;
        if (!/^[./]|^(cloudflare|node|workerd):|^vitest$/.test(spec)) found.add(spec);
      }
    }
  }
  return [...found].sort();
}
const WORKER_PACKAGES = workerPackages();

/** The suites that cross conversations, run again with conversations spread over three databases. */
const THREE_DATABASE_SUITES = [
  "test/worker/databases/**/*.test.ts",
  "test/worker/routes/debug.happy.test.ts",
  "test/worker/routes/debug.paging.test.ts",
  "test/worker/routes/admin.deletion.test.ts",
  "test/worker/routes/export.happy.test.ts",
  "test/worker/routes/operations.happy.test.ts",
  "test/worker/routes/resume.happy.test.ts",
  "test/worker/routes/tokens.security.test.ts",
  "test/worker/routes/otlp.happy.test.ts",
];

/**
 * The Worker's real fetch handler against real miniflare D1 databases (fresh per test file), migrated
 * with the same drizzle/ folder `wrangler d1 migrations apply` uses.
 */
function workerProject(name: string, include: string[], exclude: string[], vars: Record<string, string> = {}) {
  const extraDatabases = (vars.CONVERSATION_DATABASES ?? "DB").split(",").filter((b) => b !== "DB");
  return {
    plugins: [
      cloudflareTest(async () => ({
        wrangler: { configPath: "./wrangler.toml" },
        miniflare: {
          // wrangler.toml binds DB; more databases are bound here, each its own local D1.
          ...(extraDatabases.length > 0
            ? { d1Databases: Object.fromEntries(["DB", ...extraDatabases].map((binding) => [binding, `test-${binding.toLowerCase()}`])) }
            : {}),
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
            ...vars,
          },
        },
      })),
    ],
    test: {
      name,
      include,
      exclude,
      setupFiles: ["./test/worker/apply-migrations.ts"],
      // One workerd per runner, reused file after file: starting one and loading the Worker into it
      // cost more than most files' tests. Each file still starts on empty, freshly migrated
      // databases (the setup file); what files share is the Worker's isolate memory — placements and
      // the block and path caches, hints it never trusts, as a warm isolate in production — and the
      // in-memory rate-limit counters.
      isolate: false,
      // Three files run at once on 2 cores: room for the heavy ones (moves interrupted at every statement).
      testTimeout: 30_000,
      hookTimeout: 30_000,
      deps: { optimizer: { ssr: { enabled: true, include: WORKER_PACKAGES } } },
    },
  };
}

/**
 * The files that take longest, per project, longest first. vitest starts the files it timed last run
 * longest first; a fresh clone has no such times, and ordered by file size it started the docs walk
 * (45 s of CPU in a 160-line file) at 84 s and ended ~35 s later than a warm run. These go first on
 * every run, in this order (the resilience test mostly waits out a rate window: started early, its
 * wait overlaps others' work); vitest orders the rest.
 */
const SLOW_FIRST = [
  "test/node/docs/examples.test.ts",
  "test/node/tools/many-databases.cli.test.ts",
  "test/node/browser/webchat.test.ts",
  "test/node/tools/go-era.cli.test.ts",
  "test/node/tools/import.happy.test.ts",
  "test/worker/client/resilience.test.ts",
  "test/worker/rules/request-bounds.test.ts",
  "test/worker/rules/read-weight.test.ts",
  "test/worker/rules/properties.test.ts",
  "test/worker/databases/many-databases.test.ts",
  "test/worker/routes/tokens.security.test.ts",
];
for (const file of SLOW_FIRST)
  if (!existsSync(join(ROOT, file))) throw new Error(`vitest.config.ts: SLOW_FIRST names ${file}, which is gone`);

class SlowFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    // Projects keep vitest's order (one after another); within each, the slow files lead.
    const projects = [...new Set(sorted.map((f) => f.project.name))];
    const rank = (f: TestSpecification) => {
      const i = SLOW_FIRST.indexOf(relative(ROOT, f.moduleId));
      return i < 0 ? SLOW_FIRST.length : i;
    };
    return sorted
      .map((f, i) => ({ f, i }))
      .sort((a, b) => projects.indexOf(a.f.project.name) - projects.indexOf(b.f.project.name) || rank(a.f) - rank(b.f) || a.i - b.i)
      .map(({ f }) => f);
  }
}

export default defineConfig({
  test: {
    // Three test files at a time on 2 cores (vitest's default there is one): the node project's files
    // wait on wrangler dev, the CLIs, Chromium or a rate-limit window, and others run meanwhile.
    // Measured for the whole of `npm test` on this 2-core machine: 2 → 246 s, 3 → 194–200 s, 4 → 223 s.
    maxWorkers: 3,
    sequence: { sequencer: SlowFirstSequencer },
    reporters: jsonReport ? ["default", ["json", { outputFile: jsonReport }]] : ["default"],
    projects: [
      workerProject("worker", ["test/worker/**/*.test.ts"], ["test/worker/databases/**"]),
      // The same Worker over three D1 databases (CONTRACT §6.4): the cross-conversation suites again,
      // and the tests of placement, merged reads and moves.
      workerProject("worker-3db", THREE_DATABASE_SUITES, [], {
        CONVERSATION_DATABASES: "DB,DB_1,DB_2",
      }),
      {
        // Node-side tools (import, db:check) and generators, run outside the Worker runtime.
        test: {
          name: "node",
          include: ["test/node/**/*.test.ts"],
          environment: "node",
          // Files run one after another in a worker process that keeps its loaded modules (vitest,
          // wrangler, the scripts): loading them again for each file was ~10 s of CPU in a run. Each
          // file makes its own temp folders and servers; what files share (modules, and WRANGLER_LOG
          // once tools/d1.ts has opened a database) no test depends on.
          isolate: false,
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
