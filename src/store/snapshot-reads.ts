/**
 * Reading snapshots back as turns. Every read is one D1 batch: the page, and (for full payloads) the
 * blocks that page needs — the page's block paths walked from each snapshot's last node towards the
 * first, every node once however many snapshots share it (src/turn/block-path.ts), plus the blocks
 * of legacy snapshots not converted yet. A page touches rows in proportion to the snapshots and the
 * distinct blocks it returns, never to the length of the conversation.
 *
 * The statements are built in snapshot-queries.ts, the turns assembled from the blocks in
 * snapshot-blocks.ts; here the batch is run and its rows become records and a next position.
 */
import type { SnapshotWithTurn } from "../turn/snapshot";
import type { Turn } from "../turn/turn";
import { rowsRead, type D1Handle } from "./d1";
import { turnReader } from "./snapshot-blocks";
import {
  latestFilter,
  snapshotQueries,
  turnSnapshotsQueries,
  type BlockRow,
  type LatestSnapshotQuery,
  type PageRow,
  type SnapshotFilter,
  type SnapshotPosition,
  type SnapshotQueries,
  type TurnPageRow,
  type TurnPosition,
  type TurnSnapshotsQuery,
} from "./snapshot-queries";

export type {
  LatestSnapshotQuery,
  SnapshotFilter,
  SnapshotOrder,
  SnapshotPosition,
  TurnPosition,
  TurnSnapshotsQuery,
} from "./snapshot-queries";

export interface SnapshotRecord extends SnapshotWithTurn {
  id: number;
  blockCount: number;
  /** The model_mismatch rule over the snapshot's metadata (turn/gen-ai-models.ts), computed by the read. */
  modelMismatch: boolean;
  /** What it weighs in a read (src/turn/read-weight.ts; estimated for rows older than 0012). */
  weight: number;
}

export interface SnapshotPage {
  records: SnapshotRecord[];
  /** Position of the last record when more match, for the next page's cursor. */
  next: SnapshotPosition | null;
  rowsRead: number;
}

/** A page statement's rows, and a reader of each row's turn from the blocks fetched in the same batch. */
async function readRows<R extends PageRow>(
  db: D1Handle,
  queries: SnapshotQueries,
  withBlocks: boolean,
): Promise<{ rows: R[]; turnOf: (row: PageRow) => Turn; rowsRead: number }> {
  const { page, blocks, params } = queries;
  const [pageResult, blockResult] = await db.batch<unknown>([
    db.prepare(page).bind(...params),
    ...(withBlocks ? [db.prepare(blocks).bind(...params)] : []),
  ]);
  return {
    rows: pageResult!.results as R[],
    turnOf: turnReader((blockResult?.results ?? []) as BlockRow[], withBlocks),
    rowsRead: rowsRead(blockResult ? [pageResult!, blockResult] : [pageResult!]),
  };
}

function recordOf(row: PageRow, turn: Turn): SnapshotRecord {
  return {
    id: row.id,
    convId: row.conv_id,
    sessionId: row.session_id,
    turnId: row.turn_id,
    phase: row.phase,
    createdAtMs: row.created_at_ms,
    runtimeKey: row.runtime_key,
    inferenceId: row.inference_id,
    blockCount: row.block_count,
    modelMismatch: row.model_mismatch === 1,
    weight: row.read_weight,
    turn,
  };
}

/** True when the block budget ended a payload page before its limit (so there is a next page). */
const cutByBudget = (rows: readonly PageRow[], limit: number) =>
  rows.length > 0 && rows.length < (rows[0]!.page_rows ?? 0) && rows.length <= limit;

/** A page of snapshots matching the filter, with their turns (unless withBlocks is false). */
export async function listSnapshots(db: D1Handle, filter: SnapshotFilter): Promise<SnapshotPage> {
  const withBlocks = filter.withBlocks ?? true;
  const { rows, turnOf, rowsRead } = await readRows<PageRow>(db, snapshotQueries({ ...filter, withBlocks }), withBlocks);
  const pageRows = rows.slice(0, filter.limit);
  const last = pageRows[pageRows.length - 1];
  return {
    records: pageRows.map((row) => recordOf(row, turnOf(row))),
    next:
      (rows.length > filter.limit || (withBlocks && cutByBudget(rows, filter.limit))) && last
        ? { createdAtMs: last.created_at_ms, convId: last.conv_id, id: last.id }
        : null,
    rowsRead,
  };
}

// ---- the latest snapshot (resuming a conversation) ------------------------------------------

/**
 * The newest snapshot of a conversation (by created_at_ms; equal times: the later arrival, the
 * higher id), optionally of one session and/or phase, with its turn; null when none matches.
 * One D1 batch (the row and its blocks); its SQL: latestSnapshotQueries (snapshot-queries.ts).
 */
export async function latestSnapshot(db: D1Handle, query: LatestSnapshotQuery): Promise<SnapshotRecord | null> {
  const page = await listSnapshots(db, latestFilter(query));
  return page.records[0] ?? null;
}

// ---- each turn's newest snapshot, turn by turn (the Markdown transcript) ---------------------

export interface TurnSnapshotsPage {
  /** Per turn of the page that has a matching snapshot, its newest one, in turn creation order. */
  records: SnapshotRecord[];
  /** Position of the page's last turn when more turns follow. */
  next: TurnPosition | null;
  rowsRead: number;
}

/**
 * A page of a conversation's turns in creation order (turn_created_at_ms, turn_id, session_id), and
 * per turn its newest snapshot (by created_at_ms, then arrival), of `phase` when given, with its
 * turn. One D1 batch; a page ends early before the turn whose blocks would pass MAX_BLOCKS_PER_PAGE
 * or whose weight would pass READ_BUDGET_CHARS.
 */
export async function newestSnapshotsOfTurns(db: D1Handle, query: TurnSnapshotsQuery): Promise<TurnSnapshotsPage> {
  const { rows, turnOf, rowsRead } = await readRows<TurnPageRow>(db, turnSnapshotsQueries(query), true);
  const pageRows = rows.slice(0, query.limit);
  const last = pageRows[pageRows.length - 1];
  return {
    // A turn without a (matching) snapshot has a position but NULL snapshot columns.
    records: pageRows.filter((row) => row.id !== null).map((row) => recordOf(row, turnOf(row))),
    next:
      (rows.length > query.limit || cutByBudget(rows, query.limit)) && last
        ? { createdAtMs: last.position_created_at_ms, turnId: last.position_turn_id, sessionId: last.position_session_id }
        : null,
    rowsRead,
  };
}
