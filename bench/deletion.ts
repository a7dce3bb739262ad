/**
 * Deleting a conversation (issue 15): the growing conversation's longest database (short variant),
 * deleted twice, from two copies:
 *
 *  - over HTTP: `DELETE /api/conversations/:conv_id` on `wrangler dev` (ADMIN_TOKEN set), timed from
 *    the client, with the Worker's own write log line (src/http/write-log.ts: `"event":"write"`,
 *    route `DELETE /api/conversations/:conv_id`, with the handler's batches, rows written, and the
 *    duration); then the conversation's reads, and — with the server stopped — every table
 *    counted with sqlite3;
 *  - through the store functions the route calls (startDeletion, then continueDeletion with the
 *    route's batch budget) against local D1 via getPlatformProxy and a recording binding: every
 *    statement and batch with D1's meta.
 *
 * How many requests or scheduled runs a longer conversation needs follows from the chunk size and
 * the budgets, which are read from the Worker's modules (worker-limits.ts).
 */
import { continueDeletion, startDeletion, type DeletionCounts } from "../src/store/deletion";
import type { DevServer } from "../tools/wrangler-dev";
import { recordingD1 } from "./counting-d1";
import { copyDatabase, d1File, sqlite3, sqlString } from "./databases";
import { sum } from "./stats";
import { workerLimits, type WorkerLimits } from "./worker-limits";
import { openLocalD1 } from "./write-path";

export interface RowCounts {
  conversations: number;
  conversation_deletions: number;
  turns: number;
  turn_snapshots: number;
  block_nodes: number;
  turn_block_membership: number;
  /** All blocks of the database (it holds only this conversation). */
  blocks: number;
}

export interface DeletionResult {
  convId: string;
  turns: number;
  before: RowCounts;
  limits: WorkerLimits;
  http: {
    status: number;
    ms: number;
    complete: boolean;
    deleted: DeletionCounts;
    /** From the Worker's log line. */
    batches: number | null;
    rowsWritten: number | null;
    workerMs: number | null;
    /** Status of GET /api/debug/conversations/:conv_id afterwards, and items of its turns page. */
    conversationStatus: number;
    turnsItems: number;
    after: RowCounts;
  };
  store: {
    complete: boolean;
    deleted: DeletionCounts;
    /** Every statement and round trip, startDeletion's batch included. */
    statements: number;
    roundTrips: number;
    /** Batches continueDeletion counted against the budget. */
    budgetBatches: number;
    rowsWritten: number;
    /** Table rows deleted or updated (meta.changes). */
    changes: number;
    sqlMs: number;
    wallMs: number;
    perBatch: Array<{ statements: number; rowsWritten: number; changes: number }>;
    after: RowCounts;
  };
}

const COUNT_SQL = (convId: string) => {
  const q = (table: string) => `(SELECT count(*) FROM ${table} WHERE conv_id = ${sqlString(convId)})`;
  return `SELECT ${q("conversations")} AS conversations, ${q("conversation_deletions")} AS conversation_deletions, ${q("turns")} AS turns,
  ${q("turn_snapshots")} AS turn_snapshots, ${q("block_nodes")} AS block_nodes, ${q("turn_block_membership")} AS turn_block_membership,
  (SELECT count(*) FROM blocks) AS blocks`;
};

function countWithSqlite(file: string, convId: string): RowCounts {
  const [line] = sqlite3(file, `${COUNT_SQL(convId)};`)
    .trim()
    .split("\n");
  const [conversations, conversation_deletions, turns, turn_snapshots, block_nodes, turn_block_membership, blocks] = line!
    .split("|")
    .map(Number);
  return {
    conversations: conversations!,
    conversation_deletions: conversation_deletions!,
    turns: turns!,
    turn_snapshots: turn_snapshots!,
    block_nodes: block_nodes!,
    turn_block_membership: turn_block_membership!,
    blocks: blocks!,
  };
}

export interface DeletionOptions {
  source: { persistTo: string; convId: string; turns: number };
  dirFor: (name: string) => string;
  adminToken: string;
  debugToken: string;
  serve: (persistTo: string, onLine: (line: string) => void) => Promise<DevServer>;
  stop: (server: DevServer) => Promise<void>;
}

interface DeletedLog {
  batches?: number;
  rows_written?: number;
  duration_ms?: number;
}

export async function measureDeletion(options: DeletionOptions): Promise<DeletionResult> {
  const { convId } = options.source;
  const limits = await workerLimits();
  const before = countWithSqlite(d1File(options.source.persistTo), convId);

  // 1. Over HTTP.
  const httpDir = copyDatabase(options.source.persistTo, options.dirFor("deletion-http"));
  let logged: DeletedLog | null = null;
  const server = await options.serve(httpDir, (line) => {
    if (line.startsWith("{") && line.includes('"event":"write"') && line.includes('"route":"DELETE /api/conversations/'))
      logged = JSON.parse(line) as DeletedLog;
  });
  let http: Omit<DeletionResult["http"], "after">;
  try {
    const started = performance.now();
    const res = await fetch(`${server.url}/api/conversations/${encodeURIComponent(convId)}`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${options.adminToken}` },
    });
    const text = await res.text();
    const ms = performance.now() - started;
    if (res.status !== 200) throw new Error(`DELETE answered ${res.status}: ${text.slice(0, 300)}`);
    const body = JSON.parse(text) as { complete: boolean; deleted: DeletionCounts };
    const read = (path: string) => fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${options.debugToken}` } });
    const conversation = await read(`/api/debug/conversations/${encodeURIComponent(convId)}`);
    await conversation.text();
    const turns = (await (await read(`/api/debug/turns?conv_id=${encodeURIComponent(convId)}&limit=10`)).json()) as { items: unknown[] };
    for (let i = 0; i < 50 && logged === null; i++) await new Promise((r) => setTimeout(r, 100));
    const log = logged as DeletedLog | null;
    http = {
      status: res.status,
      ms,
      complete: body.complete,
      deleted: body.deleted,
      batches: log?.batches ?? null,
      rowsWritten: log?.rows_written ?? null,
      workerMs: log?.duration_ms ?? null,
      conversationStatus: conversation.status,
      turnsItems: turns.items.length,
    };
  } finally {
    await options.stop(server);
  }
  const httpAfter = countWithSqlite(d1File(httpDir), convId);

  // 2. Through the store functions, statement by statement.
  const storeDir = copyDatabase(options.source.persistTo, options.dirFor("deletion-store"));
  const local = await openLocalD1(storeDir);
  let store: DeletionResult["store"];
  try {
    const recorder = recordingD1(local.db);
    const started = performance.now();
    if (!(await startDeletion(recorder.db, convId, "admin", Date.now()))) throw new Error(`startDeletion found no conversation ${convId}`);
    const result = await continueDeletion(recorder.db, convId, limits.deleteBatchesPerRequest);
    const wallMs = performance.now() - started;
    const trips = [...new Set(recorder.statements.map((st) => st.roundTrip))];
    const counts = (await local.db.prepare(COUNT_SQL(convId)).first<RowCounts>())!;
    store = {
      complete: result.complete,
      deleted: result.deleted,
      statements: recorder.statements.length,
      roundTrips: recorder.roundTrips,
      budgetBatches: result.batches,
      rowsWritten: sum(recorder.statements.map((st) => st.rowsWritten)),
      changes: sum(recorder.statements.map((st) => st.changes)),
      sqlMs: sum(recorder.statements.map((st) => st.durationMs)),
      wallMs,
      perBatch: trips.map((t) => {
        const list = recorder.statements.filter((st) => st.roundTrip === t);
        return { statements: list.length, rowsWritten: sum(list.map((st) => st.rowsWritten)), changes: sum(list.map((st) => st.changes)) };
      }),
      after: counts,
    };
  } finally {
    await local.dispose();
  }
  return { convId, turns: options.source.turns, before, limits, http: { ...http, after: httpAfter }, store };
}

/**
 * What a conversation of `turns` turns of the same shape needs: D1 batches (the conversion check and
 * one per chunk of DELETE_CHUNK_ROWS rows of its largest table), DELETE requests alone, or one
 * request and then scheduled runs. Scaled from the measured conversation's rows per turn.
 */
export function deletionPlan(
  measured: DeletionResult,
  turns: number,
): { snapshots: number; chunks: number; batches: number; requests: number; scheduledRuns: number } {
  const perTurn = Math.max(measured.before.turn_snapshots, measured.before.block_nodes, measured.before.turns) / measured.turns;
  const largest = Math.ceil(perTurn * turns);
  const chunks = Math.ceil(largest / measured.limits.deleteChunkRows);
  // Every call spends one batch on the legacy-conversion check before its chunks.
  const perRequest = measured.limits.deleteBatchesPerRequest - 1;
  const perRun = measured.limits.deletionBatchesPerRun - 1;
  return {
    snapshots: Math.round((measured.before.turn_snapshots / measured.turns) * turns),
    chunks,
    batches: chunks + 1,
    requests: Math.ceil(chunks / perRequest),
    scheduledRuns: Math.ceil(Math.max(0, chunks - perRequest) / perRun),
  };
}
