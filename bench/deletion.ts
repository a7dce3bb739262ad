/**
 * Deleting a conversation (issue 15): the growing conversation's longest database (short variant),
 * deleted twice, from two copies:
 *
 *  - over HTTP: `DELETE /api/conversations/:conv_id` on `wrangler dev` (ADMIN_TOKEN set), timed from
 *    the client, with the Worker's own write log line (src/http/write-log.ts: `"event":"write"`,
 *    route `DELETE /api/conversations/:conv_id`: its batches, rows written and duration); then the
 *    conversation's reads, and — with the server stopped — every table counted with sqlite3;
 *  - through the store functions the route calls (startDeletion, then continueDeletion with the
 *    route's batch budget) against local D1 through a recording binding: every statement and batch.
 *
 * How many requests or scheduled runs a longer conversation needs follows from the chunk size and
 * the budgets, which are read from the Worker's modules (worker-limits.ts).
 */
import { continueDeletion, startDeletion, type DeletionCounts } from "../src/store/deletion";
import { openDatabase } from "../tools/d1";
import type { DevServer } from "../tools/wrangler-dev";
import { recordingD1 } from "./counting-d1";
import { copyDatabase, d1File, sqlite3, sqlString } from "./databases";
import { sum } from "./stats";
import type { WorkerLimits } from "./worker-limits";

const TABLES = [
  "conversations",
  "turns",
  "turn_snapshots",
  "block_nodes",
  "blocks",
  "turn_block_membership",
  "conversation_deletions",
] as const;
type RowCounts = Record<(typeof TABLES)[number], number>;

/** The conversation's rows per table (blocks: all of them — the database holds only this conversation). */
const countSql = (convId: string) =>
  `SELECT ${TABLES.map((t) => `(SELECT count(*) FROM ${t}${t === "blocks" ? "" : ` WHERE conv_id = ${sqlString(convId)}`}) AS ${t}`).join(", ")}`;

function countWithSqlite(file: string, convId: string): RowCounts {
  const values = sqlite3(file, `${countSql(convId)};`)
    .trim()
    .split("|")
    .map(Number);
  return Object.fromEntries(TABLES.map((t, i) => [t, values[i]!])) as RowCounts;
}

export interface DeletionOptions {
  source: { persistTo: string; convId: string; turns: number };
  dirFor: (name: string) => string;
  limits: WorkerLimits;
  adminToken: string;
  debugToken: string;
  serve: (persistTo: string, onLine: (line: string) => void) => Promise<DevServer>;
  stop: (server: DevServer) => Promise<void>;
}

type WriteLogLine = { batches?: number; rows_written?: number; duration_ms?: number };

/** DELETE over HTTP on a copy, then the conversation's reads; the Worker's write log line of the DELETE. */
async function overHttp(o: DeletionOptions) {
  const { convId } = o.source;
  const dir = copyDatabase(o.source.persistTo, o.dirFor("deletion-http"));
  let logged: WriteLogLine | null = null;
  const server = await o.serve(dir, (line) => {
    if (line.startsWith("{") && line.includes('"event":"write"') && line.includes('"route":"DELETE /api/conversations/'))
      logged = JSON.parse(line);
  });
  try {
    const started = performance.now();
    const res = await fetch(`${server.url}/api/conversations/${encodeURIComponent(convId)}`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${o.adminToken}` },
    });
    const text = await res.text();
    const ms = performance.now() - started;
    if (res.status !== 200) throw new Error(`DELETE answered ${res.status}: ${text.slice(0, 300)}`);
    const body = JSON.parse(text) as { complete: boolean; deleted: DeletionCounts };
    const read = (path: string) => fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${o.debugToken}` } });
    const conversation = await read(`/api/debug/conversations/${encodeURIComponent(convId)}`);
    await conversation.text();
    const page = (await (await read(`/api/debug/turns?conv_id=${encodeURIComponent(convId)}&limit=10`)).json()) as { items: unknown[] };
    for (let i = 0; i < 50 && logged === null; i++) await new Promise((r) => setTimeout(r, 100));
    const log = logged as WriteLogLine | null;
    return {
      dir,
      status: res.status,
      ms,
      complete: body.complete,
      deleted: body.deleted,
      batches: log?.batches ?? null,
      rowsWritten: log?.rows_written ?? null,
      workerMs: log?.duration_ms ?? null,
      conversationStatus: conversation.status,
      turnsItems: page.items.length,
    };
  } finally {
    await o.stop(server);
  }
}

/** startDeletion and continueDeletion, as the route calls them, on another copy: every statement and batch. */
async function throughStore(o: DeletionOptions) {
  const { convId } = o.source;
  const local = await openDatabase({ remote: false, persistTo: copyDatabase(o.source.persistTo, o.dirFor("deletion-store")) });
  try {
    const recorder = recordingD1(local.db);
    const started = performance.now();
    if (!(await startDeletion(recorder.db, convId, "admin", Date.now()))) throw new Error(`startDeletion found no conversation ${convId}`);
    const result = await continueDeletion(recorder.db, convId, o.limits.deleteBatchesPerRequest);
    const wallMs = performance.now() - started;
    const total = (list: typeof recorder.statements, f: (st: (typeof list)[number]) => number) => sum(list.map(f));
    return {
      statements: recorder.statements.length,
      roundTrips: recorder.roundTrips,
      budgetBatches: result.batches,
      perBatch: [...new Set(recorder.statements.map((st) => st.roundTrip))].map((trip) => {
        const list = recorder.statements.filter((st) => st.roundTrip === trip);
        return { statements: list.length, rowsWritten: total(list, (st) => st.rowsWritten), changes: total(list, (st) => st.changes) };
      }),
      rowsWritten: total(recorder.statements, (st) => st.rowsWritten),
      changes: total(recorder.statements, (st) => st.changes),
      sqlMs: total(recorder.statements, (st) => st.durationMs),
      wallMs,
      after: (await local.db.prepare(countSql(convId)).first<RowCounts>())!,
    };
  } finally {
    await local.close();
  }
}

export async function measureDeletion(o: DeletionOptions) {
  const { convId, turns } = o.source;
  const before = countWithSqlite(d1File(o.source.persistTo), convId);
  const { dir, ...http } = await overHttp(o);
  const httpAfter = countWithSqlite(d1File(dir), convId);
  const { after: storeAfter, ...store } = await throughStore(o);

  // What a conversation of the same shape needs: one batch for the conversion check, then one per
  // chunk of the largest table; a request has its budget, a scheduled run its own.
  const l = o.limits;
  const perTurn = Math.max(before.turn_snapshots, before.block_nodes, before.turns) / turns;
  const plans = [turns, 2_000, 5_000, 10_000, 50_000].map((n) => {
    const chunks = Math.ceil(Math.ceil(perTurn * n) / l.deleteChunkRows);
    const scheduledRuns = Math.ceil(Math.max(0, chunks - (l.deleteBatchesPerRequest - 1)) / (l.deletionBatchesPerRun - 1));
    return {
      turns: n,
      measured: n === turns,
      snapshots: Math.round((before.turn_snapshots / turns) * n),
      chunks,
      batches: chunks + 1,
      requests: Math.ceil(chunks / (l.deleteBatchesPerRequest - 1)),
      scheduledRuns,
      withinMinutes: l.cronMinutes ? scheduledRuns * l.cronMinutes : null,
    };
  });
  return {
    turns,
    limits: l,
    before,
    counts: [
      { label: "before", ...before },
      { label: "after the DELETE request", ...httpAfter },
      { label: "after the store functions", ...storeAfter },
    ],
    http,
    store,
    rowsDeleted: sum(Object.values(http.deleted)) + before.conversations,
    rowsLeft: sum(Object.values(httpAfter)),
    storeRowsLeft: sum(Object.values(storeAfter)),
    snapshotsPerTurn: before.turn_snapshots / turns,
    plans,
  };
}

export type DeletionFigures = Awaited<ReturnType<typeof measureDeletion>>;
