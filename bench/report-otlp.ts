/**
 * The "OTLP ingestion" section of docs/BENCHMARKS.md: written by `npm run bench:otlp`
 * (bench/otlp.ts) between two markers, and kept as it is when `npm run bench` rewrites the
 * rest of the file.
 */
import { round } from "./stats";

export const OTLP_SECTION_START = "<!-- bench:otlp start: written by npm run bench:otlp, kept by npm run bench -->";
export const OTLP_SECTION_END = "<!-- bench:otlp end -->";

/** The marked section of `text` (markers included), or null. */
export function otlpSectionOf(text: string): string | null {
  const start = text.indexOf(OTLP_SECTION_START);
  const end = text.indexOf(OTLP_SECTION_END);
  return start >= 0 && end > start ? text.slice(start, end + OTLP_SECTION_END.length) : null;
}

/** `report` with the OTLP section of `previous` (if it had one) at its end. */
export function keepOtlpSection(previous: string | null, report: string): string {
  const section = previous === null ? null : otlpSectionOf(previous);
  return section === null ? report : `${report.trimEnd()}\n\n${section}\n`;
}

/** `text` with its OTLP section replaced by `section` (appended when it has none). */
export function withOtlpSection(text: string, section: string): string {
  const old = otlpSectionOf(text);
  return old === null ? `${text.trimEnd()}\n\n${section}\n` : text.replace(old, section);
}

export interface OtlpRound {
  round: number;
  variant: "otlp_protobuf" | "otlp_json" | "api_turns";
  perSecond: number;
  unexpected: Record<string, number>;
}

export interface OtlpBenchFigures {
  date: string;
  /** Answers of 500 and above by "route status code", from the Worker's log lines. */
  serverErrors: Record<string, number>;
  loadAverage: { start: number[]; end: number[] };
  cpus: number;
  throughput: {
    rounds: OtlpRound[];
    seconds: number;
    connections: number;
    medians: Record<OtlpRound["variant"], number>;
    latencyP50: Record<string, number>;
    perRoundRatioProtobuf: { median: number; min: number; max: number };
    perRoundRatioJson: { median: number; min: number; max: number };
    averageBodyBytes: Record<OtlpRound["variant"], number>;
  };
  storage: {
    turns: number;
    spansExported: number;
    snapshotsRecorded: number;
    rowsWrittenPerSpan: { otlp: number; api_turns: number };
  };
  stored: {
    perSpan: { otlp: { rows: number; bytes: number }; api_turns: { rows: number; bytes: number } };
    traceMemory: { n: number; bytes: number | null };
  };
}

const r2 = (v: number) => round(v, 2);
const r1 = (v: number) => round(v, 1);

export function renderOtlpSection(f: OtlpBenchFigures): string {
  const t = f.throughput;
  const rounds = t.rounds.length / 3;
  const perRound = (v: OtlpRound["variant"]) =>
    t.rounds
      .filter((x) => x.variant === v)
      .map((x) => r1(x.perSecond))
      .join(", ");
  const unexpected = t.rounds.filter((x) => Object.keys(x.unexpected).length > 0);
  return `${OTLP_SECTION_START}
## OTLP ingestion (\`POST /v1/traces\`)

Measured by \`npm run bench:otlp\` (\`bench/otlp.ts\`) on ${f.date}, on this machine's ${f.cpus} CPUs
shared with other work (load average ${f.loadAverage.start.join(" / ")} at the start, ${f.loadAverage.end.join(" / ")} at the end):
one \`wrangler dev\` with a fresh local D1, autocannon on loopback, ${t.connections} connections.

**Throughput** — inference spans per second, one span per export (as a \`SimpleSpanProcessor\` sends
them), against snapshots per second through \`POST /api/turns\` for the same content: each span's
snapshot is exactly the \`POST /api/turns\` body sent to the other side (built by the mapping,
\`src/otlp/genai-mapping.ts\`). Growing conversations of 21 calls, each repeating the history (2 new
blocks per call), 8 conversations round-robin; each span carries its conversation, session and
runtime, so it resolves on its own. ${rounds} rounds of ${t.seconds} s per variant, the order rotated
each round; the ratio is the median of the per-round ratios, with their range — the spread is this
machine's load, not the code.

| variant | median /s | p50 latency | body (avg) | ratio to \`POST /api/turns\` (min–max over rounds) | per round /s |
|---|---:|---:|---:|---|---|
| \`POST /v1/traces\`, protobuf | ${r1(t.medians.otlp_protobuf)} | ${r1(t.latencyP50.otlp_protobuf!)} ms | ${t.averageBodyBytes.otlp_protobuf} B | **${r2(t.perRoundRatioProtobuf.median)}** (${r2(t.perRoundRatioProtobuf.min)}–${r2(t.perRoundRatioProtobuf.max)}) | ${perRound("otlp_protobuf")} |
| \`POST /v1/traces\`, OTLP JSON | ${r1(t.medians.otlp_json)} | ${r1(t.latencyP50.otlp_json!)} ms | ${t.averageBodyBytes.otlp_json} B | **${r2(t.perRoundRatioJson.median)}** (${r2(t.perRoundRatioJson.min)}–${r2(t.perRoundRatioJson.max)}) | ${perRound("otlp_json")} |
| \`POST /api/turns\` | ${r1(t.medians.api_turns)} | ${r1(t.latencyP50.api_turns!)} ms | ${t.averageBodyBytes.api_turns} B | 1 | ${perRound("api_turns")} |

Target: ≥ 0.8. ${
    unexpected.length === 0
      ? "Every export answered 200 and every post 201."
      : `Answers other than 200/201: ${unexpected.map((x) => `round ${x.round + 1} ${x.variant} ${JSON.stringify(x.unexpected)}`).join("; ")}. ${
          Object.keys(f.serverErrors).length === 0
            ? "The Worker logged none of them (no 5xx among its log lines): `wrangler dev`'s own proxy answered them on the loaded machine."
            : `The Worker's own 5xx answers: ${Object.entries(f.serverErrors)
                .map(([key, n]) => `${n} × ${key}`)
                .join(", ")} (503 UNAVAILABLE is its answer to a busy D1, with Retry-After).`
        } OTLP exporters retry 503 and dropped connections, and a retried export replays what it stored.`
  }
An export costs what a post costs plus the decoding and the mapping, and the trace's context
remembered (one upsert and one probe for held spans) in the snapshots' own D1 batch. In a separate
round trip, as first written, that memory cost a quarter of the throughput (0.67–0.74): the round
trip, not its SQL (a bare \`SELECT\` in its place measured the same).

**Storage** — a ${f.storage.turns}-turn agent conversation as the AI SDK 7 exports it (\`invoke_agent\` →
\`step\` → \`chat\`, twice per turn: a tool call, then the answer; every call resends the whole
history), one export per turn (${f.storage.spansExported} spans, ${f.storage.snapshotsRecorded} recorded), and the same ${f.storage.snapshotsRecorded} snapshots
posted to \`POST /api/turns\` into another conversation:

| | D1 rows written per recorded span (\`rows_written\`, index entries included) | rows held per span | bytes held per span |
|---|---:|---:|---:|
| \`POST /v1/traces\` | ${r1(f.storage.rowsWrittenPerSpan.otlp)} | ${r2(f.stored.perSpan.otlp.rows)} | ${Math.round(f.stored.perSpan.otlp.bytes)} |
| \`POST /api/turns\` | ${r1(f.storage.rowsWrittenPerSpan.api_turns)} | ${r2(f.stored.perSpan.api_turns.rows)} | ${Math.round(f.stored.perSpan.api_turns.bytes)} |

Rows held are the conversation's snapshot, path node, block and turn rows (and, for OTLP, its traces'
remembered context: ${f.stored.traceMemory.n} rows, ${f.stored.traceMemory.bytes ?? 0} bytes); bytes are the lengths of their
stored values. The history every call resends is stored once — both sides hold the same path nodes
and blocks — so the difference is the remembered trace context (one row per trace, about
${Math.round((f.stored.traceMemory.bytes ?? 0) / Math.max(1, f.stored.traceMemory.n))} bytes each, forgotten an hour after the trace's last span). These figures are
deterministic; the throughput figures are not.
${OTLP_SECTION_END}`;
}
