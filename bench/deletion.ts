/** Deleting a conversation (issue 15): over HTTP and through the store functions, on two copies of the growing one's database. */
import { continueDeletion, startDeletion, type DeletionCounts } from "../src/store/deletion";
import { openDatabase } from "../tools/d1";
import { recordingD1, type StatementCost } from "./counting-d1";
import { copyDatabase, d1File, sqlite3, sqlString } from "./databases";
import { auth, type Bench, sleep, type WriteLog, writeLogOf } from "./http";
import { sum } from "./stats";
import type { WorkerLimits } from "./worker-limits";

const TABLES = "conversations turns turn_snapshots block_nodes blocks turn_block_membership conversation_deletions".split(" ");
type RowCounts = { [table: string]: number; conversations: number; turns: number; turn_snapshots: number; block_nodes: number };
/** The conversation's rows per table (blocks: all of them — the database holds only this conversation). */
const countSql = (convId: string) =>
  `SELECT ${TABLES.map((t) => `(SELECT count(*) FROM ${t}${t === "blocks" ? "" : ` WHERE conv_id = ${sqlString(convId)}`}) AS ${t}`).join(", ")}`;

function countWithSqlite(file: string, convId: string): RowCounts {
  const values = sqlite3(file, `${countSql(convId)};`)
    .trim()
    .split("|");
  return Object.fromEntries(TABLES.map((t, i) => [t, Number(values[i])])) as RowCounts;
}

type Source = { persistTo: string; convId: string; turns: number };
/** DELETE over HTTP on a copy, then the conversation's reads; the Worker's write log line of the DELETE. */
async function overHttp(b: Bench, { convId, persistTo }: Source) {
  const dir = copyDatabase(persistTo, b.dirFor("deletion-http"));
  let logged: WriteLog | null = null;
  const onLine = (line: string) => {
    const entry = writeLogOf(line);
    if (entry?.route.startsWith("DELETE /api/conversations/")) logged = entry;
  };
  const server = await b.serve(dir, { onLine });
  try {
    const conv = encodeURIComponent(convId);
    const started = performance.now();
    const res = await fetch(`${server.url}/api/conversations/${conv}`, { method: "DELETE", headers: auth(b.tokens.admin) });
    const text = await res.text();
    const ms = performance.now() - started;
    if (res.status !== 200) throw new Error(`DELETE answered ${res.status}: ${text.slice(0, 300)}`);
    const body = JSON.parse(text) as { complete: boolean; deleted: DeletionCounts };
    const read = (path: string) => fetch(`${server.url}${path}`, { headers: auth(b.tokens.debug) });
    const conversation = await read(`/api/debug/conversations/${conv}`);
    await conversation.text();
    const page = (await (await read(`/api/debug/turns?conv_id=${conv}&limit=10`)).json()) as { items: unknown[] };
    for (let i = 0; i < 50 && logged === null; i++) await sleep(100);
    const log = logged as WriteLog | null;
    const fromLog = { batches: log?.batches ?? null, rowsWritten: log?.rows_written ?? null, workerMs: log?.duration_ms ?? null };
    const { complete, deleted } = body;
    return {
      ...{ dir, status: res.status, ms, complete, deleted, ...fromLog, conversationStatus: conversation.status },
      turnsItems: page.items.length,
    };
  } finally {
    await b.stop(server);
  }
}

/** startDeletion and continueDeletion, as the route calls them, on another copy: every statement and batch. */
async function throughStore(b: Bench, { convId, persistTo }: Source, limits: WorkerLimits) {
  const local = await openDatabase({ remote: false, persistTo: copyDatabase(persistTo, b.dirFor("deletion-store")) });
  try {
    const recorder = recordingD1(local.db);
    const started = performance.now();
    if (!(await startDeletion(recorder.db, convId, "admin", Date.now()))) throw new Error(`startDeletion found no conversation ${convId}`);
    const result = await continueDeletion(recorder.db, convId, limits.deleteBatchesPerRequest);
    const wallMs = performance.now() - started;
    const total = (list: StatementCost[], f: (st: StatementCost) => number) => sum(list.map(f));
    const totals = (list: StatementCost[]) => ({
      rowsWritten: total(list, (st) => st.rowsWritten),
      changes: total(list, (st) => st.changes),
    });
    const { statements, roundTrips } = recorder;
    const perBatch = [...new Set(statements.map((st) => st.roundTrip))].map((trip) => statements.filter((st) => st.roundTrip === trip));
    return {
      ...{ statements: statements.length, roundTrips, budgetBatches: result.batches },
      perBatch: perBatch.map((list) => ({ statements: list.length, ...totals(list) })),
      ...{ ...totals(statements), sqlMs: sum(statements.map((st) => st.durationMs)), wallMs },
      after: (await local.db.prepare(countSql(convId)).first<RowCounts>())!,
    };
  } finally {
    await local.close();
  }
}

export async function measureDeletion(b: Bench, source: Source, l: WorkerLimits) {
  const { convId, turns } = source;
  const before = countWithSqlite(d1File(source.persistTo), convId);
  const { dir, ...http } = await overHttp(b, source);
  const httpAfter = countWithSqlite(d1File(dir), convId);
  const { after: storeAfter, ...store } = await throughStore(b, source, l);

  // What a conversation of the same shape needs: one batch for the conversion check, then one per
  // chunk of the largest table; a request has its budget, a scheduled run its own.
  const perTurn = Math.max(before.turn_snapshots, before.block_nodes, before.turns) / turns;
  const plans = [turns, 2_000, 5_000, 10_000, 50_000].map((n) => {
    const chunks = Math.ceil(Math.ceil(perTurn * n) / l.deleteChunkRows);
    const scheduledRuns = Math.ceil(Math.max(0, chunks - (l.deleteBatchesPerRequest - 1)) / (l.deletionBatchesPerRun - 1));
    const [snapshots, requests] = [Math.round((before.turn_snapshots / turns) * n), Math.ceil(chunks / (l.deleteBatchesPerRequest - 1))];
    const withinMinutes = l.cronMinutes ? scheduledRuns * l.cronMinutes : null;
    return { turns: n, measured: n === turns, snapshots, chunks, batches: chunks + 1, requests, scheduledRuns, withinMinutes };
  });
  return {
    ...{ turns, limits: l, before },
    counts: [
      { label: "before", ...before },
      { label: "after the DELETE request", ...httpAfter },
    ].concat({ label: "after the store functions", ...storeAfter }),
    ...{ http, store, rowsDeleted: sum(Object.values(http.deleted)) + before.conversations, rowsLeft: sum(Object.values(httpAfter)) },
    ...{ storeRowsLeft: sum(Object.values(storeAfter)), snapshotsPerTurn: before.turn_snapshots / turns, plans },
  };
}

export type DeletionFigures = Awaited<ReturnType<typeof measureDeletion>>;
