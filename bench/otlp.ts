/** npm run bench:otlp (USAGE below): POST /v1/traces against POST /api/turns in one `wrangler dev`; the template says how. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os, { tmpdir } from "node:os";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { ExportTraceServiceRequestSchema } from "../src/otlp/gen/opentelemetry/proto/collector/trace/v1/trace_service_pb";
import { mapSpans } from "../src/otlp/genai-mapping";
import type { SpanRecord } from "../src/otlp/wire";
import { parseCommandLine } from "../tools/cli";
import { withDatabase } from "../tools/d1";
import { startDev, type DevServer } from "../tools/wrangler-dev";
import { LOREM } from "./databases";
import { hammer, rotatedRounds, sleep, type WriteLog, writeLogOf } from "./http";
import { loadAverage } from "./machine";
import { readResults, renderReport, REPORT, RESULTS } from "./report";
import { median, sum } from "./stats";

const USAGE = `Usage: npm run bench:otlp -- [options]

Measures POST /v1/traces (OpenTelemetry GenAI spans) against POST /api/turns for the same snapshots,
in one wrangler dev on loopback with a temporary local D1: inference spans per second (one span per
export, protobuf and OTLP JSON) against snapshots per second, and D1 rows and bytes per recorded span
for a 50-turn agent conversation whose calls resend the history.

Options:
  --quick      3 rounds of 3 s and a 10-turn conversation (a smoke run: prints, writes nothing)
               (default: 7 rounds of 5 s per variant, 50 turns; writes its figures to
               bench/results/otlp.json and the "OTLP ingestion" section of docs/BENCHMARKS.md from
               them, which npm run bench keeps)
  --json       end the output with one line of JSON (every figure)
  -h, --help   print this help and exit without running anything

Exit codes:
  0  measured
  1  a request failed or a figure could not be measured
  2  unknown option
`;
const TOKENS = { ingest: "bench-otlp-ingest", debug: "bench-otlp-debug" };
const CALLS_PER_CONVERSATION = 21;
const TEXT = LOREM.repeat(3);
const hex = (n: bigint, bytes: number) => (n % 2n ** BigInt(8 * bytes)).toString(16).padStart(bytes * 2, "0");
const nanos = (ms: number) => (BigInt(ms) * 1_000_000n).toString();
type Ids = [traceId: string, spanId: string, parentSpanId: string];
const span = ([traceId, spanId, parentSpanId]: Ids, name: string, startMs: number, endMs: number, attributes: object): SpanRecord => ({
  ...{ traceId, spanId, parentSpanId, parentIsRemote: false, name, kind: 1, statusCode: 0 },
  ...{ startTimeUnixNano: nanos(startMs), endTimeUnixNano: nanos(endMs), attributes: attributes as SpanRecord["attributes"] },
});

/** Message j of a conversation (alternating user and assistant, 120–420 characters). */
function message(conv: string, j: number) {
  const role = j % 2 === 0 ? "user" : "assistant";
  return { role, parts: [{ type: "text", content: `${role} ${j} of ${conv}: ${TEXT.slice(0, 120 + ((j * 37) % 300))}` }] };
}

/** Call k of a conversation: a chat span resolving on its own, the 2k+1 messages so far in, one answer out. */
function chatSpan(conv: string, k: number, seq: bigint, endMs: number): SpanRecord {
  const client = span([hex(seq * 7919n + 1n, 16), hex(seq * 104729n + 3n, 8), ""], "chat gpt-4o", endMs - 800, endMs, {
    ...{ "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o" },
    ...{ "gen_ai.response.model": "gpt-4o-2024-08-06", "gen_ai.response.id": `chatcmpl-${seq}`, "gen_ai.conversation.id": conv },
    ...{ "session.id": `${conv}-s`, "turnstore.runtime_key": "bench-agent", "gen_ai.usage.input_tokens": 900 + k },
    ...{ "gen_ai.usage.output_tokens": 120, "gen_ai.response.finish_reasons": ["stop"] },
    "gen_ai.input.messages": JSON.stringify(Array.from({ length: 2 * k + 1 }, (_, j) => message(conv, j))),
    "gen_ai.output.messages": JSON.stringify([{ ...message(conv, 2 * k + 1), finish_reason: "stop" }]),
  });
  return { ...client, kind: 3 };
}

/** An export of `spans` as @opentelemetry/exporter-trace-otlp-proto (protobuf) or -otlp-http (OTLP JSON) sends it. */
function exportOf(spans: readonly SpanRecord[], json: boolean): string | Buffer {
  const value = (v: unknown): object => {
    const kind = typeof v === "string" ? "stringValue" : typeof v === "number" ? "intValue" : "arrayValue";
    const inner =
      kind === "stringValue" ? v : kind === "intValue" ? (json ? String(v) : BigInt(v as number)) : { values: (v as unknown[]).map(value) };
    return json ? { [kind]: inner } : { value: { case: kind, value: inner } };
  };
  const id = (h: string) => (json ? h : Uint8Array.from(h.match(/../g) ?? [], (b) => Number.parseInt(b, 16)));
  const time = (t: string) => (json ? t : BigInt(t));
  const out = spans.map((s) => ({
    ...{ traceId: id(s.traceId), spanId: id(s.spanId), ...(json ? {} : { parentSpanId: id(s.parentSpanId) }), name: s.name, kind: s.kind },
    ...{ startTimeUnixNano: time(s.startTimeUnixNano), endTimeUnixNano: time(s.endTimeUnixNano) },
    attributes: Object.entries(s.attributes).map(([key, v]) => ({ key, value: value(v) })),
  }));
  const resource = { attributes: [{ key: "service.name", value: value("bench") }] };
  const resourceSpans = [{ resource, scopeSpans: [{ scope: { name: "bench" }, spans: out }] }];
  if (json) return JSON.stringify({ resourceSpans });
  return Buffer.from(toBinary(ExportTraceServiceRequestSchema, create(ExportTraceServiceRequestSchema, { resourceSpans } as never)));
}

/** The POST /api/turns body of a span's snapshot: the mapping's own output, so both sides store the same. */
function snapshotBody(s: SpanRecord): string {
  const [mapped] = mapSpans([s]);
  if (mapped?.outcome !== "snapshot") throw new Error(`bench span ${s.spanId} does not map to a snapshot`);
  return JSON.stringify(mapped.request);
}

const VARIANTS = [
  { key: "otlp_protobuf", title: "`POST /v1/traces`, protobuf", path: "/v1/traces", type: "application/x-protobuf", good: "200" },
  { key: "otlp_json", title: "`POST /v1/traces`, OTLP JSON", path: "/v1/traces", type: "application/json", good: "200" },
  { key: "api_turns", title: "`POST /api/turns`", path: "/api/turns", type: "application/json", good: "201" },
] as const;
const bodyOf = (v: number, s: SpanRecord) => (v === 2 ? snapshotBody(s) : exportOf([s], v === 1));
async function measureThroughput(server: DevServer, options: { rounds: number; seconds: number; connections: number }) {
  const run = `t${Date.now().toString(36)}`;
  const interleave = 2 * options.connections;
  const base = Date.now() - 3_600_000;
  const sent = VARIANTS.map(() => 0);
  const next = (v: number) => () => {
    const n = sent[v]!++;
    const conv = `${run}-${VARIANTS[v]!.key}-c${Math.floor(n / (interleave * CALLS_PER_CONVERSATION)) * interleave + (n % interleave)}`;
    const k = Math.floor(n / interleave) % CALLS_PER_CONVERSATION;
    return bodyOf(v, chatSpan(conv, k, BigInt(n) + (BigInt(v) << 40n), base + n));
  };
  const runOnce = async (v: number, seconds: number, round: number) => {
    const { path, type, good, key } = VARIANTS[v]!;
    const headers = { authorization: `Bearer ${TOKENS.ingest}`, "content-type": type };
    const r = await hammer(server, { path, headers, next: next(v), seconds, connections: options.connections });
    const unexpected = Object.fromEntries(Object.entries(r.statuses).filter(([code]) => code !== good));
    if (r.errors > 0) unexpected.transport = r.errors;
    if (round > 0) process.stderr.write(`  round ${round} ${key}: ${((r.statuses[good] ?? 0) / r.seconds).toFixed(1)}/s\n`);
    return { perSecond: (r.statuses[good] ?? 0) / r.seconds, p50Ms: r.p50Ms, unexpected, round };
  };
  const rounds = await rotatedRounds(VARIANTS.length, options.rounds, (v, round) => runOnce(v, round ? options.seconds : 2, round));
  const sample = Array.from({ length: CALLS_PER_CONVERSATION }, (_, k) => chatSpan("size", k, BigInt(k), Date.now()));
  return {
    ...{ connections: options.connections, seconds: options.seconds, rounds: options.rounds },
    variants: VARIANTS.map(({ key, title }, v) => {
      const perRound = rounds[v]!.map((x) => x.perSecond);
      const ratios = rounds[v]!.map((x, k) => x.perSecond / rounds[2]![k]!.perSecond);
      const [perSecond, p50Ms] = [median(perRound), median(rounds[v]!.map((x) => x.p50Ms))];
      const bodyBytes = Math.round(sum(sample.map((s) => Buffer.byteLength(bodyOf(v, s)))) / sample.length);
      const ratio = key === "api_turns" ? null : { median: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios) };
      return { key, title, perSecond, p50Ms, bodyBytes, ratio, perRound };
    }),
    unexpected: rounds
      .flatMap((list, v) => list.map((x) => ({ round: x.round, variant: VARIANTS[v]!.key, statuses: x.unexpected })))
      .filter((u) => Object.keys(u.statuses).length > 0)
      .sort((a, b) => a.round - b.round),
  };
}

/** Turn t of an agent conversation as the AI SDK 7 exports it: invoke_agent → step → chat, twice, the history resent. */
function agentTurn(conv: string, t: number, endMs: number): SpanRecord[] {
  const trace = hex(BigInt(t + 1) * 15485863n + BigInt(conv.length), 16);
  const [root, step1, chat1, tool, step2, chat2] = [0, 1, 2, 3, 4, 5].map((n) => hex(BigInt(t * 16 + n + 1) * 32452843n, 8));
  const messages = (u: number) => [
    { role: "user", parts: [{ type: "text", content: `Question ${u}: ${TEXT.slice(0, 160 + (u % 5) * 40)}` }] },
    { role: "assistant", parts: [{ type: "tool_call", id: `call-${u}`, name: "search", arguments: { query: `q${u}` } }] },
    { role: "tool", parts: [{ type: "tool_call_response", id: `call-${u}`, response: { hits: [TEXT.slice(u % 50, (u % 50) + 300)] } }] },
    { role: "assistant", parts: [{ type: "text", content: `Answer ${u}: ${TEXT.slice(0, 200 + (u % 7) * 30)}` }] },
  ];
  const history = Array.from({ length: t }, (_, u) => messages(u)).flat();
  const [question, call, result, answer] = messages(t);
  const chat = (spanId: string, parent: string, input: unknown[], output: unknown, at: number) =>
    span([trace, spanId, parent], "chat gpt-4o", at - 500, at, {
      ...{ "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o" },
      ...{ "gen_ai.response.model": "gpt-4o", "gen_ai.response.id": `resp-${spanId}` },
      "gen_ai.system_instructions": JSON.stringify([{ type: "text", content: "You are a research agent." }]),
      ...{ "gen_ai.input.messages": JSON.stringify(input), "gen_ai.output.messages": JSON.stringify([output]) },
      ...{ "gen_ai.usage.input_tokens": 1000 + 40 * t, "gen_ai.usage.output_tokens": 80 },
    });
  const step = (spanId: string, parent: string, name: string, operation: string, at: number, extra = {}) => {
    const attributes = { "gen_ai.operation.name": operation, ...extra, "ai.settings.context.conversationId": conv };
    return span([trace, spanId, parent], name, at - 500, at, attributes);
  };
  return [
    chat(chat1!, step1!, [...history, question], call, endMs - 300),
    step(tool!, step1!, "execute_tool search", "execute_tool", endMs - 250),
    step(step1!, root!, "step 1", "agent_step", endMs - 250),
    chat(chat2!, step2!, [...history, question, call, result], answer, endMs - 10),
    step(step2!, root!, "step 2", "agent_step", endMs - 10),
    step(root!, "", "invoke_agent gpt-4o", "invoke_agent", endMs, { "gen_ai.agent.name": "research-agent" }),
  ];
}

async function measureStorage(server: DevServer, logs: WriteLog[], turns: number) {
  const run = `s${Date.now().toString(36)}`;
  const [otlpConv, apiConv] = [`${run}-otlp`, `${run}-api`];
  const base = Date.now() - 24 * 3_600_000;
  const post = async (path: string, body: string | Buffer, type: string, expect: number) => {
    const headers = { authorization: `Bearer ${TOKENS.ingest}`, "content-type": type };
    const res = await fetch(server.url + path, { method: "POST", headers, body: typeof body === "string" ? body : new Uint8Array(body) });
    await res.arrayBuffer();
    if (res.status !== expect) throw new Error(`POST ${path} answered ${res.status}`);
  };
  const traces = Array.from({ length: turns }, (_, t) => agentTurn(otlpConv, t, base + t * 60_000));
  for (const trace of traces) await post("/v1/traces", exportOf(trace, false), "application/x-protobuf", 200);
  // The same snapshots, posted to POST /api/turns into a conversation of the same length.
  for (const [t, trace] of traces.entries()) {
    for (const m of mapSpans(trace)) {
      if (m.outcome !== "snapshot") throw new Error(`turn ${t}: span ${m.spanId} did not map (${m.outcome})`);
      await post("/api/turns", JSON.stringify({ ...m.request, conv_id: apiConv, session_id: apiConv }), "application/json", 201);
    }
  }
  await sleep(1000); // the last log lines
  const of = (route: string, conv: string) => logs.filter((l) => l.route === route && l.conversations?.includes(conv));
  const [otlp, api] = [of("POST /v1/traces", otlpConv), of("POST /api/turns", apiConv)];
  const recorded = sum(otlp.map((l) => l.snapshots?.length ?? 0));
  const rowsWritten = (list: WriteLog[]) => sum(list.map((l) => l.rows_written ?? 0));
  const [spansExported, refused] = [sum(traces.map((trace) => trace.length)), sum(otlp.map((l) => l.refused ?? 0))];
  const rowsWrittenPerSpan = { otlp: rowsWritten(otlp) / recorded, api_turns: rowsWritten(api) / api.length };
  const traceIds = traces.map((trace) => trace[0]!.traceId);
  return { turns, spansExported, snapshotsRecorded: recorded, refused, rowsWrittenPerSpan, otlpConv, apiConv, traceIds };
}

/** Rows, and bytes of their stored values (and `extra` per row), of a table for `where` (?1 bound to the conversation). */
const held = (table: string, columns: string, extra: number, where = "conv_id = ?1") =>
  `SELECT count(*) AS n, sum(${columns.replace(/\S+/g, "length($&)").replaceAll(" ", " + ")} + ${extra}) AS bytes FROM ${table} AS t WHERE ${where}`;
const SNAPSHOT_COLUMNS = "conv_id session_id turn_id phase runtime_key inference_id turn_metadata_json turn_data_json turn_extra_json";
const BLOCKS_OF_CONVERSATION = "(t.block_id, t.content_hash) IN (SELECT block_id, content_hash FROM block_nodes WHERE conv_id = ?1)";
const HELD = [
  held("turn_snapshots", `${SNAPSHOT_COLUMNS} coalesce(tip_chain,'')`, 24),
  held("block_nodes", "conv_id chain parent_chain block_id content_hash extra_json", 8),
  held("blocks", "block_id content_hash hash_algorithm kind role payload_json block_metadata_json", 16, BLOCKS_OF_CONVERSATION),
  held("turns", "turn_metadata_json turn_id", 64),
];
const HELD_TRACES = held("otlp_traces", "scope trace_id spans_json", 16, "trace_id IN (SELECT value FROM json_each(?1))");
/** Rows and bytes the database holds for each conversation (read from the local D1 after wrangler dev stopped). */
async function storedFor(persistTo: string, convs: { otlp: string; api: string; traceIds: string[] }, recorded: number) {
  return withDatabase({ remote: false, persistTo }, async (db) => {
    const count = async (sql: string, value: string) => {
      const row = await db.prepare(sql).bind(value).first<{ n: number; bytes: number | null }>();
      return { rows: row?.n ?? 0, bytes: row?.bytes ?? 0 };
    };
    const of = async (conv: string, memory = { rows: 0, bytes: 0 }) => {
      const counts = await Promise.all(HELD.map((sql) => count(sql, conv)));
      const [tables, all] = [
        Object.fromEntries(["snapshots", "nodes", "blocks", "turns"].map((t, i) => [t, counts[i]!])),
        [...counts, memory],
      ];
      return { rows: sum(all.map((x) => x.rows)) / recorded, bytes: sum(all.map((x) => x.bytes)) / recorded, tables };
    };
    const memory = await count(HELD_TRACES, JSON.stringify(convs.traceIds));
    const left = await db.prepare("SELECT count(*) AS n FROM otlp_held_spans").first<{ n: number }>();
    return {
      perSpan: { otlp: await of(convs.otlp, memory), api_turns: await of(convs.api) },
      ...{ traceMemory: { ...memory, bytesPerRow: memory.bytes / Math.max(1, memory.rows) }, held: left?.n ?? 0 },
    };
  });
}

async function main() {
  const flag = { type: "boolean" } as const;
  const values = parseCommandLine("bench:otlp", USAGE, { quick: flag, json: flag, help: { ...flag, short: "h" } });
  const quick = values.quick === true;
  const config = quick ? { rounds: 3, seconds: 3, connections: 4, turns: 10 } : { rounds: 7, seconds: 5, connections: 4, turns: 50 };
  const dir = mkdtempSync(join(tmpdir(), "turnstore-bench-otlp-"));
  const loadAtStart = loadAverage();
  const logs: WriteLog[] = [];
  const unavailable = new Set<string>();
  let server: DevServer | null = null;
  try {
    process.stderr.write("starting wrangler dev…\n");
    const onLine = (line: string) => {
      if (line.includes('"event":"d1_unavailable"')) unavailable.add(line.slice(line.indexOf("{")));
      const entry = writeLogOf(line);
      if (entry) logs.push(entry);
    };
    const vars = { INGEST_TOKEN: TOKENS.ingest, DEBUG_TOKEN: TOKENS.debug, RATE_LIMITS: "off" };
    server = await startDev({ persistTo: dir, vars, onLine });
    process.stderr.write(`throughput: ${config.rounds} rounds × ${config.seconds} s per variant…\n`);
    const throughput = await measureThroughput(server, config);
    process.stderr.write(`storage: a ${config.turns}-turn agent conversation…\n`);
    const { otlpConv, apiConv, traceIds, refused, ...storage } = await measureStorage(server, logs, config.turns);
    await server.stop();
    server = null;
    const stored = await storedFor(dir, { otlp: otlpConv, api: apiConv, traceIds }, storage.snapshotsRecorded);
    const serverErrors = new Map<string, number>();
    for (const l of logs.filter((x) => x.status >= 500)) {
      const key = `${l.route} ${l.status} ${l.code ?? ""}`.trim();
      serverErrors.set(key, (serverErrors.get(key) ?? 0) + 1);
    }
    const [date, loadAverages] = [new Date().toISOString().slice(0, 10), { start: loadAtStart, end: loadAverage() }];
    const errors = [...serverErrors].map(([key, count]) => ({ key, count }));
    const figures = {
      ...{ mode: quick ? "quick" : "full", date, cpus: os.cpus().length, loadAverage: loadAverages },
      ...{ throughput, serverErrors: errors, storage, stored },
    };
    const report = renderReport(readResults().results, figures);
    process.stdout.write(`## OTLP ingestion${report.split("\n## OTLP ingestion")[1]}`);
    if (unavailable.size > 0) process.stdout.write(`D1 unavailable (503) log lines:\n${[...unavailable].slice(0, 5).join("\n")}\n`);
    if (values.json) process.stdout.write(`${JSON.stringify(figures)}\n`);
    // A few 503s and dropped connections (exporters retry both) are reported; any other answer fails the run.
    const odd = throughput.unexpected.some((u) => Object.keys(u.statuses).some((code) => code !== "503" && code !== "transport"));
    const failed = odd || refused > 0 || stored.held > 0;
    if (!quick && !failed) {
      writeFileSync(RESULTS.otlp, `${JSON.stringify(figures, null, 2)}\n`);
      writeFileSync(REPORT, report);
      process.stderr.write("wrote bench/results/otlp.json and docs/BENCHMARKS.md\n");
    }
    process.exitCode = failed ? 1 : 0;
  } finally {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
