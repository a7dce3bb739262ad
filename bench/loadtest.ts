/**
 * npm run loadtest -- [--seconds N] [--concurrency C] [--max-requests N] [--seed S] [--port P] [--json] [--keep] [--self-check]
 *
 * Mixed load against a real `wrangler dev` (loopback, its own port and temp --persist-to folder):
 * a fixed number of concurrent loops send single snapshots, batches, identical replays, runtime
 * switches and debug reads until the time (or request) budget is spent. Then it checks the data:
 * every acknowledged snapshot is stored exactly once (counted through the debug API while the
 * server runs, then row by row with `wrangler d1 execute` on the stopped database), no 5xx, no
 * unexpected status, and each conversation's pointer is the runtime of its newest acknowledged
 * event. Exits non-zero when any check fails. With --json the last line is one JSON object.
 * --self-check deletes one acknowledged row before the row check, to show the check sees a loss
 * (the run then succeeds only if exactly that one row is reported lost).
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { parseCommandLine, positiveIntegerProblem, USAGE_EXIT_CODE } from "../tools/cli";
import { percentile } from "./stats";
import { startDev, wranglerSync, type DevServer } from "../tools/wrangler-dev";

// ---------------------------------------------------------------------------------------------
// Options

const DEFAULTS = { seconds: 60, concurrency: 8, maxRequests: 500_000, port: 8792 } as const;

const USAGE = `Usage: npm run loadtest -- [options]

Mixed load (snapshots, batches, replays, runtime switches, debug reads) against a local
\`wrangler dev\` started for the run (temporary D1 under $TMPDIR, RATE_LIMITS=off, loopback only),
then checks that every acknowledged snapshot is stored exactly once, no 5xx, no unexpected status,
and every conversation's pointer is the runtime of its newest acknowledged event.

Options:
  --seconds N        how long the load runs (default ${DEFAULTS.seconds})
  --concurrency C    concurrent request loops (default ${DEFAULTS.concurrency})
  --max-requests N   stop after this many requests even before --seconds (default ${DEFAULTS.maxRequests})
  --seed S           seed of the request mix, to replay a run (default: random, printed)
  --port P           port of wrangler dev on 127.0.0.1 (default ${DEFAULTS.port})
  --json             print one JSON object with the results as the last line of stdout
  --keep             keep the temporary D1 folder afterwards (its path is printed)
  --self-check       delete one acknowledged row before the row check; succeeds only if exactly
                     that row is reported lost (shows the check can fail)
  -h, --help         print this help and exit without running anything

Exit codes:
  0  every check passed (with --self-check: the deleted row was reported)
  1  a check failed, or the run itself failed (wrangler dev did not start, …)
  ${USAGE_EXIT_CODE}  unknown option or bad value
`;

const flags = parseCommandLine(
  "loadtest",
  USAGE,
  {
    seconds: { type: "string" },
    concurrency: { type: "string" },
    "max-requests": { type: "string" },
    seed: { type: "string" },
    port: { type: "string" },
    json: { type: "boolean" },
    keep: { type: "boolean" },
    "self-check": { type: "boolean" },
    help: { type: "boolean", short: "h" },
  },
  (v) =>
    positiveIntegerProblem("seconds", v.seconds, 86_400) ??
    positiveIntegerProblem("concurrency", v.concurrency, 1_000) ??
    positiveIntegerProblem("max-requests", v["max-requests"]) ??
    positiveIntegerProblem("seed", v.seed, 2 ** 32 - 1) ??
    positiveIntegerProblem("port", v.port, 65_535),
);

const SECONDS = Number(flags.seconds ?? DEFAULTS.seconds);
const CONCURRENCY = Number(flags.concurrency ?? DEFAULTS.concurrency);
const MAX_REQUESTS = Number(flags["max-requests"] ?? DEFAULTS.maxRequests);
const SEED = flags.seed === undefined ? 1 + Math.floor(Math.random() * 2 ** 31) : Number(flags.seed);
const PORT = Number(flags.port ?? DEFAULTS.port);
const AS_JSON = flags.json === true;
const KEEP = flags.keep === true;
const SELF_CHECK = flags["self-check"] === true;
const CONVERSATIONS = 40;
const REQUEST_TIMEOUT_MS = 30_000;

const say = (line: string) => {
  if (!AS_JSON) console.log(line);
  else console.error(line);
};

// ---------------------------------------------------------------------------------------------
// Deterministic choices (mulberry32), so a seed replays the same request mix.

let state = SEED >>> 0;
function random(): number {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;

// ---------------------------------------------------------------------------------------------
// The workload model: what was sent and acknowledged.

const RUNTIMES = ["inventory", "planner", "research", "support", "billing"];
const PHASES = ["draft", "pre_inference", "post_inference", "post_tools", "final"];

interface Conversation {
  convId: string;
  sessionId: string;
  turns: number;
  /** Newest acknowledged event with a runtime: [event time, runtime]. */
  newest: [number, string] | null;
  acked: number;
}

interface Snapshot {
  conv_id: string;
  session_id: string;
  turn_id: string;
  phase: string;
  created_at_ms: number;
  runtime_key?: string;
  inference_id?: string;
  turn: unknown;
}

const runTag = randomBytes(3).toString("hex");
const conversations: Conversation[] = Array.from({ length: CONVERSATIONS }, (_, i) => ({
  convId: `load-${runTag}-${i}`,
  sessionId: `sess-${runTag}-${i % 7}`,
  turns: 0,
  newest: null,
  acked: 0,
}));
const byConv = new Map(conversations.map((c) => [c.convId, c]));

/** Event times are unique across the run (a counter from a day ago: the Worker refuses event times
 * ahead of its clock), so "newest" has no ties; concurrent loops deliver them out of order. */
let clock = Date.now() - 86_400_000;
const nextTime = () => ++clock;

const acked = new Map<string, Snapshot>();
const replayable: Snapshot[] = [];
const identity = (s: { conv_id: string; session_id: string; turn_id: string; phase: string; created_at_ms: number }) =>
  JSON.stringify([s.conv_id, s.session_id, s.turn_id, s.phase, s.created_at_ms]);

function noteEvent(conv: Conversation, at: number, runtime: string) {
  if (runtime !== "" && (!conv.newest || at > conv.newest[0])) conv.newest = [at, runtime];
}

function newSnapshot(): Snapshot {
  const conv = pick(conversations);
  // Mostly a further phase of a recent turn (blocks shared with earlier phases), sometimes a new turn.
  if (conv.turns === 0 || random() < 0.3) conv.turns += 1;
  const turnNo = Math.max(1, conv.turns - Math.floor(random() * 2));
  const turnId = `turn-${turnNo}`;
  const runtime = random() < 0.85 ? pick(RUNTIMES) : "";
  const viaMetadata = random() < 0.4;
  const text = `answer ${turnNo} `.repeat(5 + Math.floor(random() * 60));
  return {
    conv_id: conv.convId,
    session_id: conv.sessionId,
    turn_id: turnId,
    phase: pick(PHASES),
    created_at_ms: nextTime(),
    ...(runtime && !viaMetadata ? { runtime_key: runtime } : {}),
    inference_id: `inf-${turnNo}-${Math.floor(random() * 3)}`,
    turn: {
      id: turnId,
      blocks: [
        { id: `${turnId}-q`, kind: "user", role: "user", payload: { text: `question ${turnNo}` } },
        { kind: "llm_text", payload: { text }, metadata: { tokens: text.length } },
      ],
      metadata: runtime && viaMetadata ? { "geppetto.runtime@v1": { runtime_key: runtime } } : { "geppetto.session_id@v1": conv.sessionId },
    },
  };
}

function runtimeOf(s: Snapshot): string {
  if (s.runtime_key) return s.runtime_key;
  const meta = (s.turn as { metadata?: Record<string, { runtime_key?: string }> }).metadata;
  return meta?.["geppetto.runtime@v1"]?.runtime_key ?? "";
}

function acknowledge(s: Snapshot, answer: unknown) {
  const a = answer as Record<string, unknown> | undefined;
  if (!a || identity(a as never) !== identity(s) || a.runtime_key !== runtimeOf(s)) {
    answerMismatches += 1;
    if (unexpectedSamples.length < 10) unexpectedSamples.push(`answer does not match the snapshot sent: ${JSON.stringify(a)}`);
    return;
  }
  const key = identity(s);
  if (!acked.has(key)) {
    acked.set(key, s);
    const conv = byConv.get(s.conv_id)!;
    conv.acked += 1;
    noteEvent(conv, s.created_at_ms, runtimeOf(s));
    if (replayable.length < 5000) replayable.push(s);
  }
}

// ---------------------------------------------------------------------------------------------
// Requests and their measurements.

type Op = "post" | "batch" | "replay" | "switch" | "read_turns" | "read_turn" | "read_conversation" | "read_conversations";

const latencies = new Map<Op, number[]>();
const statuses = new Map<string, number>();
let requests = 0;
let status5xx = 0;
let unexpected = 0;
let transportErrors = 0;
let answerMismatches = 0;
const unexpectedSamples: string[] = [];

async function send(op: Op, method: string, url: string, token: string, body?: unknown, expected: number[] = [200]) {
  requests += 1;
  const started = performance.now();
  let status = 0;
  let text = "";
  try {
    const res = await fetch(url, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    status = res.status;
    text = await res.text();
  } catch (error) {
    transportErrors += 1;
    text = String(error);
  }
  const ms = performance.now() - started;
  (latencies.get(op) ?? latencies.set(op, []).get(op)!).push(ms);
  statuses.set(String(status), (statuses.get(String(status)) ?? 0) + 1);
  if (status >= 500) status5xx += 1;
  if (!expected.includes(status)) {
    unexpected += 1;
    if (unexpectedSamples.length < 10)
      unexpectedSamples.push(`${op} ${method} ${url.replace(/^http:\/\/[^/]+/, "")} → ${status} ${text.slice(0, 300)}`);
    return null;
  }
  return text ? JSON.parse(text) : null;
}

function summarize(values: number[]) {
  const sorted = [...values].sort((a, b) => a - b);
  const round = (n: number) => Math.round(n * 10) / 10;
  // Nearest rank; a kind of request the run never sent reads as zeros.
  const at = (p: number) => (sorted.length === 0 ? 0 : round(percentile(sorted, p)));
  return { count: sorted.length, p50_ms: at(50), p90_ms: at(90), p99_ms: at(99), max_ms: round(sorted.at(-1) ?? 0) };
}

// ---------------------------------------------------------------------------------------------
// The load.

async function worker(server: DevServer, tokens: { ingest: string; debug: string }, deadline: number) {
  const api = server.url;
  while (performance.now() < deadline && requests < MAX_REQUESTS) {
    const r = random();
    if (r < 0.5) {
      const s = newSnapshot();
      const answer = await send("post", "POST", `${api}/api/turns`, tokens.ingest, s, [201]);
      if (answer) acknowledge(s, answer);
    } else if (r < 0.63) {
      const items = Array.from({ length: 2 + Math.floor(random() * 9) }, newSnapshot);
      const answer = await send("batch", "POST", `${api}/api/turns/batch`, tokens.ingest, { items }, [201]);
      if (answer) items.forEach((s, i) => acknowledge(s, answer.items[i]));
    } else if (r < 0.68 && replayable.length > 0) {
      // An identical replay (a client retrying after a lost answer): 200, nothing written.
      const s = pick(replayable);
      const answer = await send("replay", "POST", `${api}/api/turns`, tokens.ingest, s, [200]);
      if (answer) acknowledge(s, answer);
    } else if (r < 0.7) {
      const conv = pick(conversations);
      const runtime = pick(RUNTIMES);
      const at = nextTime();
      const answer = await send("switch", "PUT", `${api}/api/conversations/${conv.convId}/runtime`, tokens.ingest, {
        runtime_key: runtime,
        session_id: conv.sessionId,
        at_ms: at,
      });
      if (answer) noteEvent(conv, at, runtime);
    } else if (r < 0.82) {
      const conv = pick(conversations);
      await send("read_turns", "GET", `${api}/api/debug/turns?conv_id=${conv.convId}&limit=50`, tokens.debug);
    } else if (r < 0.9) {
      const conv = pick(conversations);
      const turnNo = 1 + Math.floor(random() * Math.max(1, conv.turns));
      // A turn that has no snapshot yet is a 404 — an expected answer, not an error.
      await send(
        "read_turn",
        "GET",
        `${api}/api/debug/turn/${conv.convId}/${conv.sessionId}/turn-${turnNo}`,
        tokens.debug,
        undefined,
        [200, 404],
      );
    } else if (r < 0.96) {
      await send(
        "read_conversation",
        "GET",
        `${api}/api/debug/conversations/${pick(conversations).convId}`,
        tokens.debug,
        undefined,
        [200, 404],
      );
    } else {
      await send("read_conversations", "GET", `${api}/api/debug/conversations?limit=20`, tokens.debug);
    }
  }
}

interface StoredRow {
  conv_id: string;
  session_id: string;
  turn_id: string;
  phase: string;
  created_at_ms: number;
}

async function main() {
  const loadBefore = loadavg().map((n) => Math.round(n * 100) / 100);
  const persistTo = mkdtempSync(join(tmpdir(), "turnstore-load-"));
  const tokens = { ingest: randomBytes(16).toString("hex"), debug: randomBytes(16).toString("hex") };
  say(`load test: ${SECONDS}s, ${CONCURRENCY} concurrent loops, seed ${SEED}, wrangler dev on 127.0.0.1:${PORT}, D1 in ${persistTo}`);
  let server: DevServer | null = null;
  const stop = async () => {
    if (server) await server.stop();
    server = null;
  };
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      void stop().finally(() => process.exit(130));
    });
  }
  try {
    server = await startDev({
      port: PORT,
      persistTo,
      vars: { INGEST_TOKEN: tokens.ingest, DEBUG_TOKEN: tokens.debug, CORS_ORIGINS: "", RATE_LIMITS: "off" },
    });
    const started = performance.now();
    const deadline = started + SECONDS * 1000;
    await Promise.all(Array.from({ length: CONCURRENCY }, () => worker(server!, tokens, deadline)));
    const elapsed = (performance.now() - started) / 1000;
    const loadRequests = requests;

    // 1. Through the debug API, while the server runs: per-conversation counts and pointers.
    let countMismatches = 0;
    let pointerMismatches = 0;
    for (const conv of conversations) {
      const res = await fetch(`${server.url}/api/debug/conversations/${conv.convId}`, {
        headers: { authorization: `Bearer ${tokens.debug}` },
      });
      if (res.status === 404 && conv.acked === 0 && !conv.newest) continue;
      const view = (await res.json()) as { snapshot_count: number; resolved_runtime_key: string };
      if (view.snapshot_count !== conv.acked) countMismatches += 1;
      if (view.resolved_runtime_key !== (conv.newest?.[1] ?? "")) pointerMismatches += 1;
    }
    await stop();

    // 2. Row by row, from the stopped database.
    if (SELF_CHECK) {
      const victim = JSON.parse([...acked.keys()][Math.floor(acked.size / 2)]!) as [string, string, string, string, number];
      wranglerSync([
        "d1",
        "execute",
        "DB",
        "--local",
        "--persist-to",
        persistTo,
        "--command",
        `DELETE FROM turn_snapshots WHERE conv_id = '${victim[0]}' AND session_id = '${victim[1]}' AND turn_id = '${victim[2]}' AND phase = '${victim[3]}' AND created_at_ms = ${victim[4]}`,
      ]);
      say(`self-check: deleted the acknowledged snapshot ${JSON.stringify(victim)}`);
    }
    const out = wranglerSync([
      "d1",
      "execute",
      "DB",
      "--local",
      "--persist-to",
      persistTo,
      "--json",
      "--command",
      "SELECT conv_id, session_id, turn_id, phase, created_at_ms FROM turn_snapshots ORDER BY id",
    ]);
    const rows = (JSON.parse(out) as Array<{ results: StoredRow[] }>)[0]!.results;
    const found = new Map<string, number>();
    for (const row of rows) found.set(identity(row), (found.get(identity(row)) ?? 0) + 1);
    const lost = [...acked.keys()].filter((key) => !found.has(key)).length;
    const duplicated = [...found.values()].reduce((n, c) => n + (c > 1 ? c - 1 : 0), 0);
    const unacknowledgedStored = [...found.keys()].filter((key) => !acked.has(key)).length;

    const all = [...latencies.values()].flat();
    const writes = ["post", "batch", "replay", "switch"].flatMap((op) => latencies.get(op as Op) ?? []);
    const reads = [...latencies.entries()].filter(([op]) => op.startsWith("read")).flatMap(([, v]) => v);
    const result = {
      seconds: Math.round(elapsed * 10) / 10,
      concurrency: CONCURRENCY,
      seed: SEED,
      requests: loadRequests,
      requests_per_second: Math.round((loadRequests / elapsed) * 10) / 10,
      write_requests: writes.length,
      read_requests: reads.length,
      writes_acked: acked.size,
      snapshots_per_second: Math.round((acked.size / elapsed) * 10) / 10,
      snapshots_found: rows.length,
      lost,
      duplicated,
      unacknowledged_stored: unacknowledgedStored,
      status_5xx: status5xx,
      unexpected_status: unexpected,
      transport_errors: transportErrors,
      answer_mismatches: answerMismatches,
      count_mismatches: countMismatches,
      pointer_mismatches: pointerMismatches,
      statuses: Object.fromEntries([...statuses.entries()].sort()),
      latency: {
        all: summarize(all),
        writes: summarize(writes),
        reads: summarize(reads),
        ...Object.fromEntries([...latencies.entries()].sort().map(([op, v]) => [op, summarize(v)])),
      },
      cpus: cpus().length,
      load_average_before: loadBefore,
      load_average_after: loadavg().map((n) => Math.round(n * 100) / 100),
    };
    const ok =
      lost === 0 &&
      duplicated === 0 &&
      status5xx === 0 &&
      unexpected === 0 &&
      transportErrors === 0 &&
      answerMismatches === 0 &&
      countMismatches === 0 &&
      pointerMismatches === 0 &&
      unacknowledgedStored === 0;
    say(
      `${loadRequests} requests in ${result.seconds}s (${result.requests_per_second}/s); ${acked.size} snapshots acknowledged, ${rows.length} stored`,
    );
    say(
      `lost ${lost}, duplicated ${duplicated}, stored but unacknowledged ${unacknowledgedStored}, 5xx ${status5xx}, unexpected ${unexpected}, transport errors ${transportErrors}`,
    );
    say(`counts wrong in ${countMismatches} conversations, pointer wrong in ${pointerMismatches}`);
    say(
      `latency ms (p50/p90/p99/max): all ${fmt(result.latency.all)}, writes ${fmt(result.latency.writes)}, reads ${fmt(result.latency.reads)}`,
    );
    for (const sample of unexpectedSamples) say(`  unexpected: ${sample}`);
    say(ok ? "OK: nothing lost, nothing duplicated, no 5xx" : "FAILED");
    if (SELF_CHECK) {
      const seen = lost === 1 && duplicated === 0;
      say(
        seen
          ? "self-check OK: the row check reported exactly the deleted snapshot as lost"
          : "self-check FAILED: the deleted snapshot was not reported",
      );
      if (AS_JSON) console.log(JSON.stringify({ ok: seen, self_check: true, ...result }));
      process.exitCode = seen ? 0 : 1;
      return;
    }
    if (AS_JSON) console.log(JSON.stringify({ ok, ...result }));
    process.exitCode = ok ? 0 : 1;
  } finally {
    await stop();
    if (!KEEP) rmSync(persistTo, { recursive: true, force: true });
  }
}

function fmt(s: { p50_ms: number; p90_ms: number; p99_ms: number; max_ms: number }) {
  return `${s.p50_ms}/${s.p90_ms}/${s.p99_ms}/${s.max_ms}`;
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
