/** Report sections 1 (write throughput and where a write's time goes) and 2 (rows and statements per write). */
import { GEPPETTO_PHASES } from "./conversation";
import type { BenchResults } from "./index";
import { kib, metText, notMeasured, num, table } from "./report-format";
import { median, sum } from "./stats";
import { TARGETS } from "./summary";
import { STATEMENT_ROLES, type NamedStatementCost, type StatementName, type WriteSample } from "./write-cost";
import type { ThroughputResult } from "./write-throughput";

export function throughputSection(r: BenchResults): string {
  const t = r.throughput;
  if (!t) return `## 1. Write throughput\n\n${notMeasured(r, "write throughput")}\n`;
  const rounds = Array.from({ length: r.config.throughput.rounds }, (_, k) => {
    const of = (v: string) => t.rounds.find((x) => x.round === k && x.variant === v)!;
    return [
      k + 1,
      `${num(of("snapshot").perSecond, 1)} (p50 ${num(of("snapshot").latencyP50Ms)} ms)`,
      `${num(of("snapshot_no_memory").perSecond, 1)} (p50 ${num(of("snapshot_no_memory").latencyP50Ms)} ms)`,
      `${num(of("baseline_same_body").perSecond, 1)} (p50 ${num(of("baseline_same_body").latencyP50Ms)} ms)`,
      `${num(of("baseline_empty_body").perSecond, 1)} (p50 ${num(of("baseline_empty_body").latencyP50Ms)} ms)`,
      num(of("snapshot").perSecond / of("baseline_same_body").perSecond, 2),
      num(of("snapshot_no_memory").perSecond / of("baseline_same_body").perSecond, 2),
    ];
  });
  rounds.push([
    "**median**",
    `**${num(t.medians.snapshot, 1)}**`,
    `**${num(t.medians.snapshot_no_memory, 1)}**`,
    `**${num(t.medians.baseline_same_body, 1)}**`,
    `**${num(t.medians.baseline_empty_body, 1)}**`,
    `**${num(t.ratioSameBody, 2)}** (median of per-round ratios ${num(t.perRoundRatioSameBody, 2)})`,
    num(t.ratioSameBodyNoMemory, 2),
  ]);
  const met = t.ratioSameBody >= TARGETS.writeRatio;
  const transport = 1 / t.medians.baseline_same_body - 1 / t.medians.baseline_empty_body;
  const failures = Object.entries(t.failureStatuses);
  return `## 1. Write throughput

**Method.** One \`wrangler dev bench/worker.ts\` (the bench's own Worker entry, local D1 in a temporary
folder) and autocannon in the bench process, ${t.connections} connections. ${r.config.throughput.rounds} rounds; in each, every variant runs
${t.seconds} s, in an order rotated round by round, after a ${r.config.throughput.warmupSeconds} s warm-up of each. Variants:

- **snapshot** — \`POST /api/turns\` with a stream of growing conversations posted in full: 21 snapshots
  each, from 10 to 50 blocks, 2 new blocks per snapshot, every earlier block repeated verbatim (same
  ids and content, so it is stored once); ${num(t.averageBodyBytes)} bytes per body on average. ${t.interleave} conversations are posted
  round-robin, each in order, as chats post them: a conversation's next snapshot goes out ${t.interleave} requests
  after its previous one. (Sent on all connections at once, a conversation's consecutive snapshots
  race for the same new path nodes; the store then plans them again, and answers 503 after three
  collisions — a chat does not post that way.) Every snapshot is unique in the run (a repeat would
  answer 200 without writing), so every one is written in one D1 batch; answers other than 201 (all variants): ${t.failures}${failures.length ? ` (${failures.map(([code, n]) => `${code}: ${n}`).join(", ")})` : ""}.
  One Worker isolate serves the run, so each full post reaches the tip of the conversation's previous
  snapshot, which that isolate stored (src/store/known-paths.ts), and its batch carries only the new
  blocks and nodes.
- **snapshot, no tip memory** — the same kind of stream (its own conversations), each request sent with
  a bench-only header on which \`bench/worker.ts\` clears that memory first: every full post looks
  up its whole history in its batch, as when another isolate wrote the previous snapshot.
- **baseline, same bodies** — \`POST /api/bench/baseline\` with the same kind of bodies. The route
  (\`bench/baseline-route.ts\`) runs the same middleware as \`POST /api/turns\` (token, body limit,
  content type and JSON parse, D1 session, the write log line) and then inserts one row (a
  \`conversations\` row with a fresh id): one single-row D1 insert, one statement, one round trip.
- **baseline, empty body** — the same route with \`{}\`: the cheapest write this Worker can make.

The baseline route is **not in the production Worker**. It lives in a bench-only entry,
\`bench/worker.ts\`, which serves that one path and hands every other request (and the Cron
Trigger) to the production Worker (\`src/index.ts\`) unchanged; the bench starts it with
\`wrangler dev bench/worker.ts\`. \`wrangler deploy\` bundles \`src/index.ts\`, which imports nothing
under \`bench/\`: there the path is a 404 like any unknown path, for every method, and it is not in
the OpenAPI document (§7 checks the bundle).

${table(["Round", "snapshot req/s", "… no tip memory req/s", "baseline (same bodies) req/s", "baseline ({}) req/s", "ratio", "ratio, no tip memory"], rounds)}

**Result.** ${num(t.medians.snapshot, 1)} snapshots/s against ${num(t.medians.baseline_same_body, 1)} single-row writes/s receiving the same
bodies: **${num(t.ratioSameBody, 2)}** — target ≥ ${TARGETS.writeRatio} ${metText(met)}. Against the empty-body baseline
(${num(t.medians.baseline_empty_body, 1)}/s) the ratio is ${num(t.ratioEmptyBody, 2)}. Without the tip memory (every full post looking up its
history) the same-body ratio is **${num(t.ratioSameBodyNoMemory, 2)}**. The headline uses the same-body baseline because both routes then
receive identical requests, so the ratio isolates what the write path does with a snapshot. ${
    Math.abs(transport * 1000) < 0.5
      ? `The two baselines are within ${num(Math.abs(transport * 1000), 1)} ms per request of each other (in inverse throughput): receiving and parsing a ${num(t.averageBodyBytes / 1024, 0)} KiB body costs little here.`
      : `The two baselines differ by ${num(transport * 1000, 1)} ms per request (in inverse throughput): receiving and parsing a ${num(t.averageBodyBytes / 1024, 0)} KiB body, which any design storing these snapshots pays.`
  }
${stageProfile(r)}
Here a D1 round trip is a call into the D1 object inside the same workerd; in production each one
crosses the network. A new snapshot makes ${num(r.writeCost?.roundTripsPerWrite ?? Number.NaN)} round trip${r.writeCost?.roundTripsPerWrite === 1 ? "" : "s"} (§2), as the baseline does; a replay
of a stored snapshot or a request with block references makes two (the read-then-write fallback,
below and §2). How the ratio moves once the round trip is a network hop is not measured here.
`;
}

/** The statements of a batch, named for the report: "UPSERT_CONVERSATION_EVENTS, INSERT_SNAPSHOTS, …". */
const names = (list: ReadonlyArray<string | null>) => list.map((n) => `\`${n ?? "?"}\``).join(", ");

/**
 * The split measured where the work runs: workerd's CPU per request (the Worker, its local D1, and
 * wrangler's proxy Worker) in the throughput run, against D1's own execution of the batch.
 */
function serverCpuText(server: NonNullable<ThroughputResult["cpuMsPerRequest"]>, workerdExtra: number, sql: number): string {
  const worker = workerdExtra - sql;
  const top = sql >= worker ? "D1's execution of the batch" : "the Worker's own work and the D1 call's plumbing";
  return `Those stage times are the bench process's; measured where the work runs, **the snapshot costs workerd
${num(workerdExtra, 2)} ms more CPU per request** than the same-body baseline (${num(server.snapshot.workerd ?? 0, 2)} against ${num(server.baseline_same_body.workerd ?? 0, 2)} ms: user + system time of
the dev server's workerd processes over each throughput run, from \`/proc\`, per answer, medians over rounds; wrangler's
Node process, which relays requests and log lines, ${num(server.snapshot.node ?? 0, 2)} against ${num(server.baseline_same_body.node ?? 0, 2)} ms). D1's execution of the batch
accounts for ${num(sql, 2)} ms of it (beyond the baseline's insert; averaged from whole milliseconds, so an estimate), ${
    worker > 0
      ? `which leaves ${num(worker, 2)} ms for the Worker's own work — validation, reading, hashing and chaining the blocks, building the batch — and the D1 call's plumbing`
      : "as much as the whole difference within these estimates' noise: the Worker's own work on the snapshot is small beside it"
  }. **What dominates: ${top}.**
Local D1 prepares every statement on every call, so a statement's compilation (its triggers included) is part of
its \`meta.duration\` here; each statement of a batch also costs the local D1 object a fixed amount of work.`;
}

/** The stage profile and what it says about the gap to the baseline. */
function stageProfile(r: BenchResults): string {
  const p = r.writeCost?.streamProfile;
  const t = r.throughput;
  if (!p || !t) return "";
  const gap = 1000 / t.medians.snapshot - 1000 / t.medians.baseline_same_body;
  const cpu = p.validateMs + p.readMs + p.hashMs + p.chainsMs;
  const sql = Math.max(0, p.d1WriteSqlMs - p.baselineSqlMs);
  const viaProxy = Math.max(0, p.d1WriteMs - p.baselineMs);
  const trip = Math.max(0, t.d1RoundTrip.healthMs - t.d1RoundTrip.notFoundMs);
  // What the timed stages leave: the route's other work, not timed apart.
  const rest = gap - cpu - sql;
  const cpuStages: Array<[string, number]> = [
    ["the zod request schema", p.validateMs],
    ["reading the snapshot", p.readMs],
    ["hashing blocks", p.hashMs],
    ["chains", p.chainsMs],
  ];
  const [topCpuName, topCpuMs] = cpuStages.reduce((a, b) => (b[1] > a[1] ? b : a));
  const parts: Array<[string, number]> = [
    ["the Worker's own CPU stages", cpu],
    ["D1's execution beyond the baseline's", sql],
    ["the route's other untimed work", rest],
  ];
  const [topName, topMs] = parts.reduce((a, b) => (b[1] > a[1] ? b : a));
  // Measured where it runs: workerd's CPU per request (the Worker and its local D1), from /proc.
  const server = t.cpuMsPerRequest;
  const workerdExtra = server ? (server.snapshot.workerd ?? 0) - (server.baseline_same_body.workerd ?? 0) : null;
  const rp = p.replay;
  const rows = [
    ["`JSON.parse` of the body", num(p.parseMs, 3), "both routes"],
    ["zod request schema (`SnapshotRequestSchema`, as `@hono/zod-openapi` validates the body)", num(p.validateMs, 3), "snapshot only"],
    [
      "read snapshot (`readSnapshot` + work bounds: turn reader, normalization, canonical JSON, attribution, row sizes)",
      num(p.readMs, 3),
      "snapshot only",
    ],
    [
      `hash blocks (SHA-256 of ${num(p.blocks)} blocks through \`crypto.subtle\`, with the per-isolate memory of recent blocks)`,
      num(p.hashMs, 3),
      "snapshot only",
    ],
    [
      `chains (path chain of each block through \`crypto.subtle\`, one after another, with the per-isolate memory of recent steps)`,
      num(p.chainsMs, 3),
      "snapshot only",
    ],
    [
      `**the write: one D1 batch, one round trip** (${num(p.writeStatements)} statements: ${names(p.writeStatementNames)})`,
      `${num(p.d1WriteSqlMs, 2)} D1 / ${num(p.d1WriteMs, 2)} via proxy`,
      "snapshot only",
    ],
    [
      "baseline's insert (1 statement, one round trip)",
      `${num(p.baselineSqlMs, 2)} D1 / ${num(p.baselineMs, 2)} via proxy`,
      "baseline only",
    ],
    [
      `one D1 round trip inside \`wrangler dev\`: \`GET /healthz\` (one small D1 read) ${num(t.d1RoundTrip.healthMs, 2)} ms − a 404 (no D1) ${num(t.d1RoundTrip.notFoundMs, 2)} ms, medians of ${t.d1RoundTrip.pairs} alternating requests`,
      num(trip, 2),
      "each round trip (both routes: one)",
    ],
    [
      `_fallback, measured on a replay of each snapshot:_ the batch, refused on the snapshot's unique key (${num(rp.refusedStatements)} statements, rolled back, no meta)`,
      `— D1 / ${num(rp.refusedMs, 2)} via proxy`,
      "replays only",
    ],
    [
      `_… then the read batch of the read-then-write path_ (${num(rp.readStatements)} statements: ${names(rp.readStatementNames)}), which answers \`unchanged\`: ${rp.roundTrips} round trips in all`,
      `${num(rp.readSqlMs, 2)} D1 / ${num(rp.readMs, 2)} via proxy`,
      "replays only",
    ],
  ];
  return `
**Where a write's time goes** — a stage profile of one conversation of the same stream (${p.snapshots} snapshots, ${num(p.blocks)}
blocks each at the median, ${num(p.newBlocks)} new), timed stage by stage in the bench process with the Worker's own code
(medians, ms). The caches of block hashes and chains are module state here as in the Worker's
isolate, so repeated blocks hit them as they do there. Both hash stages use Web Crypto, which Node
runs on a thread pool (tens of µs per awaited digest) where workerd answers in about 10 µs: they
weigh more here than in the Worker. For D1: its own execution time
(\`meta.duration\`, whole milliseconds locally: means) and the round trip seen from Node through wrangler's
proxy (which adds a Node → workerd hop the Worker does not pay); what a round trip costs the Worker
itself is estimated over HTTP. Every snapshot of the profile was written in exactly one round trip
(checked). The last two rows post each snapshot a second time, as a client's retry would: the one
batch fails on the unique key and the store falls back to read-then-write — what a request with
block references, an unknown prefix, a conflict or a conversation being deleted also costs. The
throughput stream sends none of these.

${table(["Stage", "ms", "paid by"], rows)}

Per request the snapshot route costs **${num(gap, 1)} ms** more than the same-body baseline (inverse throughput,
medians above). The CPU stages add up to ${num(cpu, 2)} ms (zod ${num(p.validateMs, 2)}, read ${num(p.readMs, 2)}, hashes ${num(p.hashMs, 2)}, chains ${num(p.chainsMs, 2)}); D1's
execution of the one batch takes ${num(sql, 2)} ms more than the baseline's insert (${num(viaProxy, 2)} ms more for the whole round trip
seen through the proxy, parameters and results included). Both routes make one round trip, so no round trip
is part of the gap. ${
    rest >= 0
      ? `That leaves **${num(rest, 1)} ms** not timed apart: building ${num(p.writeStatements)} statements and their JSON parameters, the larger
parameters' trip to D1, the response, and the write log line (both routes print one; the snapshot's is longer,
and \`wrangler dev\` relays every line through its Node process).`
      : `The timed stages add up to ${num(-rest, 1)} ms more than the gap (with ${t.connections} connections part of each request's work overlaps
other requests' waits), so the split is indicative, not exact.`
  } ${
    workerdExtra === null
      ? `**What dominates: ${topName}** (${num(topMs, 2)} of ${num(gap, 1)} ms)${
          topName.startsWith("the route's other")
            ? ": work the profile does not time stage by stage (the gap minus the timed stages, an estimate)."
            : topName.startsWith("D1")
              ? ": the database's own work on the batch (its statements' `meta.duration`, whole milliseconds locally, averaged)."
              : `: the Worker's own work on the snapshot, of which ${topCpuName} is the largest (${num(topCpuMs, 2)} ms); D1's extra execution is ${num(sql, 2)} ms.`
        }`
      : serverCpuText(server!, workerdExtra, sql)
  }
`;
}

const phaseLabel: Record<(typeof GEPPETTO_PHASES)[number], string> = {
  pre_inference: "`pre_inference` (user message; turn row inserted)",
  post_tools: "`post_tools` (tool call + result, or nothing new)",
  final: "`final` (the answer; turn row updated)",
};

/** rows_written of the statements named, in one snapshot's breakdown. */
function entriesOf(statements: readonly NamedStatementCost[], ...wanted: StatementName[]): number {
  return sum(statements.filter((st) => st.name !== null && wanted.includes(st.name)).map((st) => st.rowsWritten));
}

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
      `${m((x) => x.statements)} / ${m((x) => x.roundTrips)}; ${m((x) => x.statements, deltas)} / ${m((x) => x.roundTrips, deltas)}`,
      `${m((x) => x.requestBytes)} / ${m((x) => x.requestBytes, deltas)}`,
    ];
  });
  const indexes = (table: string | null) => (table === null ? "—" : String(w.indexesByTable[table] ?? 0));
  const breakdown = w.breakdown
    .map(
      (b) =>
        `Snapshot ${b.index + 1} (turn ${Math.floor(b.index / 3)}) — ${b.label}: ${b.statements.length} statements in ${new Set(b.statements.map((st) => st.roundTrip)).size} round trip(s):\n\n` +
        table(
          [
            "Round trip",
            "Statement (`src/store/snapshot-writes.ts`)",
            "what it writes",
            "table (index B-trees)",
            "rows_written (meta)",
            "table rows changed",
            "rows_read (meta)",
          ],
          b.statements.map((st) => {
            const role = st.name ? STATEMENT_ROLES[st.name] : null;
            return [
              st.roundTrip + 1 + (st.failed ? " (refused)" : ""),
              st.name ? `\`${st.name}\`` : `\`${st.sql.replace(/\s+/g, " ").slice(0, 50)}…\``,
              role?.does ?? "—",
              role?.table ? `\`${role.table}\` (${indexes(role.table)})` : "—",
              st.rowsWritten,
              st.changes,
              st.rowsRead,
            ];
          }),
        ),
    )
    .join("\n\n");
  const final = w.breakdown.find((b) => b.kind === "full" && b.phase === "final");
  const finalDelta = w.breakdown.find((b) => b.kind === "delta" && b.phase === "final");
  const entries = (...wanted: StatementName[]) => (final ? entriesOf(final.statements, ...wanted) : Number.NaN);
  const snapshotEntries = entries("INSERT_SNAPSHOTS");
  const blockEntries = entries("UPSERT_BLOCKS_ON_NEW_NODES", "UPSERT_BLOCKS", "COUNT_REFERENCES");
  const nodeEntries = entries("INSERT_NEW_NODES", "INSERT_NODES");
  const conversationEntries = entries("UPSERT_CONVERSATION_EVENTS");
  const lp = w.laterPhase;
  const tableMet = lp.extraTableRows <= TARGETS.extraTableRowsPerSnapshot;
  const metaMet = lp.extraRowsWritten <= TARGETS.extraRowsPerSnapshot;
  const parts: Array<[string, number]> = [
    ["the snapshot row, its index entries and the turn roll-up of its trigger", snapshotEntries],
    ["the new block", blockEntries],
    ["its path node", nodeEntries],
    ["the conversation pointer", conversationEntries],
  ];
  const [topName, topEntries] = parts.reduce((a, b) => (b[1] > a[1] ? b : a));
  const ix = w.indexesByTable;
  const oneRoundTrip = w.roundTripsPerWrite === 1 && w.roundTripsPerDeltaWrite === 1;
  return `## 2. Rows and statements per write

**Method.** A geppetto-style conversation of ${w.turns} turns, each posted as 3 snapshots — \`pre_inference\` (the
user's message), \`post_tools\` (a tool call and its result in 7 turns of 20, else nothing new) and
\`final\` (the answer) — every snapshot carrying the whole history, ~2.7 new blocks per turn, short
texts (the conversation of §4). It goes through exactly what \`POST /api/turns\` runs after its request
schema (\`readSnapshot\`, the work bounds, \`hashBlocks\`, then \`saveSnapshots\`) against local D1 via wrangler's
\`getPlatformProxy\` (the same workerd SQLite as \`wrangler dev\`), through a recording binding that keeps
D1's \`meta\` of every statement and names it by its SQL (\`SNAPSHOT_WRITE_STATEMENTS\`); the tables are
counted after each write. It is posted twice, as two conversations of the same content: **in full**
(every block every time; the last of the ${w.snapshots} snapshots repeats ${num(last.repeatedBlocks)} blocks), and **as deltas** the way
\`src/client/turnstore-client.ts\` posts it (the first snapshot in full, then \`prefix\` + the new blocks).
Both store exactly the same rows: rows_written differ in ${w.rowsWrittenMismatches} of ${w.snapshots} snapshots.

A new snapshot is **${num(w.statementsPerWrite)} statements in ${num(w.roundTripsPerWrite)} round trip${w.roundTripsPerWrite === 1 ? "" : "s"}** posted in full, and ${num(w.statementsPerDeltaWrite)} in
${num(w.roundTripsPerDeltaWrite)} as a delta (medians; ${w.writesOverOneRoundTrip} of ${2 * w.snapshots} writes took more than one round trip). ${
    oneRoundTrip
      ? `Its blocks are all in the request, so \`saveSnapshots\` writes it in one batch (\`writeAtOnce\`): the
conversation pointer, block contents for the nodes the conversation does not have yet (decided inside
the statement), the nodes (\`ON CONFLICT DO NOTHING\`), then the snapshot row. Its insert's triggers
roll the turn up and move a turn's creation time back for an older late snapshot (\`drizzle/0010\`,
\`drizzle/0009\`), and its guard fails the batch — the row gets no id — when the conversation is being
deleted or the node the batch continues is not there (the prefix of a delta, or the tip this isolate
stored that a full post's history reaches).`
      : "**Not every write took the one-round-trip path in this run** — see the breakdown below."
  } A request the batch refuses — a replay of a stored identity,
a conflict, an unknown prefix, a conversation being deleted — and any request with block references
falls back to read-then-write: a read batch, then a write batch (a replay: the refused batch and the
read, 2 round trips, measured in §1's profile).

Per phase, medians over turns 1…${w.turns - 1} (turn 0 also creates the conversation):

${table(["Phase", "new blocks", "table rows changed", "`meta.rows_written`", "rows_written − new blocks", "statements / round trips: full; delta", "request bytes, full / delta"], byPhase)}

Index B-trees per table in the migrated schema (declared indexes and the automatic ones of \`UNIQUE\`
and \`PRIMARY KEY\` constraints, from \`sqlite_master\`): ${Object.entries(ix)
    .filter(([t]) => !t.startsWith("_cf") && !t.startsWith("d1_") && !t.startsWith("sqlite_"))
    .map(([t, n]) => `\`${t}\` ${n}`)
    .join(", ")}.

${breakdown}

**The issue-17 figure** is the later-phase snapshot with about one new block — \`final\`: ${num(lp.newBlocks)} new block,
**${num(lp.rowsWritten)}** rows_written, so **new blocks + ${num(lp.extraRowsWritten)}** in D1's count — target ≤ new blocks + ${TARGETS.extraRowsPerSnapshot}
${metText(metaMet)}. In table rows it is ${num(lp.tableRowsChanged)} → new blocks + ${num(lp.extraTableRows)} (issue 7's target ≤ new blocks + ${TARGETS.extraTableRowsPerSnapshot}: ${metText(tableMet)}).
\`meta.rows_written\` counts every B-tree entry written — the table row and each index entry that
changes (an index entry is written when a row is inserted or a key column of that index changes;
a partial index only for rows it covers). For that \`final\` snapshot, posted in full, by statement (in
brackets the table's index B-trees from \`sqlite_master\`; a \`WITHOUT ROWID\` table's primary key is
the table itself): the \`turn_snapshots\` insert **${num(snapshotEntries)}** — the snapshot (${ix.turn_snapshots ?? 0}) and the turn roll-up its trigger
writes (\`turns\`, ${ix.turns ?? 0}: its runtime and inference indexes hold \`updated_at_ms\`, which every phase moves; its creation time is not in the
update: the other trigger moves it back, only for an older late snapshot) — the new block **${num(blockEntries)}**
(\`blocks\`, ${ix.blocks ?? 0}), its path node **${num(nodeEntries)}** (\`block_nodes\`, ${ix.block_nodes ?? 0}), the conversation pointer **${num(conversationEntries)}**
(\`conversations\`, ${ix.conversations ?? 0}: the activity index moves with \`last_activity_ms\`).${
    finalDelta ? ` Posted as a delta the same snapshot writes ${num(sum(finalDelta.statements.map((st) => st.rowsWritten)))}.` : ""
  }${
    metaMet
      ? ""
      : ` **What dominates: ${topName}** (${num(topEntries)} of ${num(lp.rowsWritten)}). The snapshot row, its new block and node alone come to ${num(snapshotEntries + blockEntries + nodeEntries)} entries against 1 + ${TARGETS.extraRowsPerSnapshot}; meeting the target needs fewer index entries where they dominate — fewer \`turn_snapshots\` indexes, a roll-up and a pointer whose index keys do not move on every phase.`
  }

**Independent of the history.** rows_written per repeated block (least squares over all ${w.snapshots} snapshots):
${num(Math.abs(w.rowsWrittenSlopePerRepeatedBlock) < 5e-5 ? 0 : w.rowsWrittenSlopePerRepeatedBlock, 4)}. **Rows read**: a full post's batch looks up the path node of every block it carries to decide which
are new — unless its history reaches a tip this Worker isolate stored (src/store/known-paths.ts), as
it does here, where one isolate writes the conversation in order: then it reads like a delta (${num(w.rowsReadSlopePerRepeatedBlock.full, 2)} rows read per repeated block; ${num(w.firstTenRowsRead.full)} for the
first 10 snapshots, ${num(w.lastTenRowsRead.full)} for the last 10). A delta reads its prefix and its new nodes (${num(Math.abs(w.rowsReadSlopePerRepeatedBlock.delta) < 5e-4 ? 0 : w.rowsReadSlopePerRepeatedBlock.delta, 3)} per repeated block;
${num(w.firstTenRowsRead.delta)} vs ${num(w.lastTenRowsRead.delta)}). A full post that reaches no remembered tip (another isolate wrote the previous snapshot) reads rows in proportion to
the blocks it repeats. D1 prices a row read at a thousandth of a row written, so even those reads
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
