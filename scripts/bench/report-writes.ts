/** Report sections 1 (write throughput and where a write's time goes) and 2 (rows and statements per write). */
import { GEPPETTO_PHASES } from "./conversation";
import type { BenchResults } from "./index";
import { kib, metText, notMeasured, num, statementOf, table } from "./report-format";
import { median } from "./stats";
import { TARGETS } from "./summary";
import type { WriteSample } from "./write-cost";

export function throughputSection(r: BenchResults): string {
  const t = r.throughput;
  if (!t) return `## 1. Write throughput\n\n${notMeasured(r, "write throughput")}\n`;
  const rounds = Array.from({ length: r.config.throughput.rounds }, (_, k) => {
    const of = (v: string) => t.rounds.find((x) => x.round === k && x.variant === v)!;
    return [
      k + 1,
      `${num(of("snapshot").perSecond, 1)} (p50 ${num(of("snapshot").latencyP50Ms)} ms)`,
      `${num(of("baseline_same_body").perSecond, 1)} (p50 ${num(of("baseline_same_body").latencyP50Ms)} ms)`,
      `${num(of("baseline_empty_body").perSecond, 1)} (p50 ${num(of("baseline_empty_body").latencyP50Ms)} ms)`,
      num(of("snapshot").perSecond / of("baseline_same_body").perSecond, 2),
    ];
  });
  rounds.push([
    "**median**",
    `**${num(t.medians.snapshot, 1)}**`,
    `**${num(t.medians.baseline_same_body, 1)}**`,
    `**${num(t.medians.baseline_empty_body, 1)}**`,
    `**${num(t.ratioSameBody, 2)}** (median of per-round ratios ${num(t.perRoundRatioSameBody, 2)})`,
  ]);
  const met = t.ratioSameBody >= TARGETS.writeRatio;
  const transport = 1 / t.medians.baseline_same_body - 1 / t.medians.baseline_empty_body;
  const failures = Object.entries(t.failureStatuses);
  return `## 1. Write throughput

**Method.** One \`wrangler dev\` (local D1 in a temporary folder, \`BENCHMARK_BASELINE=on\`) and
autocannon in the bench process, ${t.connections} connections. ${r.config.throughput.rounds} rounds; in each, every variant runs
${t.seconds} s, in an order rotated round by round, after a ${r.config.throughput.warmupSeconds} s warm-up of each. Variants:

- **snapshot** — \`POST /api/turns\` with a stream of growing conversations posted in full: 21 snapshots
  each, from 10 to 50 blocks, 2 new blocks per snapshot, every earlier block repeated verbatim (same
  ids and content, so it is stored once); ${num(t.averageBodyBytes)} bytes per body on average. ${t.interleave} conversations are posted
  round-robin, each in order, as chats post them: a conversation's next snapshot goes out ${t.interleave} requests
  after its previous one. (Sent on all connections at once, a conversation's consecutive snapshots
  race for the same new path nodes; the store then plans them again, and answers 503 after three
  collisions — a chat does not post that way.) Every snapshot is unique in the run (a repeat would
  answer 200 without writing); answers other than 201: ${t.failures}${failures.length ? ` (${failures.map(([code, n]) => `${code}: ${n}`).join(", ")})` : ""}.
- **baseline, same bodies** — \`POST /api/bench/baseline\` with the same kind of bodies. The route
  (\`src/routes/bench-baseline.ts\`) runs the same middleware as \`POST /api/turns\` (token, body limit,
  content type and JSON parse, D1 session) and then inserts one row (a \`conversations\` row with a
  fresh id): one single-row D1 insert, one statement, one round trip.
- **baseline, empty body** — the same route with \`{}\`: the cheapest write this Worker can make.

The baseline route is **off by default**: unless the var \`BENCHMARK_BASELINE\` is \`on\` it answers 404
with the error envelope for every method, like an unknown path, and it is not in the OpenAPI
document. Only the bench sets the var (\`wrangler dev --var BENCHMARK_BASELINE:on\`); nothing in
\`wrangler.toml\` or \`.dev.vars\` does.

${table(["Round", "snapshot req/s", "baseline (same bodies) req/s", "baseline ({}) req/s", "ratio"], rounds)}

**Result.** ${num(t.medians.snapshot, 1)} snapshots/s against ${num(t.medians.baseline_same_body, 1)} single-row writes/s receiving the same
bodies: **${num(t.ratioSameBody, 2)}** — target ≥ ${TARGETS.writeRatio} ${metText(met)}. Against the empty-body baseline
(${num(t.medians.baseline_empty_body, 1)}/s) the ratio is ${num(t.ratioEmptyBody, 2)}. The headline uses the same-body baseline because both routes then
receive identical requests, so the ratio isolates what the write path does with a snapshot. ${
    Math.abs(transport * 1000) < 0.5
      ? `The two baselines are within ${num(Math.abs(transport * 1000), 1)} ms per request of each other (in inverse throughput): receiving and parsing a ${num(t.averageBodyBytes / 1024, 0)} KiB body costs little here.`
      : `The two baselines differ by ${num(transport * 1000, 1)} ms per request (in inverse throughput): receiving and parsing a ${num(t.averageBodyBytes / 1024, 0)} KiB body, which any design storing these snapshots pays.`
  }
${stageProfile(r)}
Here a D1 round trip is a call into the D1 object inside the same workerd; in production each one
crosses the network, and a snapshot write makes ${num(r.writeCost?.roundTripsPerWrite ?? Number.NaN)} where the baseline makes one, so the second
round trip weighs more there than here.
`;
}

/** The stage profile and what it says about the gap to the baseline. */
function stageProfile(r: BenchResults): string {
  const p = r.writeCost?.streamProfile;
  const t = r.throughput;
  if (!p || !t) return "";
  const gap = 1000 / t.medians.snapshot - 1000 / t.medians.baseline_same_body;
  const cpu = p.validateMs + p.readMs + p.hashMs + p.chainsMs;
  const sql = Math.max(0, p.d1ReadSqlMs + p.d1WriteSqlMs - p.baselineSqlMs);
  const trip = Math.max(0, t.d1RoundTrip.healthMs - t.d1RoundTrip.notFoundMs);
  // What the timed stages leave: the second round trip and the route's other work, not timed apart.
  const rest = gap - cpu - sql;
  const stages: Array<[string, number]> = [
    ["the zod request schema", p.validateMs],
    ["reading the snapshot", p.readMs],
    ["hashing blocks", p.hashMs],
    ["chains", p.chainsMs],
    ["D1's execution beyond the baseline's", sql],
    ["the second D1 round trip and the route's other untimed work", rest],
  ];
  const [topName, topMs] = stages.reduce((a, b) => (b[1] > a[1] ? b : a));
  const rows = [
    ["`JSON.parse` of the body", num(p.parseMs, 3), "both routes"],
    ["zod request schema (`SnapshotRequestSchema`, as `@hono/zod-openapi` validates the body)", num(p.validateMs, 3), "snapshot only"],
    ["read snapshot (`readSnapshot` + work bounds: turn reader, normalization, canonical JSON, attribution, row sizes)", num(p.readMs, 3), "snapshot only"],
    [`hash blocks (SHA-256 of ${num(p.blocks)} blocks through \`crypto.subtle\`, with the per-isolate memory of recent blocks)`, num(p.hashMs, 3), "snapshot only"],
    [`chains (path chain of each block, \`@noble/hashes\`, with its per-isolate memory)`, num(p.chainsMs, 3), "snapshot only"],
    [`D1 read batch (${num(p.readStatements)} statements: nodes, identities, deletions)`, `${num(p.d1ReadSqlMs, 2)} D1 / ${num(p.d1ReadMs, 2)} via proxy`, "snapshot only"],
    [`D1 write batch (${num(p.writeStatements)} statements: snapshot, blocks, nodes, conversation, turn)`, `${num(p.d1WriteSqlMs, 2)} D1 / ${num(p.d1WriteMs, 2)} via proxy`, "snapshot only"],
    ["baseline's insert (1 statement)", `${num(p.baselineSqlMs, 2)} D1 / ${num(p.baselineMs, 2)} via proxy`, "baseline only"],
    [`one D1 round trip inside \`wrangler dev\`: \`GET /healthz\` (one small D1 read) ${num(t.d1RoundTrip.healthMs, 2)} ms − a 404 (no D1) ${num(t.d1RoundTrip.notFoundMs, 2)} ms, medians of ${t.d1RoundTrip.pairs} alternating requests`, num(trip, 2), "each round trip"],
  ];
  return `
**Where a write's time goes** — a stage profile of one conversation of the same stream (${p.snapshots} snapshots, ${num(p.blocks)}
blocks each at the median, ${num(p.newBlocks)} new), timed stage by stage in the bench process with the Worker's own code
(medians, ms). The caches of block hashes and chains are module state here as in the Worker's
isolate, so repeated blocks hit them as they do there. For the D1 batches: D1's own execution time
(\`meta.duration\`, whole milliseconds locally: means) and the round trip seen from Node through wrangler's
proxy (which adds a Node → workerd hop the Worker does not pay); what a round trip costs the Worker
itself is estimated over HTTP (last row).

${table(["Stage", "ms", "paid by"], rows)}

Per request the snapshot route costs **${num(gap, 1)} ms** more than the same-body baseline (inverse throughput,
medians above). The CPU stages add up to ${num(cpu, 2)} ms (zod ${num(p.validateMs, 2)}, read ${num(p.readMs, 2)}, hashes ${num(p.hashMs, 2)}, chains ${num(p.chainsMs, 2)}); D1's
execution of the two batches takes ${num(sql, 2)} ms more than the baseline's insert. That leaves **${num(rest, 1)} ms** for what is not
timed apart. The second D1 round trip — a call from the Worker into the D1 object and back, measured at
${num(trip, 1)} ms of sequential latency (with ${t.connections} connections part of that wait overlaps other requests' work) — ${
    trip >= rest ? "can account for all of it, alongside" : `accounts for about ${num(trip, 1)} ms of it; the rest is`
} building ${num(p.readStatements + p.writeStatements)} statements and their JSON parameters, planning the write between
the batches, the response, and the write log line (\`wrangler dev\` relays and prints one line per write; the baseline
logs nothing). **What dominates: ${topName}** (${num(topMs, 1)} of ${num(gap, 1)} ms): ${
    topName.startsWith("the second")
      ? `a snapshot write reads before it writes, and that read is a whole round trip the baseline does not make; the Worker's own CPU stages (${num(cpu, 2)} ms) are ${num(rest > 0 ? (cpu / rest) * 100 : Number.NaN, 0)} % of it.`
      : "the Worker's own work on the snapshot, not D1."
  }
`;
}

const phaseLabel: Record<(typeof GEPPETTO_PHASES)[number], string> = {
  pre_inference: "`pre_inference` (user message; turn row inserted)",
  post_tools: "`post_tools` (tool call + result, or nothing new)",
  final: "`final` (the answer; turn row updated)",
};

export function writeCostSection(r: BenchResults): string {
  const w = r.writeCost;
  if (!w) return `## 2. Rows and statements per write\n\n${notMeasured(r, "rows per write")}\n`;
  const { full, delta } = w.samples;
  const last = full[full.length - 1]!;
  const byPhase = GEPPETTO_PHASES.map((phase) => {
    const list = full.filter((x) => x.phase === phase && x.turn > 0);
    const deltas = delta.filter((x) => x.phase === phase && x.turn > 0);
    const m = (f: (x: WriteSample) => number, from = list) => num(median(from.map(f)), 0);
    return [
      phaseLabel[phase],
      m((x) => x.newBlocks),
      m((x) => x.tableRowsChanged),
      `**${m((x) => x.rowsWritten)}**`,
      `${m((x) => x.rowsWritten - x.newBlocks)}`,
      `${m((x) => x.statements)} / ${m((x) => x.roundTrips)}`,
      `${m((x) => x.requestBytes)} / ${m((x) => x.requestBytes, deltas)}`,
    ];
  });
  const breakdown = w.breakdown
    .map(
      (b) =>
        `Snapshot ${b.index + 1} (turn ${Math.floor(b.index / 3)}) — ${b.label}:\n\n` +
        table(
          ["Batch", "Statement", "rows_written (meta)", "table rows changed", "rows_read (meta)"],
          b.statements.map((st) => [st.roundTrip === 0 ? "read" : "write", `\`${st.sql.replace(/\s+/g, " ").slice(0, 60)}…\``, st.rowsWritten, st.changes, st.rowsRead]),
        ),
    )
    .join("\n\n");
  const final = w.breakdown.find((b) => b.phase === "final");
  const entries = (prefix: string) => (final ? statementOf(final.statements, prefix)?.rowsWritten ?? 0 : Number.NaN);
  const snapshotEntries = entries("INSERT INTO turn_snapshots");
  const blockEntries = entries("INSERT INTO blocks");
  const nodeEntries = entries("INSERT INTO block_nodes");
  const conversationEntries = entries("INSERT INTO conversations");
  const turnEntries = entries("INSERT INTO turns");
  const lp = w.laterPhase;
  const tableMet = lp.extraTableRows <= TARGETS.extraTableRowsPerSnapshot;
  const metaMet = lp.extraRowsWritten <= TARGETS.extraRowsPerSnapshot;
  const parts: Array<[string, number]> = [
    ["the snapshot row and its index entries", snapshotEntries],
    ["the turn roll-up", turnEntries],
    ["the new block", blockEntries],
    ["its path node", nodeEntries],
    ["the conversation pointer", conversationEntries],
  ];
  const [topName, topEntries] = parts.reduce((a, b) => (b[1] > a[1] ? b : a));
  return `## 2. Rows and statements per write

**Method.** A geppetto-style conversation of ${w.turns} turns, each posted as 3 snapshots — \`pre_inference\` (the
user's message), \`post_tools\` (a tool call and its result in 7 turns of 20, else nothing new) and
\`final\` (the answer) — every snapshot carrying the whole history, ~2.7 new blocks per turn, short
texts (the conversation of §4). It goes through exactly what \`POST /api/turns\` runs after its request
schema (\`readSnapshot\`, the work bounds, \`hashBlocks\`, then \`saveSnapshots\`) against local D1 via wrangler's
\`getPlatformProxy\` (the same workerd SQLite as \`wrangler dev\`), through a recording binding that keeps
D1's \`meta\` of every statement; the tables are counted after each write. It is posted twice, as two
conversations of the same content: **in full** (every block every time; the last of the ${w.snapshots} snapshots
repeats ${num(last.repeatedBlocks)} blocks), and **as deltas** the way \`src/client/turnstore-client.ts\` posts it (the first
snapshot in full, then \`prefix\` + the new blocks). Both store exactly the same rows: rows_written
differ in ${w.rowsWrittenMismatches} of ${w.snapshots} snapshots.

A write is **${num(w.statementsPerWrite)} statements in ${num(w.roundTripsPerWrite)} round trips** (median): a read batch (the path nodes and
identities the request repeats, and whether the conversation is being deleted), then a write batch
(the snapshot row, block contents, path nodes, the conversation pointer, the turn roll-up) — a
snapshot without new blocks skips the block and node statements.

Per phase, medians over turns 1…${w.turns - 1} (turn 0 also creates the conversation):

${table(["Phase", "new blocks", "table rows changed", "`meta.rows_written`", "rows_written − new blocks", "statements / round trips", "request bytes, full / delta"], byPhase)}

${breakdown}

**The issue-17 figure** is the later-phase snapshot with about one new block — \`final\`: ${num(lp.newBlocks)} new block,
**${num(lp.rowsWritten)}** rows_written, so **new blocks + ${num(lp.extraRowsWritten)}** in D1's count — target ≤ new blocks + ${TARGETS.extraRowsPerSnapshot}
${metText(metaMet)}. In table rows it is ${num(lp.tableRowsChanged)} → new blocks + ${num(lp.extraTableRows)} (issue 7's target ≤ new blocks + ${TARGETS.extraTableRowsPerSnapshot}: ${metText(tableMet)}).
\`meta.rows_written\` counts every B-tree entry written — the table row and each index entry that
changes. For that \`final\` snapshot: the \`turn_snapshots\` insert ${num(snapshotEntries)} (the row and one entry per index: identity,
and one per debug filter), the turn roll-up ${num(turnEntries)} (its row, and its runtime and inference indexes, whose keys
hold \`updated_at_ms\`), the new block ${num(blockEntries)} and its path node ${num(nodeEntries)} (both rowid tables with their primary key as a
second B-tree), the conversation pointer ${num(conversationEntries)} (its row and the activity index).${
    metaMet
      ? ""
      : ` **What dominates: ${topName}** (${num(topEntries)} of ${num(lp.rowsWritten)}). Even with nothing else written, the snapshot row alone exceeds the allowance once its new block and node are counted (${num(snapshotEntries + blockEntries + nodeEntries)} entries against 1 + ${TARGETS.extraRowsPerSnapshot}): meeting the target needs fewer \`turn_snapshots\` indexes (the phase, runtime and inference filters could be served from \`turn_snapshots_by_conv_created\` with a scan bounded by the conversation, at the cost of the index-only plans \`test/worker/debug.cost.test.ts\` pins), and \`WITHOUT ROWID\` path nodes and blocks (one entry each instead of two; a table rebuild the additive-migration rule forbids for existing tables), and a roll-up that does not move index keys on every phase.`
  }

**Independent of the history.** rows_written per repeated block (least squares over all ${w.snapshots} snapshots):
${num(Math.abs(w.rowsWrittenSlopePerRepeatedBlock) < 5e-5 ? 0 : w.rowsWrittenSlopePerRepeatedBlock, 4)}. **Rows read** are where full and delta posts differ: a full post's read batch looks up
the path node of every block it carries (${num(w.rowsReadSlopePerRepeatedBlock.full, 2)} rows read per repeated block; ${num(w.firstTenRowsRead.full)} for the first 10 snapshots,
${num(w.lastTenRowsRead.full)} for the last 10), a delta only its prefix and its new nodes (${num(Math.abs(w.rowsReadSlopePerRepeatedBlock.delta) < 5e-4 ? 0 : w.rowsReadSlopePerRepeatedBlock.delta, 3)} per repeated block;
${num(w.firstTenRowsRead.delta)} vs ${num(w.lastTenRowsRead.delta)}). D1 prices a row read at a thousandth of a row written, so even the full posts' reads
cost less than one written row here; the request bytes (above, and §4) are the larger difference.

**Against the Go layout.** After the conversation (full posts) our tables hold ${num(w.ourTotalRows.total)} rows
(${num(w.ourTotalRows.turn_snapshots)} snapshots + ${num(w.ourTotalRows.blocks)} blocks + ${num(w.ourTotalRows.block_nodes)} path nodes + ${num(w.ourTotalRows.turns)} turns + ${num(w.ourTotalRows.conversations)} conversation). The Go
layout — one \`turn_block_membership\` row per block per snapshot — would hold ${num(w.goLayoutRows.membership)} membership rows +
${num(w.goLayoutRows.blocks)} blocks + ${num(w.goLayoutRows.turns)} turns = **${num(w.goLayoutRows.total)}**, ${num(w.goLayoutRows.total / w.ourTotalRows.total, 0)}× more: membership grows with the square
of the conversation's length, ours linearly (both counted in table rows; the Go figure is computed
from the same conversation, not measured). Request bytes of the last snapshot: ${kib(last.requestBytes)} in full,
${kib(delta[delta.length - 1]!.requestBytes)} as a delta.
`;
}
