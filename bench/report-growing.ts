/** Report sections 4 (a growing conversation, issue 13) and 5 (deleting a conversation, issue 15). */
import { sum } from "./stats";
import { deletionPlan } from "./deletion";
import type { GrowingVariantResult } from "./growing";
import { SUMMARY_LIMIT } from "./growing";
import type { BenchResults } from "./index";
import { bytesText, kib, mb, metText, notMeasured, num, table } from "./report-format";
import { bytesPerSnapshot, growthRatio, TARGETS } from "./summary";

/** The first release's figures for this conversation (issue 13), for reference. */
export const FIRST_RELEASE: Array<{
  turns: number;
  dbBytes: number;
  blockRefsBytes: number;
  uniqueBlockBytes: number;
  pageBytes: number;
  pageSeconds: number;
}> = [
  { turns: 50, dbBytes: 1.8e6, blockRefsBytes: 0.86e6, uniqueBlockBytes: 11e3, pageBytes: 1.9e6, pageSeconds: 0.8 },
  { turns: 100, dbBytes: 7.5e6, blockRefsBytes: 3.4e6, uniqueBlockBytes: 23e3, pageBytes: 6.6e6, pageSeconds: 3.1 },
  { turns: 200, dbBytes: 16.7e6, blockRefsBytes: 13.4e6, uniqueBlockBytes: 46e3, pageBytes: 16.5e6, pageSeconds: 6.0 },
];

const TABLE_ORDER = ["turn_snapshots", "blocks", "block_nodes", "turns", "conversations"];

function variantTable(v: GrowingVariantResult): string {
  return table(
    [
      "T (turns)",
      "snapshots",
      "blocks",
      "D1 data",
      "**bytes / snapshot**",
      "unique block bytes",
      "request bytes / snapshot: full",
      "… **delta**",
      "rows_written / snapshot",
      "`payload=none` page: bytes",
      "… **median ms** (p90)",
    ],
    v.points.map((p) => [
      num(p.turns),
      num(p.snapshots),
      num(p.blocks),
      bytesText(p.dataBytes),
      `**${num(bytesPerSnapshot(p))}**`,
      bytesText(p.uniqueBlockBytes),
      num(p.fullRequestBytes),
      `**${num(p.deltaRequestBytes)}**`,
      num(p.rowsWritten, 1),
      p.summaryPage ? `${num(p.summaryPage.bytes)} (${p.summaryPage.items} items)` : "—",
      p.summaryPage ? `**${num(p.summaryPage.medianMs, 1)}** (${num(p.summaryPage.p90Ms, 1)})` : "—",
    ]),
  );
}

function storageTable(v: GrowingVariantResult): string {
  const last = v.points[v.points.length - 1]!;
  const names = [
    ...TABLE_ORDER.filter((t) => t in last.tableBytes),
    ...Object.keys(last.tableBytes).filter((t) => !TABLE_ORDER.includes(t)),
  ];
  return table(
    ["Table (with its indexes)", ...v.points.map((p) => `T=${num(p.turns)}: bytes / snapshot`), `T=${num(last.turns)}: share`],
    names.map((name) => [
      `\`${name}\``,
      ...v.points.map((p) => num((p.tableBytes[name] ?? 0) / p.snapshots)),
      `${num(((last.tableBytes[name] ?? 0) / last.dataBytes) * 100, 0)} %`,
    ]),
  );
}

/** What dominates the storage of a variant, and what grows with T. */
function growthText(v: GrowingVariantResult): string {
  const a = v.points[0]!;
  const b = v.points[v.points.length - 1]!;
  const [name, bytes] = Object.entries(b.tableBytes).reduce((x, y) => (y[1] > x[1] ? y : x));
  const perSnapshot = (p: typeof a, t: string) => (p.tableBytes[t] ?? 0) / p.snapshots;
  const [grower] = Object.keys(b.tableBytes).reduce(
    (x, t) => {
      const growth = perSnapshot(b, t) - perSnapshot(a, t);
      return growth > x[1] ? [t, growth] : x;
    },
    ["", 0] as [string, number],
  );
  const ratio = bytesPerSnapshot(b) / bytesPerSnapshot(a);
  return `${v.label[0]!.toUpperCase()}${v.label.slice(1)}: what dominates at T=${num(b.turns)} is \`${name}\` (${num((bytes / b.dataBytes) * 100, 0)} % of the data). ${
    ratio <= TARGETS.growingBytesRatio
      ? `A snapshot's own row (ids, runtime, inference, turn metadata, tip chain, index entries) is the same size at every length, and each block is stored once, with the path node that first added it: storage grows with the snapshots and their new blocks, not with the history they repeat.`
      : `Bytes per snapshot grow ${num(ratio, 2)}× from T=${num(a.turns)} to T=${num(b.turns)}; the most growth per snapshot is in \`${grower}\` (${num(perSnapshot(a, grower))} → ${num(perSnapshot(b, grower))} bytes).`
  }`;
}

export function growingSection(r: BenchResults): string {
  const g = r.growing;
  if (!g) return `## 4. A growing conversation\n\n${notMeasured(r, "growing conversation")}\n`;
  const short = g.variants.find((v) => v.key === "short")!;
  const first = short.points[0]!;
  const last = short.points[short.points.length - 1]!;
  const verdictLines = g.variants.map((v) => {
    const a = v.points[0]!;
    const b = v.points[v.points.length - 1]!;
    const bytes = growthRatio(v, bytesPerSnapshot)!;
    const deltaRatio = growthRatio(v, (p) => p.deltaRequestBytes)!;
    const page = growthRatio(v, (p) => p.summaryPage?.medianMs);
    return [
      `- **${v.label}**: D1 bytes per snapshot ${num(bytesPerSnapshot(a))} at T=${num(a.turns)} → ${num(bytesPerSnapshot(b))} at T=${num(b.turns)}, **${num(bytes, 2)}×** — target ≤ ${TARGETS.growingBytesRatio}× ${metText(bytes <= TARGETS.growingBytesRatio)};`,
      `  delta request bytes per snapshot ${num(a.deltaRequestBytes)} → ${num(b.deltaRequestBytes)}, **${num(deltaRatio, 2)}×** — target ≤ ${TARGETS.growingDeltaRatio}× ${metText(deltaRatio <= TARGETS.growingDeltaRatio)} (a full post grows ${num(b.fullRequestBytes / a.fullRequestBytes, 1)}×, to ${bytesText(b.fullRequestBytes)} on average and ${bytesText(b.lastTurn.fullRequestBytes)} for the last turn's snapshots);`,
      `  \`payload=none\` page ${num(a.summaryPage?.medianMs, 1)} → ${num(b.summaryPage?.medianMs, 1)} ms, **${num(page, 2)}×** — target ≤ ${TARGETS.growingSummaryPageRatio} ${page === null ? "not measured" : metText(page <= TARGETS.growingSummaryPageRatio)}; rows_written per snapshot ${num(a.rowsWritten, 1)} → ${num(b.rowsWritten, 1)} (last turn: ${num(a.lastTurn.rowsWritten, 1)} → ${num(b.lastTurn.rowsWritten, 1)}).`,
    ].join("\n");
  });
  const fullPages = short.points.filter((p) => p.fullPage);
  const maxBlocks = r.limits?.maxBlocksPerPage;
  const reference = FIRST_RELEASE.map((f) => {
    const ours = short.points.find((p) => p.turns === f.turns);
    return [
      num(f.turns),
      `${mb(f.dbBytes, 1)} / ${ours ? mb(ours.dataBytes) : "—"}`,
      `${kib(f.dbBytes / (3 * f.turns), 1)} / ${ours ? kib(bytesPerSnapshot(ours), 1) : "—"}`,
      `${mb(f.blockRefsBytes, 2)} / none (path nodes: ${ours ? mb(ours.tableBytes.block_nodes ?? 0) : "—"})`,
      `${num(f.uniqueBlockBytes / 1000, 0)} KB / ${ours ? `${num(ours.uniqueBlockBytes / 1000, 0)} KB` : "—"}`,
      `${mb(f.pageBytes, 1)}, ${num(f.pageSeconds, 1)} s / ${ours?.fullPage ? `${mb(ours.fullPage.bytes)}, ${num(ours.fullPage.medianMs / 1000, 2)} s (${ours.fullPage.items} items)` : "—"}`,
    ];
  });
  return `## 4. A growing conversation

**Method (issue 13).** One geppetto-style conversation of T turns — T = ${g.turns.map((t) => num(t)).join(", ")} — every snapshot carrying the
whole history, 3 snapshots per turn (\`pre_inference\`: the user's message; \`post_tools\`: a tool call and
its result in 7 turns of 20, else nothing new; \`final\`: the answer), about 2.7 new blocks per turn; in
two variants: **short texts** (40–120 characters) and **4 KB tool results**. Each (variant, T) is its own
conversation in its own local D1 database behind its own \`wrangler dev\` (so its bytes are its own), all
written at the same time, each in order. **Writes go through the real route**: \`POST /api/turns\` over
HTTP with the bodies \`src/client/turnstore-client.ts\` sends — the first snapshot in full, then deltas
(\`prefix\` naming the previous snapshot's path + the new blocks). The bench builds those bodies from the
new blocks only and checked them byte for byte against the real client first (${g.clientChecked} snapshots); a full
post's size is counted from its blocks. D1's \`rows_written\` per request comes from the Worker's own
write log line. Then the conversation's \`payload=none\` page (\`limit=${SUMMARY_LIMIT}\`) is timed over HTTP, requests
alternating between the servers one at a time (${g.requests} timed after ${g.warmup} warm-up rounds), and last each
database file, closed, is measured: page_count × page_size, minus the empty migrated database
(${bytesText(g.emptyFileBytes)}), divided by the snapshots; per table with SQLite's \`dbstat\`.

${g.variants.map((v) => `**${v.label[0]!.toUpperCase()}${v.label.slice(1)}.**\n\n${variantTable(v)}`).join("\n\n")}

(Request bytes and rows written are means over all the conversation's snapshots; the first one is
always full. D1 data includes every index.)

**Targets** (T=${num(first.turns)} against T=${num(last.turns)}):

${verdictLines.join("\n")}

**Where the bytes are**, per snapshot and table (indexes included):

${g.variants.map((v) => `${v.label[0]!.toUpperCase()}${v.label.slice(1)}:\n\n${storageTable(v)}`).join("\n\n")}

${g.variants.map((v) => growthText(v)).join("\n\n")}

**The page with payloads** (short texts, \`limit=${SUMMARY_LIMIT}\`, ${g.fullPageRequests} timed requests): ${fullPages
    .map((p) => `T=${num(p.turns)}: ${p.fullPage!.items} snapshots, ${bytesText(p.fullPage!.bytes)}, ${num(p.fullPage!.medianMs, 0)} ms`)
    .join("; ")}. ${
    maxBlocks
      ? `A page with payloads stops at ${num(maxBlocks)} blocks (\`MAX_BLOCKS_PER_PAGE\`) and hands out \`next_cursor\`, so on a long conversation it returns fewer than 200 snapshots instead of building a response that grows with T².`
      : ""
  }

**Against the first release** (issue 13's figures for the same kind of conversation, short texts;
first release / this run; this run's "D1" is data bytes as above):

${table(["T", "D1 database", "per snapshot", "`block_refs_json`", "unique block bytes", "limit=200 page with payloads"], reference)}
`;
}

export function deletionSection(r: BenchResults): string {
  const d = r.deletion;
  if (!d) return `## 5. Deleting a conversation\n\n${notMeasured(r, "deleting a conversation")}\n`;
  const counts = (c: typeof d.before) =>
    [c.conversations, c.turns, c.turn_snapshots, c.block_nodes, c.blocks, c.turn_block_membership, c.conversation_deletions].map((n) =>
      num(n),
    );
  const left = sum(Object.values(d.http.after));
  const storeLeft = sum(Object.values(d.store.after));
  const plans = [d.turns, 2_000, 5_000, 10_000, 50_000].map((turns) => ({ turns, ...deletionPlan(d, turns) }));
  const deleted = sum(Object.values(d.http.deleted)) + d.before.conversations;
  const minutes = d.limits.cronMinutes;
  return `## 5. Deleting a conversation

**Method (issue 15).** The ${num(d.turns)}-turn conversation of §4 (short texts; its database holds nothing else),
deleted from two copies of its database: once with \`DELETE /api/conversations/:conv_id\` on \`wrangler dev\`
(\`ADMIN_TOKEN\` passed as a var), timed from the client, with the Worker's own write log line
(\`"event":"write"\`, route \`DELETE /api/conversations/:conv_id\`) for its batches, rows written and duration; then the conversation's
reads, and — with the server stopped — every table counted. And once through the store functions
the route calls (\`startDeletion\`, then \`continueDeletion\` with the route's budget of ${d.limits.deleteBatchesPerRequest} batches) against
local D1 through a recording binding, for every statement and batch.

${table(
  ["Rows", "conversations", "turns", "turn_snapshots", "block_nodes", "blocks", "turn_block_membership", "conversation_deletions"],
  [
    ["before", ...counts(d.before)],
    ["after the DELETE request", ...counts(d.http.after)],
    ["after the store functions", ...counts(d.store.after)],
  ],
)}

${table(
  ["The DELETE request", ""],
  [
    ["status, `complete`", `${d.http.status}, **${d.http.complete}**`],
    [
      "deleted (response)",
      Object.entries(d.http.deleted)
        .map(([k, v]) => `${k} ${num(v)}`)
        .join(", "),
    ],
    ["time: client / Worker (`duration_ms`)", `**${num(d.http.ms, 0)} ms** / ${num(d.http.workerMs)} ms`],
    ["D1 batches counted against the budget (Worker log)", `${num(d.http.batches)} of ${d.limits.deleteBatchesPerRequest}`],
    ["rows written (Worker log, D1's count)", num(d.http.rowsWritten)],
    ["afterwards: `GET /api/debug/conversations/:conv_id`; its turns page", `${d.http.conversationStatus}; ${d.http.turnsItems} items`],
  ],
)}

${table(
  ["Through the store functions", ""],
  [
    ["statements / D1 round trips (the start batch included)", `**${num(d.store.statements)}** / **${num(d.store.roundTrips)}**`],
    ["batches counted against the budget", num(d.store.budgetBatches)],
    [
      "per round trip: statements, rows written, table rows changed",
      d.store.perBatch.map((b) => `${b.statements} / ${num(b.rowsWritten)} / ${num(b.changes)}`).join("; "),
    ],
    ["rows written (`meta.rows_written`, index entries included)", num(d.store.rowsWritten)],
    ["table rows deleted or updated (`meta.changes`)", num(d.store.changes)],
    ["D1 execution (`meta.duration`) / wall from Node", `${num(d.store.sqlMs)} ms / ${num(d.store.wallMs, 0)} ms`],
  ],
)}

**Result.** The ${num(d.turns)}-turn conversation (${num(d.before.turn_snapshots)} snapshots, ${num(d.before.block_nodes)} path nodes, ${num(d.before.blocks)} blocks) was deleted
${d.http.complete ? "**within one request**" : "**not within one request** (`complete: false`)"}: ${num(deleted)} rows (the conversation, its turns, snapshots, path nodes and every
block only it referenced) in ${num(d.store.statements)} statements and ${num(d.store.roundTrips)} D1 round trips, ${num(d.store.rowsWritten)} rows written in D1's count, ${num(d.http.ms, 0)} ms
from the client. **Nothing of it is left**: ${left === 0 ? "every count above is 0" : `**${num(left)} rows remain**`} after the request${storeLeft === 0 ? " and after the store functions" : ` (**${num(storeLeft)}** after the store functions)`}, and its reads
answer ${d.http.conversationStatus} and an empty page.

**Longer conversations.** Each batch deletes at most ${num(d.limits.deleteChunkRows)} rows per table, and each call first spends one
batch checking for legacy snapshots to convert; a request may use ${d.limits.deleteBatchesPerRequest} batches, a scheduled run
${d.limits.deletionBatchesPerRun} (\`${d.limits.cron}\`${minutes ? `: every ${minutes} minutes` : ""}). The largest table here is the snapshots (${num(d.before.turn_snapshots / d.turns, 1)} per turn), so:

${table(
  ["Turns (same shape)", "snapshots", "chunks", "D1 batches", "DELETE requests alone", "or: one DELETE, then scheduled runs"],
  plans.map((p) => [
    p.turns === d.turns ? `${num(p.turns)} (measured)` : num(p.turns),
    num(p.snapshots),
    num(p.chunks),
    num(p.batches),
    num(p.requests),
    p.scheduledRuns === 0
      ? "— (done in the request)"
      : `${num(p.scheduledRuns)}${minutes ? ` (within ≈ ${num(p.scheduledRuns * minutes)} min)` : ""}`,
  ]),
)}

A request that runs out of batches answers \`"complete": false\`; the conversation already reads as gone,
and another \`DELETE\` or the next scheduled run continues where it stopped.
`;
}
