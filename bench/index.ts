/** npm run bench (USAGE below): one module per section; the figures to bench/results/latest.json, the page via report.ts. */
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
import { measureManyDatabases } from "./many-databases";
import type { Bench } from "./http";
import { describeMachine, loadAverage } from "./machine";
import { measureReads } from "./read-cost";
import { figures, type Measured, readResults, renderReport, REPORT, RESULTS } from "./report";
import { workerLimits, type WorkerLimits } from "./worker-limits";
import { measureWriteCost } from "./write-cost";
import { BENCH_ENTRY, measureWriteThroughput } from "./write-throughput";

const CONFIGS = {
  quick: {
    writeTurns: 30,
    // Three rounds, so the median is one round rather than the mean of two (one disturbed round moved
    // it by ±0.07); a warm-up long enough for the JIT to see the snapshot route's code.
    ...{ throughput: { rounds: 3, seconds: 3, connections: 4, warmupSeconds: 2 }, reads: { sizes: [10_000], requests: 10, warmup: 3 } },
    ...{ growing: { turns: [20, 100], requests: 10, fullPageRequests: 2, warmup: 3 }, backfill: { turns: 10_000, perStatement: false } },
    ...{ minifiedBundle: false, startupCpu: false, coldStarts: 0 },
    databases: { conversations: 48, snapshots: 4, samples: 6, rounds: 3, requests: 5, seconds: 3 },
    moves: { conversations: 3, turns: 10 },
  },
  full: {
    ...{ writeTurns: 100, throughput: { rounds: 5, seconds: 5, connections: 4, warmupSeconds: 3 } },
    reads: { sizes: [10_000, 1_000_000], requests: 40, warmup: 5 },
    growing: { turns: [50, 200, 1000], requests: 30, fullPageRequests: 5, warmup: 5 },
    ...{ backfill: { turns: 1_000_000, perStatement: true }, minifiedBundle: true, startupCpu: true, coldStarts: 3 },
    databases: { conversations: 240, snapshots: 5, samples: 20, rounds: 5, requests: 15, seconds: 5 },
    moves: { conversations: 4, turns: 150 },
  },
};
const n = (x: number) => x.toLocaleString("en-US");
const { quick, full } = CONFIGS;
const USAGE = `Usage: npm run bench -- [options]

Benchmarks Turnstore against local D1 and \`wrangler dev\` (loopback, free ports, a temporary folder
under $TMPDIR removed afterwards): write throughput against a single-row baseline and a stage
profile of a write, D1 rows and statements per write, read cost on ${full.reads.sizes.map(n).join(" and ")} snapshots, a
growing conversation (T = ${full.growing.turns.join(", ")} turns), deleting a conversation, the backfill of
${n(full.backfill.turns)} legacy turns, bundle size and start-up, and 1 against 4 D1 databases side
by side. Needs Debian's sqlite3 (apt-get install -y sqlite3).

Options:
  --quick      smaller sizes (reads on ${quick.reads.sizes.map(n).join(", ")} snapshots, T = ${quick.growing.turns.join(", ")}, backfill of ${n(quick.backfill.turns)} turns,
               ${quick.throughput.rounds} throughput rounds of ${quick.throughput.seconds} s); about 4 minutes; prints the report and writes it
               to $TMPDIR/turnstore-bench-quick.md (its figures to …-quick.json), never to
               docs/BENCHMARKS.md or bench/results/
               (default: the full run, about 15 minutes, which writes bench/results/latest.json and
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
  const flag = { type: "boolean" } as const;
  const flags = parseCommandLine("bench", USAGE, { quick: flag, json: flag, render: flag, help: { ...flag, short: "h" } });
  if (flags.render) {
    const { results, otlp } = readResults();
    writeFileSync(REPORT, renderReport(results, otlp));
    return log("wrote docs/BENCHMARKS.md from bench/results/");
  }
  const mode = flags.quick ? "quick" : "full";
  const config = CONFIGS[mode];
  const [started, machine] = [performance.now(), describeMachine()];
  log(`${mode} run; load average ${machine.loadAverageAtStart.join(" ")}; ${machine.cpus} CPUs`);

  const root = mkdtempSync(join(os.tmpdir(), "turnstore-bench-"));
  const running = new Set<DevServer>();
  const b: Bench = {
    ...{ dirFor: (name) => join(root, name), migrated: "" },
    tokens: { ingest: "bench-ingest-token", debug: "bench-debug-token", admin: "bench-admin-token" },
    serve: async (persistTo, options = {}) => {
      const { ingest, debug, admin } = b.tokens;
      // Throughput runs far beyond the ingest token's rate limit: measured without it.
      const vars = { INGEST_TOKEN: ingest, DEBUG_TOKEN: debug, ADMIN_TOKEN: admin, RATE_LIMITS: "off", ...options.vars };
      const server = await startDev({ ...options, persistTo, skipMigrations: true, vars });
      running.add(server);
      return server;
    },
    stop: (server) => {
      running.delete(server);
      return server.stop();
    },
    log,
  };
  const cleanup = async () => {
    for (const server of [...running]) await b.stop(server).catch(() => {});
    rmSync(root, { recursive: true, force: true });
  };
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => void cleanup().finally(() => process.exit(130)));

  const m: Measured = {
    ...{ mode, machine: { ...machine, loadAverageAtEnd: machine.loadAverageAtStart, minutes: 0, sections: [] }, errors: [] },
    ...{ throughput: null, profile: null, writes: null, reads: null, growing: null, deletion: null, backfill: null, bundle: null },
    databases: null,
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
  const needs = <T>(value: T | null, what = "the Worker's limits"): T => {
    if (value === null) throw new Error(`needs ${what}, which was not built`);
    return value;
  };

  try {
    let empty = "";
    let limits: WorkerLimits | null = null;
    await section("templates", async () => {
      b.migrated = migratedTemplate(root);
      empty = emptyTemplate(root);
      limits = await workerLimits();
    });
    await section("bundle", () => {
      m.bundle = measureBundle(root, { minified: config.minifiedBundle });
      if (config.startupCpu) m.startup = { ...m.startup, ...measureStartupCpu(root) };
    });
    if (config.coldStarts > 0) {
      await section("dev cold start", async () => {
        m.startup.devColdStart = await measureDevColdStart(root, b.migrated, config.coldStarts);
      });
    }
    await section("rows per write", async () => {
      const dir = copyDatabase(b.migrated, b.dirFor("write-cost"));
      ({ writes: m.writes, profile: m.profile } = await measureWriteCost(dir, config.writeTurns));
    });
    await section("write throughput", async () => {
      const t = performance.now();
      // The bench-only entry: the baseline route, and the production Worker for everything else.
      const server = await b.serve(copyDatabase(b.migrated, b.dirFor("throughput")), { entry: BENCH_ENTRY });
      if (config.coldStarts === 0) m.startup.devColdStart = { medianMs: performance.now() - t, samplesMs: [performance.now() - t] };
      try {
        m.throughput = await measureWriteThroughput(server, { token: b.tokens.ingest, ...config.throughput });
      } finally {
        await b.stop(server);
      }
    });
    await section("many databases", async () => {
      m.databases = await measureManyDatabases(b, config.databases, config.moves);
    });
    await section("read cost", async () => {
      m.reads = await measureReads(b, config.reads);
    });
    let kept: Awaited<ReturnType<typeof measureGrowing>>["kept"] | null = null;
    await section("growing conversation", async () => {
      const grown = await measureGrowing(b, { ...config.growing, maxBlocksPerPage: needs(limits).maxBlocksPerPage });
      [m.growing, kept] = [grown.figures, grown.kept];
    });
    await section("deleting a conversation", async () => {
      const source = needs(kept, "the growing conversation's database");
      try {
        m.deletion = await measureDeletion(b, source, needs(limits));
      } finally {
        rmSync(source.persistTo, { recursive: true, force: true });
      }
    });
    await section("backfill", () => {
      const dir = b.dirFor("backfill");
      mkdirSync(dir);
      try {
        m.backfill = measureBackfill(dir, empty, config.backfill.turns, { ...config.backfill, limits: needs(limits) });
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
  // Quick runs (and failed full runs) never replace the recorded full results.
  const recorded = mode === "full" && m.errors.length === 0;
  const file = join(os.tmpdir(), `turnstore-bench-${mode}`);
  const report = renderReport(results, recorded ? readResults().otlp : null);
  writeFileSync(recorded ? RESULTS.latest : `${file}.json`, json);
  writeFileSync(recorded ? REPORT : `${file}.md`, report);
  const failed = mode === "full" ? "a section failed: bench/results/ and docs/BENCHMARKS.md left as they were; " : "";
  log(recorded ? "wrote bench/results/latest.json and docs/BENCHMARKS.md" : `${failed}full report in ${file}.md`);
  process.stdout.write(`${report.split("\n## Method")[0]}\n`);
  if (flags.json) process.stdout.write(`${JSON.stringify(results.headline)}\n`);
  if (m.errors.length > 0) process.exitCode = 1;
}

main().catch((error) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
