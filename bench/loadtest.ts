/** npm run loadtest (USAGE below): mixed load on `wrangler dev`, then the data checked via the debug API and row by row. */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseCommandLine, positiveIntegerProblem, USAGE_EXIT_CODE } from "../tools/cli";
import { startDev, wranglerSync, type DevServer } from "../tools/wrangler-dev";
import { auth } from "./http";
import { percentile } from "./stats";

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
const [integer, flag] = [{ type: "string" }, { type: "boolean" }] as const;
const LIMITS = { seconds: 86_400, concurrency: 1_000, "max-requests": Number.MAX_SAFE_INTEGER, seed: 2 ** 32 - 1, port: 65_535 };
const OPTIONS = {
  ...{ seconds: integer, concurrency: integer, "max-requests": integer, seed: integer, port: integer },
  ...{ json: flag, keep: flag, "self-check": flag, help: { ...flag, short: "h" } },
};
const flags = parseCommandLine("loadtest", USAGE, OPTIONS, (v) => {
  const problems = Object.entries(LIMITS).map(([name, max]) => positiveIntegerProblem(name, v[name as keyof typeof LIMITS], max));
  return problems.find((p) => p !== null) ?? null;
});
const SECONDS = Number(flags.seconds ?? DEFAULTS.seconds);
const CONCURRENCY = Number(flags.concurrency ?? DEFAULTS.concurrency);
const MAX_REQUESTS = Number(flags["max-requests"] ?? DEFAULTS.maxRequests);
const SEED = flags.seed === undefined ? 1 + Math.floor(Math.random() * 2 ** 31) : Number(flags.seed);
const PORT = Number(flags.port ?? DEFAULTS.port);
const AS_JSON = flags.json === true;
const CONVERSATIONS = 40;
const REQUEST_TIMEOUT_MS = 30_000;
const say = (line: string) => (AS_JSON ? console.error(line) : console.log(line));
let state = SEED >>> 0;
function random(): number {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
const RUNTIMES = ["inventory", "planner", "research", "support", "billing"];
const PHASES = ["draft", "pre_inference", "post_inference", "post_tools", "final"];
type Identity = { conv_id: string; session_id: string; turn_id: string; phase: string; created_at_ms: number };
type Snapshot = Identity & {
  runtime_key?: string;
  inference_id?: string;
  turn: { metadata: Record<string, unknown> } & Record<string, unknown>;
};
const runTag = randomBytes(3).toString("hex");
const conversations = Array.from({ length: CONVERSATIONS }, (_, i) => ({
  ...{ convId: `load-${runTag}-${i}`, sessionId: `sess-${runTag}-${i % 7}`, turns: 0 },
  newest: null as [number, string] | null, // newest acknowledged event with a runtime: [event time, runtime]
  acked: 0,
}));
type Conversation = (typeof conversations)[number];
const byConv = new Map(conversations.map((c) => [c.convId, c]));
// Unique event times from a day ago (no ties for "newest"; the Worker refuses times ahead of its clock).
let clock = Date.now() - 86_400_000;
const nextTime = () => ++clock;
const acked = new Map<string, Snapshot>();
const replayable: Snapshot[] = [];
const identity = (s: Identity) => JSON.stringify([s.conv_id, s.session_id, s.turn_id, s.phase, s.created_at_ms]);
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
    ...{ conv_id: conv.convId, session_id: conv.sessionId, turn_id: turnId, phase: pick(PHASES), created_at_ms: nextTime() },
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

const runtimeOf = (s: Snapshot) =>
  s.runtime_key ?? (s.turn.metadata["geppetto.runtime@v1"] as { runtime_key?: string } | undefined)?.runtime_key ?? "";

type Op = "post" | "batch" | "replay" | "switch" | "read_turns" | "read_turn" | "read_conversation" | "read_conversations";
const latencies = new Map<Op, number[]>();
const statuses = new Map<string, number>();
const count = { requests: 0, status5xx: 0, unexpected: 0, transportErrors: 0, answerMismatches: 0 };
const unexpectedSamples: string[] = [];
const sample = (text: string) => unexpectedSamples.length < 10 && unexpectedSamples.push(text);
function acknowledge(s: Snapshot, answer: unknown) {
  const a = answer as Record<string, unknown> | undefined;
  if (!a || identity(a as never) !== identity(s) || a.runtime_key !== runtimeOf(s)) {
    count.answerMismatches += 1;
    sample(`answer does not match the snapshot sent: ${JSON.stringify(a)}`);
    return;
  }
  if (acked.has(identity(s))) return;
  acked.set(identity(s), s);
  const conv = byConv.get(s.conv_id)!;
  conv.acked += 1;
  noteEvent(conv, s.created_at_ms, runtimeOf(s));
  if (replayable.length < 5000) replayable.push(s);
}

async function send(op: Op, method: string, url: string, token: string, body?: unknown, expected: number[] = [200]) {
  count.requests += 1;
  const started = performance.now();
  let status = 0;
  let text = "";
  try {
    const headers = { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) };
    const json = body === undefined ? undefined : JSON.stringify(body);
    const res = await fetch(url, { method, headers, body: json, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    status = res.status;
    text = await res.text();
  } catch (error) {
    count.transportErrors += 1;
    text = String(error);
  }
  (latencies.get(op) ?? latencies.set(op, []).get(op)!).push(performance.now() - started);
  statuses.set(String(status), (statuses.get(String(status)) ?? 0) + 1);
  if (status >= 500) count.status5xx += 1;
  if (expected.includes(status)) return text ? JSON.parse(text) : null;
  count.unexpected += 1;
  sample(`${op} ${method} ${url.replace(/^http:\/\/[^/]+/, "")} → ${status} ${text.slice(0, 300)}`);
  return null;
}

/** Nearest rank; a kind of request the run never sent reads as zeros. */
function summarize(values: number[]) {
  const at = (p: number) => (values.length === 0 ? 0 : Math.round(percentile(values, p) * 10) / 10);
  return { count: values.length, p50_ms: at(50), p90_ms: at(90), p99_ms: at(99), max_ms: at(100) };
}

async function loop(api: string, tokens: { ingest: string; debug: string }, deadline: number) {
  while (performance.now() < deadline && count.requests < MAX_REQUESTS) {
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
      const [runtime, at] = [pick(RUNTIMES), nextTime()];
      const body = { runtime_key: runtime, session_id: conv.sessionId, at_ms: at };
      if (await send("switch", "PUT", `${api}/api/conversations/${conv.convId}/runtime`, tokens.ingest, body)) noteEvent(conv, at, runtime);
    } else if (r < 0.82) {
      await send("read_turns", "GET", `${api}/api/debug/turns?conv_id=${pick(conversations).convId}&limit=50`, tokens.debug);
    } else if (r < 0.9) {
      const conv = pick(conversations);
      const turnNo = 1 + Math.floor(random() * Math.max(1, conv.turns));
      // A turn that has no snapshot yet is a 404 — an expected answer, not an error.
      const url = `${api}/api/debug/turn/${conv.convId}/${conv.sessionId}/turn-${turnNo}`;
      await send("read_turn", "GET", url, tokens.debug, undefined, [200, 404]);
    } else if (r < 0.96) {
      const url = `${api}/api/debug/conversations/${pick(conversations).convId}`;
      await send("read_conversation", "GET", url, tokens.debug, undefined, [200, 404]);
    } else {
      await send("read_conversations", "GET", `${api}/api/debug/conversations?limit=20`, tokens.debug);
    }
  }
}

async function main() {
  const loadBefore = loadavg().map((n) => Math.round(n * 100) / 100);
  const persistTo = mkdtempSync(join(tmpdir(), "turnstore-load-"));
  const tokens = { ingest: randomBytes(16).toString("hex"), debug: randomBytes(16).toString("hex") };
  say(`load test: ${SECONDS}s, ${CONCURRENCY} concurrent loops, seed ${SEED}, wrangler dev on 127.0.0.1:${PORT}, D1 in ${persistTo}`);
  let server: DevServer | null = null;
  const stop = async () => {
    await server?.stop();
    server = null;
  };
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => void stop().finally(() => process.exit(130)));
  const d1 = (sql: string, json = false) =>
    wranglerSync(["d1", "execute", "DB", "--local", "--persist-to", persistTo, ...(json ? ["--json"] : []), "--command", sql]);
  try {
    const vars = { INGEST_TOKEN: tokens.ingest, DEBUG_TOKEN: tokens.debug, CORS_ORIGINS: "", RATE_LIMITS: "off" };
    server = await startDev({ port: PORT, persistTo, vars });
    const started = performance.now();
    await Promise.all(Array.from({ length: CONCURRENCY }, () => loop(server!.url, tokens, started + SECONDS * 1000)));
    const elapsed = (performance.now() - started) / 1000;
    const loadRequests = count.requests;

    // 1. Through the debug API, while the server runs: per-conversation counts and pointers.
    let [countMismatches, pointerMismatches] = [0, 0];
    for (const conv of conversations) {
      const res = await fetch(`${server.url}/api/debug/conversations/${conv.convId}`, { headers: auth(tokens.debug) });
      if (res.status === 404 && conv.acked === 0 && !conv.newest) continue;
      const view = (await res.json()) as { snapshot_count: number; resolved_runtime_key: string };
      if (view.snapshot_count !== conv.acked) countMismatches += 1;
      if (view.resolved_runtime_key !== (conv.newest?.[1] ?? "")) pointerMismatches += 1;
    }
    await stop();

    // 2. Row by row, from the stopped database.
    if (flags["self-check"]) {
      const victim = [...acked.keys()][Math.floor(acked.size / 2)]!;
      const [conv, session, turn, phase, at] = JSON.parse(victim) as string[];
      const where = `conv_id = '${conv}' AND session_id = '${session}' AND turn_id = '${turn}' AND phase = '${phase}' AND created_at_ms = ${at}`;
      d1(`DELETE FROM turn_snapshots WHERE ${where}`);
      say(`self-check: deleted the acknowledged snapshot ${victim}`);
    }
    const out = d1("SELECT conv_id, session_id, turn_id, phase, created_at_ms FROM turn_snapshots ORDER BY id", true);
    const rows = (JSON.parse(out) as Array<{ results: Identity[] }>)[0]!.results;
    const found = new Map<string, number>();
    for (const row of rows) found.set(identity(row), (found.get(identity(row)) ?? 0) + 1);
    const lost = [...acked.keys()].filter((key) => !found.has(key)).length;
    const duplicated = [...found.values()].reduce((n, c) => n + (c > 1 ? c - 1 : 0), 0);
    const unacknowledgedStored = [...found.keys()].filter((key) => !acked.has(key)).length;

    const all = [...latencies.values()].flat();
    const writes = (["post", "batch", "replay", "switch"] as const).flatMap((op) => latencies.get(op) ?? []);
    const reads = [...latencies.entries()].filter(([op]) => op.startsWith("read")).flatMap(([, v]) => v);
    const perSecond = (n: number) => Math.round((n / elapsed) * 10) / 10;
    const { status5xx, unexpected, transportErrors, answerMismatches } = count;
    const [seconds, requests, requests_per_second] = [Math.round(elapsed * 10) / 10, loadRequests, perSecond(loadRequests)];
    const [write_requests, read_requests, writes_acked, snapshots_found] = [writes.length, reads.length, acked.size, rows.length];
    const byOp = Object.fromEntries([...latencies.entries()].sort().map(([op, v]) => [op, summarize(v)]));
    const result = {
      ...{ seconds, concurrency: CONCURRENCY, seed: SEED, requests, requests_per_second, write_requests, read_requests, writes_acked },
      ...{ snapshots_per_second: perSecond(acked.size), snapshots_found, lost, duplicated, unacknowledged_stored: unacknowledgedStored },
      ...{ status_5xx: status5xx, unexpected_status: unexpected, transport_errors: transportErrors, answer_mismatches: answerMismatches },
      ...{ count_mismatches: countMismatches, pointer_mismatches: pointerMismatches },
      statuses: Object.fromEntries([...statuses.entries()].sort()),
      latency: { all: summarize(all), writes: summarize(writes), reads: summarize(reads), ...byOp },
      ...{ cpus: cpus().length, load_average_before: loadBefore, load_average_after: loadavg().map((n) => Math.round(n * 100) / 100) },
    };
    const failures = [lost, duplicated, status5xx, unexpected, transportErrors, answerMismatches, countMismatches, pointerMismatches];
    const ok = failures.every((n) => n === 0) && unacknowledgedStored === 0;
    const fmt = (s: ReturnType<typeof summarize>) => `${s.p50_ms}/${s.p90_ms}/${s.p99_ms}/${s.max_ms}`;
    const { latency } = result;
    for (const line of [
      `${loadRequests} requests in ${result.seconds}s (${result.requests_per_second}/s); ${acked.size} snapshots acknowledged, ${rows.length} stored`,
      `lost ${lost}, duplicated ${duplicated}, stored but unacknowledged ${unacknowledgedStored}, 5xx ${status5xx}, unexpected ${unexpected}, transport errors ${transportErrors}`,
      `counts wrong in ${countMismatches} conversations, pointer wrong in ${pointerMismatches}`,
      `latency ms (p50/p90/p99/max): all ${fmt(latency.all)}, writes ${fmt(latency.writes)}, reads ${fmt(latency.reads)}`,
      ...unexpectedSamples.map((text) => `  unexpected: ${text}`),
      ok ? "OK: nothing lost, nothing duplicated, no 5xx" : "FAILED",
    ])
      say(line);
    const selfCheck = flags["self-check"];
    const seen = lost === 1 && duplicated === 0;
    const verdict = seen
      ? "OK: the row check reported exactly the deleted snapshot as lost"
      : "FAILED: the deleted snapshot was not reported";
    if (selfCheck) say(`self-check ${verdict}`);
    if (AS_JSON) console.log(JSON.stringify(selfCheck ? { ok: seen, self_check: true, ...result } : { ok, ...result }));
    process.exitCode = (selfCheck ? seen : ok) ? 0 : 1;
  } finally {
    await stop();
    if (!flags.keep) rmSync(persistTo, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
