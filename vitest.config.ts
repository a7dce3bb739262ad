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
// Read once for both Worker projects: splitting the migrations into statements takes ~0.35 s.
const testMigrations = readD1Migrations(join(ROOT, "drizzle"));

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
            TEST_MIGRATIONS: await testMigrations,
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
 * The order files start in. Three slots run files, each in a runner of the file's project, and a slot
 * keeps its runner only while the next file queued is of the same project. A Worker project's runner
 * takes seconds to start (a workerd, the Worker's modules transformed one at a time by vitest's main
 * process); when three slots started runners of one project together, a core sat ~30 % idle for ~7 s,
 * at every switch of project. So the three kinds of work overlap:
 *  - START: the first three files, one per slot: the 3-database suites' longest beside the two
 *    longest node files (CLIs and wrangler, busy on both cores for ~45 s). The other 3-database files
 *    come next: that slot runs them in the runner it has while the node files run on.
 *  - Then the node files, then the Worker's (PROJECT_ORDER); in each the longest first (SLOW_FIRST:
 *    a fresh clone has no timings of a last run, and ordered by file size vitest started the docs
 *    walk at 84 s, and the run ended ~35 s later), and one long node file last (SLOW_LAST), so that
 *    the Worker project's runners start beside it rather than on their own.
 */
const START: ReadonlyArray<readonly [project: string, file: string]> = [
  ["worker-3db", "test/worker/routes/tokens.security.test.ts"],
  ["node", "test/node/docs/examples.test.ts"],
  ["node", "test/node/tools/many-databases.cli.test.ts"],
];
const PROJECT_ORDER = ["worker-3db", "node", "worker"];
const SLOW_FIRST = [
  "test/node/browser/webchat.test.ts",
  "test/node/tools/import.happy.test.ts",
  // The resilience test mostly waits out a rate window: started early, its wait overlaps others' work.
  "test/worker/client/resilience.test.ts",
  "test/worker/rules/read-weight.test.ts",
  "test/worker/rules/request-bounds.test.ts",
  "test/worker/rules/properties.test.ts",
  "test/worker/databases/many-databases.test.ts",
  "test/worker/routes/operations.happy.test.ts",
  "test/worker/routes/export.happy.test.ts",
  "test/worker/routes/tokens.security.test.ts",
];
const SLOW_LAST = ["test/node/tools/go-era.cli.test.ts"];
for (const file of [...START.map(([, file]) => file), ...SLOW_FIRST, ...SLOW_LAST])
  if (!existsSync(join(ROOT, file))) throw new Error(`vitest.config.ts: the start order names ${file}, which is gone`);

class SlowFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const key = (f: TestSpecification, i: number) => {
      const file = relative(ROOT, f.moduleId);
      const start = START.findIndex(([project, first]) => project === f.project.name && first === file);
      const first = SLOW_FIRST.indexOf(file);
      const last = SLOW_LAST.indexOf(file);
      const rank = first >= 0 ? first : last >= 0 ? SLOW_FIRST.length + 1 + last : SLOW_FIRST.length;
      const project = PROJECT_ORDER.indexOf(f.project.name);
      if (project < 0) throw new Error(`vitest.config.ts: PROJECT_ORDER does not name the project ${f.project.name}`);
      return [start >= 0 ? start : START.length, project, rank, i];
    };
    const keyed = sorted.map((f, i) => ({ f, key: key(f, i) }));
    const compare = (a: number[], b: number[]) => a.reduce((d, x, j) => d || x - b[j]!, 0);
    return keyed.sort((a, b) => compare(a.key, b.key)).map(({ f }) => f);
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
