/**
 * npm run bench:otlp [-- --quick] [-- --json] [-- --help]
 *
 * OpenTelemetry ingestion (POST /v1/traces) against POST /api/turns, side by side in one `wrangler
 * dev` (loopback, a free port, a temporary D1 removed afterwards):
 *
 *  1. throughput: inference spans per second, one span per export (protobuf, and OTLP JSON), against
 *     snapshots per second through POST /api/turns for the same content — each span's snapshot is
 *     exactly the POST /api/turns body sent to the other side (built by the mapping itself:
 *     src/otlp/genai-mapping.ts). Growing conversations (every call repeats the history); variants
 *     alternate round by round with autocannon; medians and the spread of the per-round ratios;
 *  2. storage: a 50-turn agent conversation (two model calls per turn, a tool loop, history resent by
 *     every call) exported trace by trace, and the same snapshots posted to POST /api/turns: D1 rows
 *     written per recorded span (the Worker's own count, D1's rows_written: index entries included),
 *     and rows and bytes the database holds for it afterwards.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os, { tmpdir } from "node:os";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { ExportTraceServiceRequestSchema } from "../src/otlp/gen/opentelemetry/proto/collector/trace/v1/trace_service_pb";
import { mapSpans } from "../src/otlp/genai-mapping";
import type { SpanRecord } from "../src/otlp/wire";
import { withDatabase } from "../tools/d1";
import { parseCommandLine } from "../tools/cli";
import { startDev, type DevServer } from "../tools/wrangler-dev";
import { LOREM } from "./databases";
import { hammer } from "./http";
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

// ---- The span stream ---------------------------------------------------------------------------

const hex = (n: bigint, bytes: number) =>
  n
    .toString(16)
    .padStart(bytes * 2, "0")
    .slice(-bytes * 2);

/** Message j of a conversation (alternating user and assistant, 120–420 characters). */
function message(conv: string, j: number) {
  const role = j % 2 === 0 ? "user" : "assistant";
  return { role, parts: [{ type: "text", content: `${role} ${j} of ${conv}: ${TEXT.slice(0, 120 + ((j * 37) % 300))}` }] };
}

/**
 * Call k of conversation `conv`: one chat span carrying its conversation, session and runtime (so it
 * resolves on its own, as a span of an instrumented app would), the 2k+1 messages so far as input
 * and one answer: each call adds two blocks and repeats the rest.
 */
function chatSpan(conv: string, k: number, seq: bigint, endMs: number): SpanRecord {
  const input = Array.from({ length: 2 * k + 1 }, (_, j) => message(conv, j));
  return {
    traceId: hex(seq * 7919n + 1n, 16),
    spanId: hex(seq * 104729n + 3n, 8),
    parentSpanId: "",
    parentIsRemote: false,
    name: "chat gpt-4o",
    kind: 3,
    startTimeUnixNano: (BigInt(endMs - 800) * 1_000_000n).toString(),
    endTimeUnixNano: (BigInt(endMs) * 1_000_000n).toString(),
    statusCode: 0,
    attributes: {
      "gen_ai.operation.name": "chat",
      "gen_ai.provider.name": "openai",
      "gen_ai.request.model": "gpt-4o",
      "gen_ai.response.model": "gpt-4o-2024-08-06",
      "gen_ai.response.id": `chatcmpl-${seq}`,
      "gen_ai.conversation.id": conv,
      "session.id": `${conv}-s`,
      "turnstore.runtime_key": "bench-agent",
      "gen_ai.usage.input_tokens": 900 + k,
      "gen_ai.usage.output_tokens": 120,
      "gen_ai.response.finish_reasons": ["stop"],
      "gen_ai.input.messages": JSON.stringify(input),
      "gen_ai.output.messages": JSON.stringify([{ ...message(conv, 2 * k + 1), finish_reason: "stop" }]),
    },
  };
}

function anyValue(value: unknown): object {
  if (typeof value === "string") return { value: { case: "stringValue", value } };
  if (typeof value === "number") return { value: { case: "intValue", value: BigInt(value) } };
  if (Array.isArray(value)) return { value: { case: "arrayValue", value: { values: value.map(anyValue) } } };
  return {};
}

const bytes = (h: string) => Uint8Array.from(h.match(/../g) ?? [], (b) => Number.parseInt(b, 16));

/** An export of `spans` as @opentelemetry/exporter-trace-otlp-proto sends it. */
export function protobufExport(spans: readonly SpanRecord[]): Buffer {
  const request = create(ExportTraceServiceRequestSchema, {
    resourceSpans: [
      {
        resource: { attributes: [{ key: "service.name", value: anyValue("bench") }] },
        scopeSpans: [
          {
            scope: { name: "bench" },
            spans: spans.map((s) => ({
              traceId: bytes(s.traceId),
              spanId: bytes(s.spanId),
              parentSpanId: bytes(s.parentSpanId),
              name: s.name,
              kind: s.kind,
              startTimeUnixNano: BigInt(s.startTimeUnixNano),
              endTimeUnixNano: BigInt(s.endTimeUnixNano),
              attributes: Object.entries(s.attributes).map(([key, value]) => ({ key, value: anyValue(value) })),
            })),
          },
        ],
      },
    ],
  } as never);
  return Buffer.from(toBinary(ExportTraceServiceRequestSchema, request));
}

/** The same export in OTLP JSON (@opentelemetry/exporter-trace-otlp-http). */
export function jsonExport(spans: readonly SpanRecord[]): string {
  const value = (v: unknown): object =>
    typeof v === "string"
      ? { stringValue: v }
      : typeof v === "number"
        ? { intValue: String(v) }
        : Array.isArray(v)
          ? { arrayValue: { values: v.map(value) } }
          : {};
  return JSON.stringify({
    resourceSpans: [
      {
        resource: { attributes: [{ key: "service.name", value: { stringValue: "bench" } }] },
        scopeSpans: [
          {
            scope: { name: "bench" },
            spans: spans.map((s) => ({
              traceId: s.traceId,
              spanId: s.spanId,
              name: s.name,
              kind: s.kind,
              startTimeUnixNano: s.startTimeUnixNano,
              endTimeUnixNano: s.endTimeUnixNano,
              attributes: Object.entries(s.attributes).map(([key, v]) => ({ key, value: value(v) })),
            })),
          },
        ],
      },
    ],
  });
}

/** The POST /api/turns body of a span's snapshot: the mapping's own output, so both sides store the same. */
export function snapshotBody(span: SpanRecord): string {
  const [mapped] = mapSpans([span]);
  if (mapped?.outcome !== "snapshot") throw new Error(`bench span ${span.spanId} does not map to a snapshot`);
  return JSON.stringify(mapped.request);
}

// ---- 1. Throughput -----------------------------------------------------------------------------

const VARIANTS = [
  { key: "otlp_protobuf", title: "`POST /v1/traces`, protobuf", path: "/v1/traces", type: "application/x-protobuf", good: "200" },
  { key: "otlp_json", title: "`POST /v1/traces`, OTLP JSON", path: "/v1/traces", type: "application/json", good: "200" },
  { key: "api_turns", title: "`POST /api/turns`", path: "/api/turns", type: "application/json", good: "201" },
] as const;
type Variant = (typeof VARIANTS)[number];

/** Conversations posted round-robin, each call after the one before. */
function stream(variant: Variant["key"], run: string, interleave: number) {
  let i = 0;
  const base = Date.now() - 3_600_000;
  return (): string | Buffer => {
    const n = i++;
    const conv = `${run}-${variant}-c${Math.floor(n / (interleave * CALLS_PER_CONVERSATION)) * interleave + (n % interleave)}`;
    const k = Math.floor(n / interleave) % CALLS_PER_CONVERSATION;
    const seq = BigInt(n) + (variant === "otlp_protobuf" ? 0n : variant === "otlp_json" ? 1n << 40n : 2n << 40n);
    const span = chatSpan(conv, k, seq, base + n);
    return variant === "otlp_protobuf" ? protobufExport([span]) : variant === "otlp_json" ? jsonExport([span]) : snapshotBody(span);
  };
}

async function measureThroughput(server: DevServer, options: { rounds: number; seconds: number; connections: number }) {
  const run = `t${Date.now().toString(36)}`;
  const interleave = 2 * options.connections;
  const sources = VARIANTS.map((v) => stream(v.key, run, interleave));
  const runOnce = async (v: number, seconds: number) => {
    const variant = VARIANTS[v]!;
    const r = await hammer(server, {
      path: variant.path,
      headers: { authorization: `Bearer ${TOKENS.ingest}`, "content-type": variant.type },
      next: sources[v]!,
      seconds,
      connections: options.connections,
    });
    const unexpected = Object.fromEntries(Object.entries(r.statuses).filter(([code]) => code !== variant.good));
    if (r.errors > 0) unexpected.transport = r.errors;
    return { perSecond: (r.statuses[variant.good] ?? 0) / r.seconds, p50Ms: r.p50Ms, unexpected };
  };
  for (const v of VARIANTS.keys()) await runOnce(v, 2); // warm-up
  const rounds = VARIANTS.map(() => [] as Array<Awaited<ReturnType<typeof runOnce>>>);
  const unexpected: Array<{ round: number; variant: string; statuses: Record<string, number> }> = [];
  for (let r = 0; r < options.rounds; r++) {
    for (const v of VARIANTS.map((_, k) => (k + r) % VARIANTS.length)) {
      const result = await runOnce(v, options.seconds);
      rounds[v]!.push(result);
      if (Object.keys(result.unexpected).length > 0)
        unexpected.push({ round: r + 1, variant: VARIANTS[v]!.key, statuses: result.unexpected });
      process.stderr.write(`  round ${r + 1} ${VARIANTS[v]!.key}: ${result.perSecond.toFixed(1)}/s\n`);
    }
  }
  const sample = Array.from({ length: CALLS_PER_CONVERSATION }, (_, k) => chatSpan("size", k, BigInt(k), Date.now()));
  const bodies = [
    (s: SpanRecord) => protobufExport([s]).length,
    (s: SpanRecord) => Buffer.byteLength(jsonExport([s])),
    (s: SpanRecord) => Buffer.byteLength(snapshotBody(s)),
  ];
  const api = rounds[2]!;
  return {
    connections: options.connections,
    seconds: options.seconds,
    rounds: options.rounds,
    variants: VARIANTS.map((variant, v) => {
      const ratios = rounds[v]!.map((x, k) => x.perSecond / api[k]!.perSecond);
      return {
        key: variant.key,
        title: variant.title,
        perSecond: median(rounds[v]!.map((x) => x.perSecond)),
        p50Ms: median(rounds[v]!.map((x) => x.p50Ms)),
        bodyBytes: Math.round(sum(sample.map(bodies[v]!)) / sample.length),
        ratio: variant.key === "api_turns" ? null : { median: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios) },
        perRound: rounds[v]!.map((x) => x.perSecond),
      };
    }),
    unexpected,
  };
}

// ---- 2. Storage of a 50-turn agent conversation --------------------------------------------------

/**
 * Turn t of an agent conversation as the AI SDK 7 exports it: invoke_agent (agent name, conversation
 * id in its runtime context) → step → chat, twice (a tool call, then the answer), the history of every
 * earlier turn resent by both calls.
 */
function agentTurn(conv: string, t: number, endMs: number): SpanRecord[] {
  const trace = hex(BigInt(t + 1) * 15485863n + BigInt(conv.length), 16);
  const id = (n: number) => hex(BigInt(t * 16 + n + 1) * 32452843n, 8);
  const messages = (u: number) => [
    { role: "user", parts: [{ type: "text", content: `Question ${u}: ${TEXT.slice(0, 160 + (u % 5) * 40)}` }] },
    { role: "assistant", parts: [{ type: "tool_call", id: `call-${u}`, name: "search", arguments: { query: `q${u}` } }] },
    { role: "tool", parts: [{ type: "tool_call_response", id: `call-${u}`, response: { hits: [TEXT.slice(u % 50, (u % 50) + 300)] } }] },
    { role: "assistant", parts: [{ type: "text", content: `Answer ${u}: ${TEXT.slice(0, 200 + (u % 7) * 30)}` }] },
  ];
  const history = Array.from({ length: t }, (_, u) => messages(u)).flat();
  const [question, call, result, answer] = messages(t);
  const span = (spanId: string, parent: string, name: string, attributes: Record<string, unknown>, at: number): SpanRecord => ({
    traceId: trace,
    spanId,
    parentSpanId: parent,
    parentIsRemote: false,
    name,
    kind: 1,
    startTimeUnixNano: (BigInt(at - 500) * 1_000_000n).toString(),
    endTimeUnixNano: (BigInt(at) * 1_000_000n).toString(),
    statusCode: 0,
    attributes: attributes as SpanRecord["attributes"],
  });
  const chat = (spanId: string, parent: string, input: unknown[], output: unknown, at: number) =>
    span(
      spanId,
      parent,
      "chat gpt-4o",
      {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.response.model": "gpt-4o",
        "gen_ai.response.id": `resp-${spanId}`,
        "gen_ai.system_instructions": JSON.stringify([{ type: "text", content: "You are a research agent." }]),
        "gen_ai.input.messages": JSON.stringify(input),
        "gen_ai.output.messages": JSON.stringify([output]),
        "gen_ai.usage.input_tokens": 1000 + 40 * t,
        "gen_ai.usage.output_tokens": 80,
      },
      at,
    );
  const context = { "ai.settings.context.conversationId": conv };
  const [root, step1, chat1, tool, step2, chat2] = [id(0), id(1), id(2), id(3), id(4), id(5)];
  return [
    chat(chat1, step1, [...history, question], call, endMs - 300),
    span(tool, step1, "execute_tool search", { "gen_ai.operation.name": "execute_tool", ...context }, endMs - 250),
    span(step1, root, "step 1", { "gen_ai.operation.name": "agent_step", ...context }, endMs - 250),
    chat(chat2, step2, [...history, question, call, result], answer, endMs - 10),
    span(step2, root, "step 2", { "gen_ai.operation.name": "agent_step", ...context }, endMs - 10),
    span(
      root,
      "",
      "invoke_agent gpt-4o",
      { "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "research-agent", ...context },
      endMs,
    ),
  ];
}

interface WriteLog {
  route: string;
  code?: string | null;
  conversations?: string[];
  status: number;
  rows_written?: number;
  snapshots?: unknown[];
  refused?: number;
}

async function post(server: DevServer, path: string, body: string | Buffer, type: string): Promise<number> {
  const res = await fetch(server.url + path, {
    method: "POST",
    headers: { authorization: `Bearer ${TOKENS.ingest}`, "content-type": type },
    body: typeof body === "string" ? body : new Uint8Array(body),
  });
  await res.arrayBuffer();
  return res.status;
}

async function measureStorage(server: DevServer, logs: WriteLog[], turns: number) {
  const run = `s${Date.now().toString(36)}`;
  const otlpConv = `${run}-otlp`;
  const apiConv = `${run}-api`;
  const base = Date.now() - 24 * 3_600_000;
  let spans = 0;
  const traceIds: string[] = [];
  for (let t = 0; t < turns; t++) {
    const trace = agentTurn(otlpConv, t, base + t * 60_000);
    const status = await post(server, "/v1/traces", protobufExport(trace), "application/x-protobuf");
    if (status !== 200) throw new Error(`POST /v1/traces answered ${status}`);
    spans += trace.length;
    traceIds.push(trace[0]!.traceId);
  }
  // The same snapshots, posted to POST /api/turns into a conversation of the same length.
  for (let t = 0; t < turns; t++) {
    const trace = agentTurn(otlpConv, t, base + t * 60_000);
    for (const m of mapSpans(trace)) {
      if (m.outcome !== "snapshot") throw new Error(`turn ${t}: span ${m.spanId} did not map (${m.outcome})`);
      const status = await post(
        server,
        "/api/turns",
        JSON.stringify({ ...m.request, conv_id: apiConv, session_id: apiConv }),
        "application/json",
      );
      if (status !== 201) throw new Error(`POST /api/turns answered ${status}`);
    }
  }
  await new Promise((r) => setTimeout(r, 1000)); // the last log lines
  const of = (route: string, conv: string) => logs.filter((l) => l.route === route && l.conversations?.includes(conv));
  const otlp = of("POST /v1/traces", otlpConv);
  const api = of("POST /api/turns", apiConv);
  const recorded = otlp.reduce((n, l) => n + (l.snapshots?.length ?? 0), 0);
  const refused = otlp.reduce((n, l) => n + (l.refused ?? 0), 0);
  return {
    turns,
    spansExported: spans,
    snapshotsRecorded: recorded,
    refused,
    rowsWrittenPerSpan: {
      otlp: otlp.reduce((n, l) => n + (l.rows_written ?? 0), 0) / recorded,
      api_turns: api.reduce((n, l) => n + (l.rows_written ?? 0), 0) / api.length,
    },
    otlpConv,
    apiConv,
    traceIds,
  };
}

/** Rows and bytes the database holds for each conversation (read from the local D1 after wrangler dev stopped). */
async function storedFor(persistTo: string, convs: { otlp: string; api: string; traceIds: string[] }, recorded: number) {
  return withDatabase({ remote: false, persistTo }, async (db) => {
    const of = async (conv: string) => {
      const q = async (sql: string) =>
        ((await db.prepare(sql).bind(conv).first()) as { n: number; bytes: number } | null) ?? { n: 0, bytes: 0 };
      const snapshots = await q(
        `SELECT count(*) AS n, sum(length(conv_id) + length(session_id) + length(turn_id) + length(phase) + length(runtime_key) + length(inference_id)
           + length(turn_metadata_json) + length(turn_data_json) + length(turn_extra_json) + length(coalesce(tip_chain, '')) + 24) AS bytes
         FROM turn_snapshots WHERE conv_id = ?1`,
      );
      const nodes = await q(
        "SELECT count(*) AS n, sum(length(conv_id) + length(chain) + length(parent_chain) + length(block_id) + length(content_hash) + length(extra_json) + 8) AS bytes FROM block_nodes WHERE conv_id = ?1",
      );
      const blocks = await q(
        `SELECT count(*) AS n, sum(length(b.block_id) + length(b.content_hash) + length(b.hash_algorithm) + length(b.kind) + length(b.role)
           + length(b.payload_json) + length(b.block_metadata_json) + 16) AS bytes
         FROM blocks AS b WHERE (b.block_id, b.content_hash) IN (SELECT block_id, content_hash FROM block_nodes WHERE conv_id = ?1)`,
      );
      const turns = await q(
        "SELECT count(*) AS n, sum(length(turn_metadata_json) + length(turn_id) + 64) AS bytes FROM turns WHERE conv_id = ?1",
      );
      return { snapshots, nodes, blocks, turns };
    };
    const memory = (await db
      .prepare(
        "SELECT count(*) AS n, sum(length(scope) + length(trace_id) + length(spans_json) + 16) AS bytes FROM otlp_traces WHERE trace_id IN (SELECT value FROM json_each(?1))",
      )
      .bind(JSON.stringify(convs.traceIds))
      .first()) as { n: number; bytes: number | null };
    const held = (await db.prepare("SELECT count(*) AS n FROM otlp_held_spans").first()) as { n: number };
    const otlp = await of(convs.otlp);
    const api = await of(convs.api);
    const total = (x: typeof otlp, extra = { n: 0, bytes: 0 }) => ({
      rows: x.snapshots.n + x.nodes.n + x.blocks.n + x.turns.n + extra.n,
      bytes: x.snapshots.bytes + x.nodes.bytes + x.blocks.bytes + x.turns.bytes + extra.bytes,
    });
    const o = total(otlp, { n: memory.n ?? 0, bytes: memory.bytes ?? 0 });
    const a = total(api);
    return {
      otlp,
      api,
      traceMemory: memory,
      held: held.n,
      perSpan: {
        otlp: { rows: o.rows / recorded, bytes: o.bytes / recorded },
        api_turns: { rows: a.rows / recorded, bytes: a.bytes / recorded },
      },
    };
  });
}

/** Answers of 500 and above, by route, status and error code, from the Worker's own log lines. */
function serverErrorsOf(logs: readonly WriteLog[]) {
  const out: Record<string, number> = {};
  for (const l of logs) {
    if (l.status < 500) continue;
    const key = `${l.route} ${l.status} ${l.code ?? ""}`.trim();
    out[key] = (out[key] ?? 0) + 1;
  }
  return Object.entries(out).map(([key, count]) => ({ key, count }));
}

// ---- Main ---------------------------------------------------------------------------------------

async function main() {
  const values = parseCommandLine("bench:otlp", USAGE, {
    quick: { type: "boolean" },
    json: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  const quick = values.quick === true;
  const config = quick ? { rounds: 3, seconds: 3, connections: 4, turns: 10 } : { rounds: 7, seconds: 5, connections: 4, turns: 50 };
  const dir = mkdtempSync(join(tmpdir(), "turnstore-bench-otlp-"));
  const loadAtStart = loadAverage();
  const logs: WriteLog[] = [];
  /** The Worker's log lines of 503 UNAVAILABLE answers (D1 busy), to say what they were. */
  const unavailable: string[] = [];
  let server: DevServer | null = null;
  try {
    process.stderr.write("starting wrangler dev…\n");
    server = await startDev({
      persistTo: dir,
      vars: { INGEST_TOKEN: TOKENS.ingest, DEBUG_TOKEN: TOKENS.debug, RATE_LIMITS: "off" },
      onLine: (line) => {
        if (line.includes('"event":"d1_unavailable"')) unavailable.push(line.slice(line.indexOf("{")));
        const start = line.indexOf('{"level"');
        if (start < 0 || !line.includes('"event":"write"')) return;
        try {
          logs.push(JSON.parse(line.slice(start)) as WriteLog);
        } catch {
          // a line that only looked like ours
        }
      },
    });
    process.stderr.write(`throughput: ${config.rounds} rounds × ${config.seconds} s per variant…\n`);
    const throughput = await measureThroughput(server, config);
    process.stderr.write(`storage: a ${config.turns}-turn agent conversation…\n`);
    const { otlpConv, apiConv, traceIds, refused, ...storage } = await measureStorage(server, logs, config.turns);
    await server.stop();
    server = null;
    const stored = await storedFor(dir, { otlp: otlpConv, api: apiConv, traceIds }, storage.snapshotsRecorded);
    const figures = {
      mode: quick ? "quick" : "full",
      date: new Date().toISOString().slice(0, 10),
      cpus: os.cpus().length,
      loadAverage: { start: loadAtStart, end: loadAverage() },
      throughput,
      serverErrors: serverErrorsOf(logs),
      storage,
      stored,
    };
    // The section as docs/BENCHMARKS.md shows it, with the recorded full run's other sections.
    const report = renderReport(readResults().results, figures);
    process.stdout.write(`## OTLP ingestion${report.split("\n## OTLP ingestion")[1]}`);
    if (unavailable.length > 0)
      process.stdout.write(`D1 unavailable (503) log lines:\n${[...new Set(unavailable)].slice(0, 5).join("\n")}\n`);
    if (values.json) process.stdout.write(`${JSON.stringify(figures)}\n`);
    // Under a loaded machine both routes see a few 503s and dropped connections (exporters retry
    // both): reported in the section, with whether the Worker itself answered them. Any other
    // unexpected answer fails the run.
    const failed =
      throughput.unexpected.some((u) => Object.keys(u.statuses).some((code) => code !== "503" && code !== "transport")) ||
      refused > 0 ||
      stored.held > 0;
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
