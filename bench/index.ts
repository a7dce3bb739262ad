/**
 * npm run bench [-- --quick] [-- --json] [-- --help]
 *
 * Measures what users pay for (issues 7, 13, 15, 17): write throughput against a single-row
 * baseline and where a write's time goes, D1 rows and statements per write, read cost against
 * database size, a growing conversation (storage, request bytes, rows and the summary page as it
 * grows), deleting a conversation, the backfill on a million legacy turns, bundle size and
 * start-up, and the Go peer anchor. The full run writes docs/BENCHMARKS.md; --quick (smaller
 * sizes, no million-row databases) only prints. --json ends the output with one JSON line.
 *
 * Everything runs on loopback against `wrangler dev` / local D1 in a temporary folder that is
 * removed afterwards; progress goes to stderr.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { parseCommandLine, USAGE_EXIT_CODE } from "../tools/cli";
import { ROOT, startDev, type DevServer } from "../tools/wrangler-dev";
import { measureBackfill, type BackfillResult } from "./backfill";
import { measureBundle, measureDevColdStart, measureStartupCpu, type BundleResult } from "./bundle";
import { copyDatabase, d1File, emptyTemplate, migratedTemplate } from "./databases";
import { measureDeletion, type DeletionResult } from "./deletion";
import { deletionSource, measureGrowing, type GrowingResult } from "./growing";
import { describeMachine, loadAverage, type Machine } from "./machine";
import { measureReadLatency, measureReadQueries, type ReadDatabase, type ReadLatency, type ReadQueryCost } from "./read-cost";
import { generateReadDatabase } from "./read-database";
import { renderReport } from "./report";
import { keepOtlpSection } from "./report-otlp";
import { summarize } from "./summary";
import { workerLimits, type WorkerLimits } from "./worker-limits";
import { measureWriteCost, type WriteCostResult } from "./write-cost";
import { BENCH_ENTRY, measureWriteThroughput, type ThroughputResult } from "./write-throughput";

export const TOKENS = { ingest: "bench-ingest-token", debug: "bench-debug-token", admin: "bench-admin-token" } as const;

export interface BenchConfig {
  mode: "full" | "quick";
  writeTurns: number;
  throughput: { rounds: number; seconds: number; connections: number; warmupSeconds: number };
  readSizes: number[];
  readRequests: number;
  readWarmup: number;
  growingTurns: number[];
  growingRequests: number;
  growingFullPageRequests: number;
  backfillTurns: number;
  backfillPerStatement: boolean;
  minifiedBundle: boolean;
  startupCpu: boolean;
  coldStarts: number;
}

export const CONFIGS: Record<BenchConfig["mode"], BenchConfig> = {
  quick: {
    mode: "quick",
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
    mode: "full",
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

const USAGE = `Usage: npm run bench -- [options]

Benchmarks Turnstore against local D1 and \`wrangler dev\` (loopback, free ports, a temporary folder
under $TMPDIR removed afterwards): write throughput against a single-row baseline and a stage
profile of a write, D1 rows and statements per write, read cost on ${CONFIGS.full.readSizes.map((n) => n.toLocaleString("en-US")).join(" and ")} snapshots, a
growing conversation (T = ${CONFIGS.full.growingTurns.join(", ")} turns), deleting a conversation, the backfill of
${CONFIGS.full.backfillTurns.toLocaleString("en-US")} legacy turns, bundle size and start-up. Needs Debian's sqlite3 (apt-get install -y sqlite3).

Options:
  --quick      smaller sizes (reads on ${CONFIGS.quick.readSizes.map((n) => n.toLocaleString("en-US")).join(", ")} snapshots, T = ${CONFIGS.quick.growingTurns.join(", ")}, backfill of ${CONFIGS.quick.backfillTurns.toLocaleString("en-US")} turns,
               ${CONFIGS.quick.throughput.rounds} throughput rounds of ${CONFIGS.quick.throughput.seconds} s); under 2 minutes; prints the report and writes it
               to $TMPDIR/turnstore-bench-quick.md, never to docs/BENCHMARKS.md
               (default: the full run, under 10 minutes, which writes docs/BENCHMARKS.md)
  --json       end the output with one line of JSON: the headline figures (bench/summary.ts)
  -h, --help   print this help and exit without running anything

Progress goes to stderr; the summary table (and the JSON line) to stdout.

Exit codes:
  0  every section ran
  1  a section failed (the report says which; a full run then leaves docs/BENCHMARKS.md as it was)
  ${USAGE_EXIT_CODE}  unknown option
`;

export interface ReadResults {
  databases: ReadDatabase[];
  queries: Array<{ snapshots: number; costs: ReadQueryCost[] }>;
  latency: ReadLatency[];
}

export interface BenchResults {
  config: BenchConfig;
  machine: Machine;
  loadAverageAtEnd: [number, number, number];
  elapsedSeconds: number;
  sectionSeconds: Record<string, number>;
  /** 1-minute load average when each section started and ended (the machine is shared). */
  sectionLoad: Record<string, [number, number]>;
  bundle: BundleResult | null;
  startupCpu: { cpuMs: number; samples: number } | null;
  devColdStart: { medianMs: number; samplesMs: number[] } | null;
  writeCost: WriteCostResult | null;
  throughput: ThroughputResult | null;
  reads: ReadResults | null;
  growing: GrowingResult | null;
  deletion: DeletionResult | null;
  backfill: BackfillResult | null;
  /** The Worker's budgets and schedule (worker-limits.ts). */
  limits: WorkerLimits | null;
  errors: Array<{ section: string; message: string }>;
}

const log = (message: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);

const running = new Set<DevServer>();
/** wrangler dev on a prepared database, on a free port; `entry`: another Worker entry than wrangler.toml's. */
async function serve(persistTo: string, options: { entry?: string; onLine?: (line: string) => void } = {}): Promise<DevServer> {
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
}
async function stop(server: DevServer) {
  running.delete(server);
  await server.stop();
}

async function main() {
  const flags = parseCommandLine("bench", USAGE, {
    quick: { type: "boolean" },
    json: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  const config = CONFIGS[flags.quick ? "quick" : "full"];
  const started = performance.now();
  const machine = describeMachine();
  log(`${config.mode} run; load average ${machine.loadAverageAtStart.join(" ")}; ${machine.cpus} CPUs`);

  const root = mkdtempSync(join(os.tmpdir(), "turnstore-bench-"));
  const cleanup = async () => {
    for (const server of [...running]) await stop(server).catch(() => {});
    rmSync(root, { recursive: true, force: true });
  };
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => void cleanup().finally(() => process.exit(130)));
  }

  const results: BenchResults = {
    config,
    machine,
    loadAverageAtEnd: machine.loadAverageAtStart,
    elapsedSeconds: 0,
    sectionSeconds: {},
    sectionLoad: {},
    bundle: null,
    startupCpu: null,
    devColdStart: null,
    writeCost: null,
    throughput: null,
    reads: null,
    growing: null,
    deletion: null,
    backfill: null,
    limits: null,
    errors: [],
  };
  const section = async (name: string, fn: () => Promise<void> | void) => {
    const t = performance.now();
    const loadAtStart = loadAverage()[0];
    log(`${name}… (load ${loadAtStart})`);
    try {
      await fn();
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      log(`${name} FAILED: ${message}`);
      results.errors.push({ section: name, message: message.slice(0, 2000) });
    } finally {
      results.sectionSeconds[name] = (performance.now() - t) / 1000;
      results.sectionLoad[name] = [loadAtStart, loadAverage()[0]];
      log(`${name} done in ${results.sectionSeconds[name]!.toFixed(1)} s`);
    }
  };

  try {
    let migrated = "";
    let empty = "";
    await section("templates", async () => {
      migrated = migratedTemplate(root);
      empty = emptyTemplate(root);
      results.limits = await workerLimits();
    });

    await section("bundle", () => {
      results.bundle = measureBundle(root, { minified: config.minifiedBundle });
      if (config.startupCpu) results.startupCpu = measureStartupCpu(root);
    });
    if (config.coldStarts > 0) {
      await section("dev cold start", async () => {
        results.devColdStart = await measureDevColdStart(root, migrated, config.coldStarts);
      });
    }

    await section("rows per write", async () => {
      results.writeCost = await measureWriteCost(copyDatabase(migrated, join(root, "write-cost")), config.writeTurns);
    });

    await section("write throughput", async () => {
      const t = performance.now();
      // The bench-only entry: the baseline route, and the production Worker for everything else.
      const server = await serve(copyDatabase(migrated, join(root, "throughput")), { entry: BENCH_ENTRY });
      if (config.coldStarts === 0) results.devColdStart = { medianMs: performance.now() - t, samplesMs: [performance.now() - t] };
      try {
        results.throughput = await measureWriteThroughput(server, { token: TOKENS.ingest, ...config.throughput });
      } finally {
        await stop(server);
      }
    });

    await section("read cost", async () => {
      const reads: ReadResults = { databases: [], queries: [], latency: [] };
      for (const snapshots of config.readSizes) {
        const dir = copyDatabase(migrated, join(root, `read-${snapshots}`));
        const t = performance.now();
        generateReadDatabase(dir, snapshots);
        reads.databases.push({
          snapshots,
          persistTo: dir,
          generateSeconds: (performance.now() - t) / 1000,
          fileBytes: statSync(d1File(dir)).size,
        });
        log(`  ${snapshots} snapshots generated in ${((performance.now() - t) / 1000).toFixed(1)} s`);
        reads.queries.push({ snapshots, costs: await measureReadQueries(dir) });
      }
      const servers: Array<{ snapshots: number; server: DevServer }> = [];
      try {
        for (const db of reads.databases) servers.push({ snapshots: db.snapshots, server: await serve(db.persistTo) });
        reads.latency = await measureReadLatency(servers, TOKENS.debug, config.readRequests, config.readWarmup);
      } finally {
        for (const { server } of servers) await stop(server);
        for (const db of reads.databases) rmSync(db.persistTo, { recursive: true, force: true });
      }
      results.reads = reads;
    });

    await section("growing conversation", async () => {
      results.growing = await measureGrowing((name) => join(root, name), migrated, {
        turns: config.growingTurns,
        requests: config.growingRequests,
        fullPageRequests: config.growingFullPageRequests,
        warmup: config.readWarmup,
        tokens: TOKENS,
        serve: (persistTo, onLine) => serve(persistTo, { onLine }),
        stop,
        log,
      });
    });

    await section("deleting a conversation", async () => {
      if (!results.growing) throw new Error("needs the growing conversation's database, which was not built");
      const source = deletionSource(results.growing);
      try {
        results.deletion = await measureDeletion({
          source: { persistTo: source.persistTo, convId: source.convId, turns: source.turns },
          dirFor: (name) => join(root, name),
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
      const dir = join(root, "backfill");
      mkdirSync(dir);
      try {
        results.backfill = measureBackfill(dir, empty, config.backfillTurns, { perStatement: config.backfillPerStatement });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  } finally {
    await cleanup();
  }

  results.loadAverageAtEnd = loadAverage();
  results.elapsedSeconds = (performance.now() - started) / 1000;
  const summary = summarize(results);
  const report = renderReport(results, summary);
  if (config.mode === "full" && results.errors.length === 0) {
    // The OTLP ingestion section is npm run bench:otlp's (bench/report-otlp.ts): kept as it is.
    const file = join(ROOT, "docs", "BENCHMARKS.md");
    writeFileSync(file, keepOtlpSection(existsSync(file) ? readFileSync(file, "utf8") : null, report));
    log("wrote docs/BENCHMARKS.md");
  } else {
    // Quick runs (and failed full runs) never replace the recorded full results.
    const file = join(os.tmpdir(), `turnstore-bench-${config.mode}.md`);
    writeFileSync(file, report);
    log(`${config.mode === "full" ? "a section failed: docs/BENCHMARKS.md left as it was; " : ""}full report in ${file}`);
  }
  process.stdout.write(`${report.split("\n## Method")[0]}\n`);
  if (flags.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  if (results.errors.length > 0) process.exitCode = 1;
}

main().catch((error) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
