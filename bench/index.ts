/**
 * npm run bench [-- --quick] [-- --json] [-- --render] [-- --help]
 *
 * Measures what users pay for (issues 7, 13, 15, 17): write throughput against a single-row
 * baseline and where a write's time goes, D1 rows and statements per write, read cost against
 * database size, a growing conversation (storage, request bytes, rows and the summary page as it
 * grows), deleting a conversation, the backfill on a million legacy turns, bundle size and
 * start-up, and the Go peer anchor. The full run writes its figures to bench/results/latest.json
 * and docs/BENCHMARKS.md from them (report.ts); --quick (smaller sizes, no million-row databases)
 * writes both under $TMPDIR only. --json ends the output with one JSON line.
 *
 * Everything runs on loopback against `wrangler dev` / local D1 in a temporary folder that is
 * removed afterwards; progress goes to stderr.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { parseCommandLine, USAGE_EXIT_CODE } from "../tools/cli";
import { startDev, type DevServer } from "../tools/wrangler-dev";
import { measureBackfill } from "./backfill";
import { measureBundle, measureDevColdStart, measureStartupCpu } from "./bundle";
import { copyDatabase, emptyTemplate, migratedTemplate } from "./databases";
import { measureDeletion } from "./deletion";
import { measureGrowing } from "./growing";
import { describeMachine, loadAverage } from "./machine";
import { measureReads } from "./read-cost";
import { figures, type Measured, readResults, renderReport, REPORT, RESULTS } from "./report";
import { workerLimits, type WorkerLimits } from "./worker-limits";
import { measureWriteCost } from "./write-cost";
import { BENCH_ENTRY, measureWriteThroughput } from "./write-throughput";

const TOKENS = { ingest: "bench-ingest-token", debug: "bench-debug-token", admin: "bench-admin-token" } as const;

const CONFIGS = {
  quick: {
    writeTurns: 30,
    // Three rounds, so the median is one round rather than the mean of two (one disturbed round moved
    // it by ±0.07); a warm-up long enough for the JIT to see the snapshot route's code.
    throughput: { rounds: 3, seconds: 3, connections: 4, warmupSeconds: 2 },
    readSizes: [10_000],
    readRequests: 10,
    readWarmup: 3,
    growingTurns: [20, 100],
    growingRequests: 10,
    growingFullPageRequests: 2,
    backfillTurns: 10_000,
    backfillPerStatement: false,
    minifiedBundle: false,
    startupCpu: false,
    coldStarts: 0,
  },
  full: {
    writeTurns: 100,
    throughput: { rounds: 5, seconds: 5, connections: 4, warmupSeconds: 3 },
    readSizes: [10_000, 1_000_000],
    readRequests: 40,
    readWarmup: 5,
    growingTurns: [50, 200, 1000],
    growingRequests: 30,
    growingFullPageRequests: 5,
    backfillTurns: 1_000_000,
    backfillPerStatement: true,
    minifiedBundle: true,
    startupCpu: true,
    coldStarts: 3,
  },
};

const n = (x: number) => x.toLocaleString("en-US");
const { quick, full } = CONFIGS;

const USAGE = `Usage: npm run bench -- [options]

Benchmarks Turnstore against local D1 and \`wrangler dev\` (loopback, free ports, a temporary folder
under $TMPDIR removed afterwards): write throughput against a single-row baseline and a stage
profile of a write, D1 rows and statements per write, read cost on ${full.readSizes.map(n).join(" and ")} snapshots, a
growing conversation (T = ${full.growingTurns.join(", ")} turns), deleting a conversation, the backfill of
${n(full.backfillTurns)} legacy turns, bundle size and start-up. Needs Debian's sqlite3 (apt-get install -y sqlite3).

Options:
  --quick      smaller sizes (reads on ${quick.readSizes.map(n).join(", ")} snapshots, T = ${quick.growingTurns.join(", ")}, backfill of ${n(quick.backfillTurns)} turns,
               ${quick.throughput.rounds} throughput rounds of ${quick.throughput.seconds} s); under 2 minutes; prints the report and writes it
               to $TMPDIR/turnstore-bench-quick.md (its figures to …-quick.json), never to
               docs/BENCHMARKS.md or bench/results/
               (default: the full run, under 10 minutes, which writes bench/results/latest.json and
               docs/BENCHMARKS.md from it)
  --json       end the output with one line of JSON: the headline figures (bench/report.ts)
  --render     measure nothing: write docs/BENCHMARKS.md again from bench/results/*.json and the
               template bench/report.template.md (after editing the template)
  -h, --help   print this help and exit without running anything

Progress goes to stderr; the summary table (and the JSON line) to stdout.

Exit codes:
  0  every section ran
  1  a section failed (the report says which; a full run then leaves bench/results/ and
     docs/BENCHMARKS.md as they were)
  ${USAGE_EXIT_CODE}  unknown option
`;

const log = (message: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);

async function main() {
  const flags = parseCommandLine("bench", USAGE, {
    quick: { type: "boolean" },
    json: { type: "boolean" },
    render: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  if (flags.render) {
    const { results, otlp } = readResults();
    writeFileSync(REPORT, renderReport(results, otlp));
    log("wrote docs/BENCHMARKS.md from bench/results/");
    return;
  }
  const mode = flags.quick ? "quick" : "full";
  const config = CONFIGS[mode];
  const started = performance.now();
  const machine = describeMachine();
  log(`${mode} run; load average ${machine.loadAverageAtStart.join(" ")}; ${machine.cpus} CPUs`);

  const root = mkdtempSync(join(os.tmpdir(), "turnstore-bench-"));
  const dirFor = (name: string) => join(root, name);
  const running = new Set<DevServer>();
  const stop = async (server: DevServer) => {
    running.delete(server);
    await server.stop();
  };
  /** wrangler dev on a prepared database, on a free port; `entry`: another Worker entry than wrangler.toml's. */
  const serve = async (persistTo: string, options: { entry?: string; onLine?: (line: string) => void } = {}) => {
    const server = await startDev({
      persistTo,
      entry: options.entry,
      skipMigrations: true,
      // Throughput runs far beyond the ingest token's rate limit: measured without it.
      vars: { INGEST_TOKEN: TOKENS.ingest, DEBUG_TOKEN: TOKENS.debug, ADMIN_TOKEN: TOKENS.admin, RATE_LIMITS: "off" },
      onLine: options.onLine,
    });
    running.add(server);
    return server;
  };
  const cleanup = async () => {
    for (const server of [...running]) await stop(server).catch(() => {});
    rmSync(root, { recursive: true, force: true });
  };
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => void cleanup().finally(() => process.exit(130)));

  const m: Measured = {
    mode,
    machine: { ...machine, loadAverageAtEnd: machine.loadAverageAtStart, minutes: 0, sections: [] },
    errors: [],
    throughput: null,
    profile: null,
    writes: null,
    reads: null,
    growing: null,
    deletion: null,
    backfill: null,
    bundle: null,
    startup: { cpuMs: null, samples: null, devColdStart: null },
  };
  const section = async (name: string, fn: () => Promise<void> | void) => {
    const t = performance.now();
    const loadStart = loadAverage()[0]!;
    log(`${name}… (load ${loadStart})`);
    try {
      await fn();
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      log(`${name} FAILED: ${message}`);
      m.errors.push({ section: name, message: message.split("\n")[0]!.slice(0, 2000) });
    } finally {
      const seconds = (performance.now() - t) / 1000;
      m.machine.sections.push({ name, seconds, loadStart, loadEnd: loadAverage()[0]! });
      log(`${name} done in ${seconds.toFixed(1)} s`);
    }
  };

  try {
    let migrated = "";
    let empty = "";
    let limits: WorkerLimits | null = null;
    await section("templates", async () => {
      migrated = migratedTemplate(root);
      empty = emptyTemplate(root);
      limits = await workerLimits();
    });
    await section("bundle", () => {
      m.bundle = measureBundle(root, { minified: config.minifiedBundle });
      if (config.startupCpu) m.startup = { ...m.startup, ...measureStartupCpu(root) };
    });
    if (config.coldStarts > 0) {
      await section("dev cold start", async () => {
        m.startup.devColdStart = await measureDevColdStart(root, migrated, config.coldStarts);
      });
    }
    await section("rows per write", async () => {
      const { writes, profile } = await measureWriteCost(copyDatabase(migrated, dirFor("write-cost")), config.writeTurns);
      m.writes = writes;
      m.profile = profile;
    });
    await section("write throughput", async () => {
      const t = performance.now();
      // The bench-only entry: the baseline route, and the production Worker for everything else.
      const server = await serve(copyDatabase(migrated, dirFor("throughput")), { entry: BENCH_ENTRY });
      if (config.coldStarts === 0) m.startup.devColdStart = { medianMs: performance.now() - t, samplesMs: [performance.now() - t] };
      try {
        m.throughput = await measureWriteThroughput(server, { token: TOKENS.ingest, ...config.throughput });
      } finally {
        await stop(server);
      }
    });
    await section("read cost", async () => {
      m.reads = await measureReads({
        dirFor,
        template: migrated,
        sizes: config.readSizes,
        requests: config.readRequests,
        warmup: config.readWarmup,
        token: TOKENS.debug,
        serve: (persistTo) => serve(persistTo),
        stop,
        log,
      });
    });
    let kept: Awaited<ReturnType<typeof measureGrowing>>["kept"] | null = null;
    await section("growing conversation", async () => {
      if (!limits) throw new Error("needs the Worker's limits, which were not read");
      const grown = await measureGrowing({
        dirFor,
        template: migrated,
        turns: config.growingTurns,
        requests: config.growingRequests,
        fullPageRequests: config.growingFullPageRequests,
        warmup: config.readWarmup,
        maxBlocksPerPage: limits.maxBlocksPerPage,
        tokens: TOKENS,
        serve: (persistTo, onLine) => serve(persistTo, { onLine }),
        stop,
        log,
      });
      m.growing = grown.figures;
      kept = grown.kept;
    });
    await section("deleting a conversation", async () => {
      const source = kept;
      if (!source || !limits) throw new Error("needs the growing conversation's database, which was not built");
      try {
        m.deletion = await measureDeletion({
          source,
          dirFor,
          limits,
          adminToken: TOKENS.admin,
          debugToken: TOKENS.debug,
          serve: (persistTo, onLine) => serve(persistTo, { onLine }),
          stop,
        });
      } finally {
        rmSync(source.persistTo, { recursive: true, force: true });
      }
    });
    await section("backfill", () => {
      if (!limits) throw new Error("needs the Worker's limits, which were not read");
      const dir = dirFor("backfill");
      mkdirSync(dir);
      try {
        m.backfill = measureBackfill(dir, empty, config.backfillTurns, { perStatement: config.backfillPerStatement, limits });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  } finally {
    await cleanup();
  }

  m.machine.loadAverageAtEnd = loadAverage();
  m.machine.minutes = (performance.now() - started) / 60_000;
  const results = figures(m);
  const json = `${JSON.stringify(results, null, 2)}\n`;
  if (mode === "full" && m.errors.length === 0) {
    writeFileSync(RESULTS.latest, json);
    const report = renderReport(results, readResults().otlp);
    writeFileSync(REPORT, report);
    log("wrote bench/results/latest.json and docs/BENCHMARKS.md");
    process.stdout.write(`${report.split("\n## Method")[0]}\n`);
  } else {
    // Quick runs (and failed full runs) never replace the recorded full results.
    const file = join(os.tmpdir(), `turnstore-bench-${mode}`);
    const report = renderReport(results, null);
    writeFileSync(`${file}.json`, json);
    writeFileSync(`${file}.md`, report);
    log(`${mode === "full" ? "a section failed: bench/results/ and docs/BENCHMARKS.md left as they were; " : ""}full report in ${file}.md`);
    process.stdout.write(`${report.split("\n## Method")[0]}\n`);
  }
  if (flags.json) process.stdout.write(`${JSON.stringify(results.headline)}\n`);
  if (m.errors.length > 0) process.exitCode = 1;
}

main().catch((error) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
