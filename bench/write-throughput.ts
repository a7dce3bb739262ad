/** Write throughput (issue 7 §1): POST /api/turns against the bench-only single-row baseline, rounds rotated, autocannon. */
import { readdirSync, readFileSync } from "node:fs";
import type { DevServer } from "../tools/wrangler-dev";
import { STREAM_SNAPSHOTS_PER_CONVERSATION, streamSnapshot, throughputSnapshot } from "./conversation";
import { auth, hammer, rotatedRounds } from "./http";
import { median, sum } from "./stats";
import { TARGETS } from "./targets";

export const BENCH_ENTRY = "bench/worker.ts";
/** BENCH_BASELINE_PATH of bench/worker.ts (not imported: that pulls the whole Worker into Node). */
const BASELINE_PATH = "/api/bench/baseline";
/** On this header bench/worker.ts clears the isolate's memory of stored tips first: every full post looks up its whole history. */
const FORGET_TIPS_HEADER = "x-bench-forget-tips";
const VARIANTS = ["snapshot", "snapshotNoMemory", "baselineSameBody", "baselineEmptyBody"] as const;
type Variant = (typeof VARIANTS)[number];
/** CPU ms (user + system) of a process group's processes by name (wrangler's node, workerd), from /proc; null elsewhere. */
export function serverCpuMs(pgid: number): Record<string, number> | null {
  let entries: string[];
  try {
    entries = readdirSync("/proc").filter((pid) => /^\d+$/.test(pid));
  } catch {
    return null;
  }
  const out: Record<string, number> = {};
  for (const pid of entries) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    } catch {
      continue; // gone meanwhile
    }
    const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // USER_HZ is 100 on Linux: a tick is 10 ms.
    if (Number(fields[2]) === pgid) out[name] = (out[name] ?? 0) + (Number(fields[11]) + Number(fields[12])) * 10;
  }
  return out;
}

/** What one D1 round trip costs under wrangler dev: GET /healthz runs one small D1 read, an unknown path none. Alternating. */
async function measureD1RoundTrip(server: DevServer, pairs: number) {
  const [health, notFound]: number[][] = [[], []];
  const get = async (path: string, expect: number, into: number[] | null) => {
    const started = performance.now();
    const res = await fetch(server.url + path);
    await res.text();
    if (res.status !== expect) throw new Error(`GET ${path} answered ${res.status}, expected ${expect}`);
    into?.push(performance.now() - started);
  };
  for (let i = 0; i < pairs + 10; i++) {
    await get("/healthz", 200, i < 10 ? null : health!);
    await get("/api/bench-no-such-route", 404, i < 10 ? null : notFound!);
  }
  return { healthMs: median(health!), notFoundMs: median(notFound!), pairs };
}

type Options = { token: string; rounds: number; seconds: number; connections: number; warmupSeconds: number };
export async function measureWriteThroughput(server: DevServer, options: Options) {
  const run = `r${Date.now().toString(36)}`;
  const interleave = 2 * options.connections;
  const prefix = { snapshot: run, snapshotNoMemory: `${run}-nomem`, baselineSameBody: `${run}-base`, baselineEmptyBody: "" };
  const counters: Record<string, number> = {};
  const runOnce = async (variant: Variant, seconds: number) => {
    const cpuBefore = serverCpuMs(server.pid);
    const path = variant.startsWith("snapshot") ? "/api/turns" : BASELINE_PATH;
    const forget: Record<string, string> = variant === "snapshotNoMemory" ? { [FORGET_TIPS_HEADER]: "1" } : {};
    const headers = { ...auth(options.token), "content-type": "application/json", ...forget };
    const count = () => (counters[variant] = (counters[variant] ?? -1) + 1);
    const next = () => (variant === "baselineEmptyBody" ? "{}" : throughputSnapshot(prefix[variant], count(), interleave));
    const r = await hammer(server, { path, headers, next, seconds, connections: options.connections });
    const cpuAfter = serverCpuMs(server.pid);
    const completed = sum(Object.entries(r.statuses).map(([code, n]) => (code.startsWith("2") ? n : 0)));
    const cpu =
      cpuBefore && cpuAfter && completed > 0
        ? Object.fromEntries(Object.entries(cpuAfter).map(([name, ms]) => [name, (ms - (cpuBefore[name] ?? 0)) / completed]))
        : null;
    return { perSecond: completed / r.seconds, p50Ms: r.p50Ms, cpu, statuses: r.statuses, errors: r.errors };
  };
  // Round 0 is the warm-up (not recorded): the isolate's JIT and SQLite's page cache see every route first.
  const byVariant = await rotatedRounds(VARIANTS.length, options.rounds, (v, round) =>
    runOnce(VARIANTS[v]!, round ? options.seconds : options.warmupSeconds),
  );
  type Run = Awaited<ReturnType<typeof runOnce>>;
  const runs = byVariant[0]!.map((_, k) => Object.fromEntries(VARIANTS.map((v, i) => [v, byVariant[i]![k]!])) as Record<Variant, Run>);
  const failureStatuses: Record<string, number> = {};
  for (const r of byVariant.flat()) {
    // A 200 would be an idempotent repeat, not a write: the stream never repeats a snapshot.
    for (const [code, n] of Object.entries(r.statuses)) if (code !== "201") failureStatuses[code] = (failureStatuses[code] ?? 0) + n;
    if (r.errors > 0) failureStatuses.transport = (failureStatuses.transport ?? 0) + r.errors;
  }
  const medians = Object.fromEntries(VARIANTS.map((v) => [v, median(runs.map((r) => r[v].perSecond))])) as Record<Variant, number>;
  const cpuOf = (v: Variant, name: string) => (runs.every((r) => r[v].cpu) ? median(runs.map((r) => r[v].cpu![name] ?? 0)) : null);
  const cpu = (v: Variant) => ({ workerd: cpuOf(v, "workerd"), node: cpuOf(v, "node") });
  // The two baselines' difference in inverse throughput: what receiving the body costs.
  const transportMs = 1000 / medians.baselineSameBody - 1000 / medians.baselineEmptyBody;
  const bodies = Array.from({ length: STREAM_SNAPSHOTS_PER_CONVERSATION }, (_, k) => Buffer.byteLength(streamSnapshot("size", 0, k)));
  const averageBodyBytes = Math.round(sum(bodies) / bodies.length);
  const ratio = medians.snapshot / medians.baselineSameBody;
  const close = Math.abs(transportMs) < 0.5;
  const { connections, seconds, warmupSeconds } = options;
  const bothCpu = runs.every((r) => r.snapshot.cpu && r.baselineSameBody.cpu);
  return {
    ...{ connections, seconds, warmupSeconds, interleave, averageBodyBytes },
    rounds: runs.map((r, k) => ({
      round: k + 1,
      ...Object.fromEntries(VARIANTS.map((v) => [v, { perSecond: r[v].perSecond, p50Ms: r[v].p50Ms }])),
      ratio: r.snapshot.perSecond / r.baselineSameBody.perSecond,
      ratioNoMemory: r.snapshotNoMemory.perSecond / r.baselineSameBody.perSecond,
    })),
    ...{ medians, ratio, met: ratio >= TARGETS.writeRatio, ratioNoMemory: medians.snapshotNoMemory / medians.baselineSameBody },
    ratioEmptyBody: medians.snapshot / medians.baselineEmptyBody,
    perRoundRatio: median(runs.map((r) => r.snapshot.perSecond / r.baselineSameBody.perSecond)),
    ...{ failures: sum(Object.values(failureStatuses)), failureStatuses },
    transport: { close, ms: close ? Math.abs(transportMs) : transportMs, bodyKiB: averageBodyBytes / 1024 },
    cpu: bothCpu ? { snapshot: cpu("snapshot"), baselineSameBody: cpu("baselineSameBody") } : null,
    d1RoundTrip: await measureD1RoundTrip(server, 100),
  };
}

export type ThroughputFigures = Awaited<ReturnType<typeof measureWriteThroughput>>;
