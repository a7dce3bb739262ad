/**
 * Write throughput over HTTP (issue 7 §1): POST /api/turns with a growing conversation against the
 * benchmark-only baseline route (one single-row insert), alternated round by round in one `wrangler
 * dev` of the bench-only entry bench/worker.ts (the baseline route, and the production Worker for
 * every other request), with autocannon on loopback. Every run is bounded in time and count.
 *
 * Two baselines: one receiving the same snapshot bodies (so transport, body checks and JSON parsing
 * cost the same on both sides and the difference is the snapshot write path: validation, reading
 * and hashing the turn, and its one D1 batch), and one receiving `{}` (the cheapest write this
 * Worker can do). The snapshot stream posts 2 × connections conversations round-robin, each in
 * order (conversation.ts throughputSnapshot).
 */
import autocannon from "autocannon";
import { readdirSync, readFileSync } from "node:fs";
import type { DevServer } from "../tools/wrangler-dev";
import { STREAM_SNAPSHOTS_PER_CONVERSATION, streamSnapshot, throughputSnapshot } from "./conversation";
import { median } from "./stats";

/** The Worker entry the throughput run serves: production's, plus the baseline route. */
export const BENCH_ENTRY = "bench/worker.ts";
/** BENCH_BASELINE_PATH of bench/baseline-route.ts (not imported: that pulls the whole Worker into Node). */
const BASELINE_PATH = "/api/bench/baseline";

export const VARIANTS = ["snapshot", "snapshot_no_memory", "baseline_same_body", "baseline_empty_body"] as const;

/**
 * Sent with the snapshot_no_memory variant: the bench-only entry (bench/worker.ts) then clears
 * the isolate's memory of stored tips (src/store/known-paths.ts) before the request, so every full
 * post looks up its whole history — as when another isolate wrote the conversation's previous
 * snapshot. The production Worker has no such header.
 */
export const FORGET_TIPS_HEADER = "x-bench-forget-tips";
export type Variant = (typeof VARIANTS)[number];

export interface ThroughputRound {
  round: number;
  variant: Variant;
  perSecond: number;
  completed: number;
  non2xx: number;
  errors: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  /** CPU time of the dev server's processes per answered request (ms), by process name; null without /proc. */
  cpuMsPerRequest: Record<string, number> | null;
}

export interface ThroughputResult {
  rounds: ThroughputRound[];
  seconds: number;
  connections: number;
  medians: Record<Variant, number>;
  latencyP50: Record<Variant, number>;
  /** Median over rounds of cpuMsPerRequest, by variant and process name ("workerd", "node"); null without /proc. */
  cpuMsPerRequest: Record<Variant, Record<string, number>> | null;
  /** median(snapshots/s) / median(baseline/s). */
  ratioSameBody: number;
  /** The same, for full posts that never reach a remembered tip. */
  ratioSameBodyNoMemory: number;
  ratioEmptyBody: number;
  /** Median over rounds of the per-round ratio, as a check on drift. */
  perRoundRatioSameBody: number;
  perRoundRatioEmptyBody: number;
  averageBodyBytes: number;
  /** Conversations posted round-robin (each in order). */
  interleave: number;
  failures: number;
  /** Answers other than 201 by status ("transport" for connection errors). */
  failureStatuses: Record<string, number>;
  /** One D1 round trip inside wrangler dev, estimated from GET /healthz (one small D1 read) against a 404 (no D1). */
  d1RoundTrip: { healthMs: number; notFoundMs: number; pairs: number };
}

/**
 * What one D1 round trip costs inside the Worker under wrangler dev: GET /healthz runs one small D1
 * read (the last migration's name), an unknown path none; both go through the same app, middleware
 * and error envelope. Sequential requests, alternating, medians.
 */
export async function measureD1RoundTrip(server: DevServer, pairs: number): Promise<ThroughputResult["d1RoundTrip"]> {
  const health: number[] = [];
  const notFound: number[] = [];
  const get = async (path: string, expect: number, into: number[] | null) => {
    const started = performance.now();
    const res = await fetch(server.url + path);
    await res.text();
    if (res.status !== expect) throw new Error(`GET ${path} answered ${res.status}, expected ${expect}`);
    into?.push(performance.now() - started);
  };
  for (let i = 0; i < pairs + 10; i++) {
    const warm = i < 10;
    await get("/healthz", 200, warm ? null : health);
    await get("/api/bench-no-such-route", 404, warm ? null : notFound);
  }
  return { healthMs: median(health), notFoundMs: median(notFound), pairs };
}

export interface ThroughputOptions {
  token: string;
  rounds: number;
  seconds: number;
  connections: number;
  warmupSeconds: number;
}

const MAX_REQUESTS_PER_RUN = 100_000;

/**
 * CPU time (user + system, ms) of the processes in the dev server's process group, summed by process
 * name: wrangler's Node process and workerd (the Worker, its D1 and wrangler's proxy Worker). Read
 * from /proc (Linux); null elsewhere. The load generator runs in this process, outside the group.
 */
function serverCpuMs(pgid: number): Record<string, number> | null {
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return null;
  }
  const ticksToMs = 10; // USER_HZ is 100 on Linux
  const out: Record<string, number> = {};
  for (const pid of entries) {
    if (!/^\d+$/.test(pid)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    } catch {
      continue; // gone meanwhile
    }
    const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(fields[2]) !== pgid) continue;
    out[name] = (out[name] ?? 0) + (Number(fields[11]) + Number(fields[12])) * ticksToMs;
  }
  return out;
}

function bodySource(variant: Variant, run: string, interleave: number): () => string {
  let i = 0;
  if (variant === "baseline_empty_body") return () => "{}";
  const prefix = variant === "snapshot" ? run : variant === "snapshot_no_memory" ? `${run}-nomem` : `${run}-base`;
  return () => throughputSnapshot(prefix, i++, interleave);
}

async function runOnce(server: DevServer, variant: Variant, next: () => string, seconds: number, connections: number, token: string) {
  const path = variant === "snapshot" || variant === "snapshot_no_memory" ? "/api/turns" : BASELINE_PATH;
  const forget: Record<string, string> = variant === "snapshot_no_memory" ? { [FORGET_TIPS_HEADER]: "1" } : {};
  const cpuBefore = serverCpuMs(server.pid);
  const result = await autocannon({
    url: server.url,
    connections,
    duration: seconds,
    maxOverallRequests: MAX_REQUESTS_PER_RUN,
    timeout: 20,
    requests: [
      {
        method: "POST",
        path,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...forget },
        setupRequest: (request) => ({ ...request, body: next() }),
      },
    ],
  });
  const completed = result["2xx"];
  const cpuAfter = serverCpuMs(server.pid);
  const cpuMsPerRequest =
    cpuBefore && cpuAfter && completed > 0
      ? Object.fromEntries(Object.entries(cpuAfter).map(([name, ms]) => [name, (ms - (cpuBefore[name] ?? 0)) / completed]))
      : null;
  return {
    cpuMsPerRequest,
    perSecond: completed / result.duration,
    completed,
    non2xx: result.non2xx,
    errors: result.errors,
    latencyP50Ms: result.latency.p50,
    latencyP99Ms: result.latency.p99,
    unchanged: Number((result.statusCodeStats as Record<string, { count: number }>)["200"]?.count ?? 0),
    statuses: Object.fromEntries(
      Object.entries(result.statusCodeStats as Record<string, { count: number }>).map(([code, { count }]) => [code, count]),
    ),
  };
}

export async function measureWriteThroughput(server: DevServer, options: ThroughputOptions): Promise<ThroughputResult> {
  const run = `r${Date.now().toString(36)}`;
  const interleave = 2 * options.connections;
  const sources = Object.fromEntries(VARIANTS.map((v) => [v, bodySource(v, run, interleave)])) as Record<Variant, () => string>;
  // Warm-up (not recorded): the isolate's JIT and SQLite's page cache see every route first.
  for (const variant of VARIANTS)
    await runOnce(server, variant, sources[variant], options.warmupSeconds, options.connections, options.token);

  const rounds: ThroughputRound[] = [];
  let failures = 0;
  const failureStatuses: Record<string, number> = {};
  for (let round = 0; round < options.rounds; round++) {
    // Rotate the order so no variant always runs first (or last) in a round.
    const order = VARIANTS.map((_, k) => VARIANTS[(k + round) % VARIANTS.length]!);
    for (const variant of order) {
      const r = await runOnce(server, variant, sources[variant], options.seconds, options.connections, options.token);
      // A 200 would be an idempotent repeat, not a write: the stream must never repeat a snapshot.
      failures += r.non2xx + r.errors + r.unchanged;
      for (const [code, count] of Object.entries(r.statuses))
        if (code !== "201") failureStatuses[code] = (failureStatuses[code] ?? 0) + count;
      if (r.errors > 0) failureStatuses.transport = (failureStatuses.transport ?? 0) + r.errors;
      rounds.push({
        round,
        variant,
        perSecond: r.perSecond,
        completed: r.completed,
        non2xx: r.non2xx,
        errors: r.errors,
        latencyP50Ms: r.latencyP50Ms,
        latencyP99Ms: r.latencyP99Ms,
        cpuMsPerRequest: r.cpuMsPerRequest,
      });
    }
  }
  const of = (v: Variant) => rounds.filter((r) => r.variant === v);
  const medians = Object.fromEntries(VARIANTS.map((v) => [v, median(of(v).map((r) => r.perSecond))])) as Record<Variant, number>;
  const latencyP50 = Object.fromEntries(VARIANTS.map((v) => [v, median(of(v).map((r) => r.latencyP50Ms))])) as Record<Variant, number>;
  const cpuMsPerRequest = rounds.every((r) => r.cpuMsPerRequest !== null)
    ? (Object.fromEntries(
        VARIANTS.map((v) => {
          const names = [...new Set(of(v).flatMap((r) => Object.keys(r.cpuMsPerRequest!)))];
          return [v, Object.fromEntries(names.map((n) => [n, median(of(v).map((r) => r.cpuMsPerRequest![n] ?? 0))]))];
        }),
      ) as Record<Variant, Record<string, number>>)
    : null;
  const perRound = (base: Variant) =>
    median(Array.from({ length: options.rounds }, (_, k) => of("snapshot")[k]!.perSecond / of(base)[k]!.perSecond));
  const d1RoundTrip = await measureD1RoundTrip(server, 100);
  const sample = Array.from({ length: STREAM_SNAPSHOTS_PER_CONVERSATION }, (_, k) => Buffer.byteLength(streamSnapshot("size", 0, k)));
  return {
    rounds,
    seconds: options.seconds,
    connections: options.connections,
    medians,
    latencyP50,
    cpuMsPerRequest,
    ratioSameBody: medians.snapshot / medians.baseline_same_body,
    ratioSameBodyNoMemory: medians.snapshot_no_memory / medians.baseline_same_body,
    ratioEmptyBody: medians.snapshot / medians.baseline_empty_body,
    perRoundRatioSameBody: perRound("baseline_same_body"),
    perRoundRatioEmptyBody: perRound("baseline_empty_body"),
    averageBodyBytes: Math.round(sample.reduce((a, b) => a + b, 0) / sample.length),
    interleave,
    failures,
    failureStatuses,
    d1RoundTrip,
  };
}
