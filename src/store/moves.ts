/**
 * Moving a conversation to another database (CONTRACT §6.4, POST /api/conversations/:conv_id/move).
 *
 *  1. Begin: the directory records moving_to; the source marks the conversation "leaving" and the
 *     target "arriving" (conversation_moves) — from then on a write reaching either is refused, 409
 *     CONVERSATION_MOVING, so nothing changes under the copy. Legacy snapshots are converted first, so
 *     every block the conversation uses is reached through its path nodes.
 *  2. Copy, table by table in key order, in chunks bounded by rows and bytes: each chunk is read from
 *     the source in one statement, written to the target and read back in one batch, and its digest
 *     compared on both sides; the source's marker keeps the position and the chained digest, so an
 *     interrupted move resumes at the chunk it stopped at. Writes are upserts: a chunk copied twice
 *     is the same chunk.
 *  3. Verify the whole: each table's row count on both sides.
 *  4. Switch: the target's marker goes, the directory says `to` (moved_from: the source), the
 *     source's marker says "moved" — a write that still reaches the source, routed by a stale
 *     placement, is refused there and sent where the conversation lives now (http/database.ts).
 *  5. Purge the source with the deletion's machinery (store/deletion.ts, reason "move": no
 *     tombstone); the scheduled handler finishes it if this request cannot. Then moved_from goes.
 *
 * Every step is bounded by a statement budget per call (D1 counts each statement against the
 * invocation); a call that runs out answers complete: false, and the next call — or the scheduled
 * handler, which continues unfinished moves — picks up where it stopped.
 *
 * Which tables move, in what order, and the statements of the copy: moves-sql.ts.
 */
import { DIRECTORY_BINDING } from "../turn/placement";
import { convertLegacySnapshots } from "./conversion";
import { jsonParameterChunks, type D1Handle } from "./d1";
import { continueDeletion, startDeletion } from "./deletion";
import { beginMove, finishMove, forgetMoveSource, lookUpConversation } from "./directory";
import { StoreError } from "./errors";
import {
  BLOCK_COLUMNS,
  BLOCK_CONTENT,
  chunkSql,
  columnsOf,
  countReferencesSql,
  type CopyPhase,
  INSERT_BLOCKS,
  MARK,
  type MoveMarker,
  PHASES,
  rangeSql,
  type Row,
  rowCountsSql,
  upsertSql,
} from "./moves-sql";

/** Rows a chunk holds at most, and bytes of stored text: one chunk is one statement's result. */
export const MOVE_CHUNK_ROWS = 500;
export const MOVE_CHUNK_BYTES = 1_000_000;

/**
 * Statements one call may use: a fifth of the 1,000 queries D1 allows a Workers Paid invocation. A
 * call cut short by a lower limit (50 on the free plan) fails like any interrupted move, and the next
 * call or scheduled run resumes it.
 */
export const MOVE_STATEMENTS_PER_CALL = 200;

/** The database of a binding (a D1 session of the request, or of the scheduled run). */
export type DatabaseOf = (binding: string) => D1Handle;

/** What a move call reports. */
export interface MoveResult {
  convId: string;
  from: string;
  to: string;
  /** False when the statement budget ran out first: call again (or let the scheduled handler). */
  complete: boolean;
  /** The conversation's snapshots and distinct blocks in the target. */
  snapshots: number;
  blocks: number;
  /** SHA-256 chained over the digests of the copied chunks, as both sides agreed on them. */
  digest: string;
  statements: number;
}

/** Where the copy stands: the phase, and the key of the last row copied in it. */
interface Cursor {
  phase: number;
  after: Row | null;
}

async function sha256(text: string): Promise<string> {
  const bytes = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

const asRows = (results: Array<Record<string, unknown>>, columns: readonly string[]): Row[] =>
  results.map((r) => columns.map((c) => r[c] ?? null));

/** A statement budget shared by the steps of one call. */
class Budget {
  used = 0;
  constructor(private readonly limit: number) {}
  has(statements: number): boolean {
    return this.used + statements <= this.limit;
  }
  /**
   * Deletion batches (7 statements each) that fit what is left; at least two — a deletion's first
   * batch may be its legacy check — so a purge always advances.
   */
  deletionBatches(): number {
    return Math.max(2, Math.floor((this.limit - this.used) / 7));
  }
  spend(statements: number): void {
    this.used += statements;
  }
}

/**
 * Moves (or continues moving) a conversation to `to`. Throws StoreError NOT_FOUND-like codes the
 * route maps: CONVERSATION_MOVING when another move of it is under way, CONVERSATION_DELETING when
 * its deletion is; null when it is nowhere.
 */
export async function moveConversation(
  databaseOf: DatabaseOf,
  convId: string,
  to: string,
  options: { nowMs: number; statements?: number },
): Promise<MoveResult | null> {
  const budget = new Budget(options.statements ?? MOVE_STATEMENTS_PER_CALL);
  const directory = databaseOf(DIRECTORY_BINDING);
  const placement = await lookUpConversation(directory, convId);
  budget.spend(1);
  const home = placement?.binding ?? DIRECTORY_BINDING;
  const pending = placement?.movingTo ?? (placement?.movedFrom ? home : null);
  if (pending !== null && pending !== to) {
    throw new StoreError(
      "CONVERSATION_MOVING",
      `conversation ${JSON.stringify(convId)} is moving to ${pending} already; move it again once that is done`,
    );
  }
  if (placement?.movedFrom) return purgeSource(databaseOf, convId, placement.movedFrom, to, budget, options.nowMs);
  if (!placement?.movingTo) {
    if (home === to) return moveResult(true, databaseOf, convId, home, to, budget, "");
    const source = databaseOf(home);
    const state = await source
      .prepare(
        "SELECT (SELECT count(*) FROM conversations WHERE conv_id = ?1) AS present, (SELECT count(*) FROM conversation_deletions WHERE conv_id = ?1) AS deleting",
      )
      .bind(convId)
      .first<{ present: number; deleting: number }>();
    budget.spend(1);
    if ((state?.deleting ?? 0) > 0) {
      throw new StoreError("CONVERSATION_DELETING", `conversation ${JSON.stringify(convId)} is being deleted; it cannot move`);
    }
    if ((state?.present ?? 0) === 0) return null;
    await beginMove(directory, convId, home, to, options.nowMs);
    budget.spend(1);
  }
  return copy(databaseOf, convId, home, to, budget, options.nowMs);
}

/** Steps 1–4: marks, conversion, the chunked copy, the counts, the switch. */
async function copy(databaseOf: DatabaseOf, convId: string, from: string, to: string, budget: Budget, nowMs: number): Promise<MoveResult> {
  const source = databaseOf(from);
  const target = databaseOf(to);
  // Marks first (idempotent): no write changes the conversation on either side from here on.
  const [, markerResult] = await source.batch<MoveMarker>([
    source.prepare(MARK).bind(convId, "leaving", to, nowMs),
    source.prepare("SELECT state, other_binding, cursor_json, digest FROM conversation_moves WHERE conv_id = ?1").bind(convId),
  ]);
  budget.spend(2);
  const marker = markerResult!.results[0]!;
  // Each call advances by one step at least, whatever its budget: a move always finishes.
  let progressed = false;
  const stopHere = (statements: number) => progressed && !budget.has(statements);
  if (marker.cursor_json === "") {
    if (!(await clearTarget(target, convId, from, budget))) return moveResult(false, databaseOf, convId, from, to, budget, marker.digest);
    await target.prepare(MARK).bind(convId, "arriving", from, nowMs).run();
    budget.spend(1);
    // Legacy snapshots name their blocks in block_refs_json: converted, every block is on a path.
    for (let remaining = true; remaining; ) {
      if (stopHere(10)) return moveResult(false, databaseOf, convId, from, to, budget, marker.digest);
      const converted = await convertLegacySnapshots(source, { convId });
      budget.spend(converted.converted > 0 ? 2 : 1);
      remaining = converted.remaining;
      progressed ||= converted.converted > 0;
    }
  }
  let cursor: Cursor = marker.cursor_json === "" ? { phase: 0, after: null } : (JSON.parse(marker.cursor_json) as Cursor);
  let digest = marker.digest;
  while (cursor.phase < PHASES.length) {
    if (stopHere(8)) return moveResult(false, databaseOf, convId, from, to, budget, digest);
    const step = await copyChunk(source, target, convId, PHASES[cursor.phase]!, cursor.after, budget);
    cursor = step.after === null ? { phase: cursor.phase + 1, after: null } : { phase: cursor.phase, after: step.after };
    if (step.rows === 0) continue;
    digest = await sha256(digest + step.digest);
    await source
      .prepare("UPDATE conversation_moves SET cursor_json = ?2, digest = ?3 WHERE conv_id = ?1")
      .bind(convId, JSON.stringify(cursor), digest)
      .run();
    budget.spend(1);
    progressed = true;
  }
  if (stopHere(8)) return moveResult(false, databaseOf, convId, from, to, budget, digest);
  await compareCounts(source, target, convId, budget);
  // The switch: the target takes writes, the directory points there, the source forwards.
  await target.prepare("DELETE FROM conversation_moves WHERE conv_id = ?1").bind(convId).run();
  await finishMove(databaseOf(DIRECTORY_BINDING), convId, from, to);
  budget.spend(2);
  return purgeSource(databaseOf, convId, from, to, budget, nowMs);
}

/**
 * A target that held the conversation before (it moved out, and back) may still be removing it:
 * that finishes first. False while rows of it remain there. Rows with no move arriving are refused:
 * the directory does not place the conversation there, so they are no copy of this move's.
 */
async function clearTarget(target: D1Handle, convId: string, from: string, budget: Budget): Promise<boolean> {
  const left = await target
    .prepare(
      `SELECT (SELECT count(*) FROM conversation_deletions WHERE conv_id = ?1) AS deleting,
        EXISTS (SELECT 1 FROM conversation_moves WHERE conv_id = ?1 AND state = 'arriving' AND other_binding = ?2) AS arriving,
        EXISTS (SELECT 1 FROM conversations WHERE conv_id = ?1) OR EXISTS (SELECT 1 FROM turn_snapshots WHERE conv_id = ?1)
        OR EXISTS (SELECT 1 FROM block_nodes WHERE conv_id = ?1) OR EXISTS (SELECT 1 FROM turns WHERE conv_id = ?1) AS holds`,
    )
    .bind(convId, from)
    .first<{ deleting: number; arriving: number; holds: number }>();
  budget.spend(1);
  if ((left?.deleting ?? 0) > 0) {
    const result = await continueDeletion(target, convId, budget.deletionBatches());
    budget.spend(result.statements);
    return result.complete;
  }
  if ((left?.holds ?? 0) > 0 && !left?.arriving) {
    throw new StoreError(
      "CONVERSATION_MOVING",
      `${JSON.stringify(convId)} has rows in the target database that the directory does not place there; check it with npm run db:check`,
    );
  }
  return true;
}

/** One chunk of a phase: read from the source, written to the target and read back, digests compared. */
async function copyChunk(
  source: D1Handle,
  target: D1Handle,
  convId: string,
  phase: CopyPhase,
  after: Row | null,
  budget: Budget,
): Promise<{ digest: string; after: Row | null; rows: number }> {
  const columns = columnsOf(phase.table);
  const cursor = after ?? [];
  const read = [source.prepare(chunkSql(phase, after, "rows")).bind(convId, MOVE_CHUNK_BYTES, MOVE_CHUNK_ROWS, ...cursor)];
  if (phase.blocks) read.push(source.prepare(chunkSql(phase, after, "blocks")).bind(convId, MOVE_CHUNK_BYTES, MOVE_CHUNK_ROWS, ...cursor));
  const [found, named] = await source.batch<Record<string, unknown>>(read);
  budget.spend(read.length);
  const rows = asRows(found!.results, columns);
  if (rows.length === 0) return { digest: await sha256(""), after: null, rows: 0 };
  const sourceBlocks = named?.results ?? [];
  const lastKey = phase.key.map((k) => rows.at(-1)![columns.indexOf(k)]);
  const statements: D1PreparedStatement[] = [];
  for (const chunk of jsonParameterChunks(sourceBlocks.map((b) => BLOCK_COLUMNS.map((c) => b[c] ?? null)))) {
    statements.push(target.prepare(INSERT_BLOCKS).bind(chunk));
  }
  for (const chunk of jsonParameterChunks(rows)) {
    if (phase.blocks === "counted") statements.push(target.prepare(countReferencesSql(columns)).bind(chunk, convId));
    statements.push(target.prepare(upsertSql(phase.table, columns, ["conv_id", ...phase.key])).bind(chunk));
  }
  const readBack = statements.length;
  statements.push(target.prepare(rangeSql(phase, after, "rows")).bind(convId, ...cursor, ...lastKey));
  if (phase.blocks) statements.push(target.prepare(rangeSql(phase, after, "blocks")).bind(convId, ...cursor, ...lastKey));
  const written = await target.batch<Record<string, unknown>>(statements);
  budget.spend(statements.length);
  const sourceDigest = await chunkDigest(rows, sourceBlocks);
  const targetDigest = await chunkDigest(asRows(written[readBack]!.results, columns), written[readBack + 1]?.results ?? []);
  if (sourceDigest !== targetDigest) {
    throw new Error(
      `move of ${JSON.stringify(convId)}: ${phase.name} rows read back from the target differ from the source's; the move stays where it was and can be retried`,
    );
  }
  // Every key that was left fit this chunk: the phase is done (a phase keyed by conv_id is one row).
  const keysLeft = Number(found!.results[0]!.keys_left);
  const done = phase.key.length === 0 || (keysLeft < MOVE_CHUNK_ROWS && keysLeft === rows.length);
  return { digest: sourceDigest, after: done ? null : lastKey, rows: rows.length };
}

async function chunkDigest(rows: readonly Row[], blockRows: ReadonlyArray<Record<string, unknown>>): Promise<string> {
  const content = blockRows.map((b) => BLOCK_CONTENT.map((c) => b[c] ?? null));
  return sha256(JSON.stringify([rows, content]));
}

/** Step 3: every copied table holds as many of the conversation's rows on both sides. */
async function compareCounts(source: D1Handle, target: D1Handle, convId: string, budget: Budget): Promise<void> {
  const sql = rowCountsSql();
  const [a, b] = await Promise.all([source.prepare(sql).bind(convId).first(), target.prepare(sql).bind(convId).first()]);
  budget.spend(2);
  if (JSON.stringify(a) !== JSON.stringify(b)) {
    throw new Error(
      `move of ${JSON.stringify(convId)}: row counts differ after the copy (source ${JSON.stringify(a)}, target ${JSON.stringify(b)})`,
    );
  }
}

/** Step 5: the source's rows go (a deletion without tombstone), then the directory forgets the source. */
async function purgeSource(
  databaseOf: DatabaseOf,
  convId: string,
  from: string,
  to: string,
  budget: Budget,
  nowMs: number,
): Promise<MoveResult> {
  const source = databaseOf(from);
  // "moved" again, in case the switch stopped before saying so: a deletion waits for it.
  const [, marker] = await source.batch<{ digest: string }>([
    source.prepare("UPDATE conversation_moves SET state = 'moved' WHERE conv_id = ?1").bind(convId),
    source.prepare("SELECT digest FROM conversation_moves WHERE conv_id = ?1").bind(convId),
  ]);
  const digest = marker!.results[0]?.digest ?? "";
  budget.spend(2);
  if (await startDeletion(source, convId, "move", nowMs)) {
    budget.spend(4);
    const result = await continueDeletion(source, convId, budget.deletionBatches());
    budget.spend(result.statements);
    if (!result.complete) return moveResult(false, databaseOf, convId, from, to, budget, digest);
  }
  await forgetMoveSource(databaseOf(DIRECTORY_BINDING), convId);
  budget.spend(1);
  return moveResult(true, databaseOf, convId, from, to, budget, digest);
}

async function counts(db: D1Handle, convId: string): Promise<{ snapshots: number; blocks: number }> {
  const row = await db
    .prepare(
      `SELECT (SELECT count(*) FROM turn_snapshots WHERE conv_id = ?1) AS snapshots,
        (SELECT count(*) FROM (SELECT DISTINCT block_id, content_hash FROM block_nodes WHERE conv_id = ?1)) AS blocks`,
    )
    .bind(convId)
    .first<{ snapshots: number; blocks: number }>();
  return { snapshots: row?.snapshots ?? 0, blocks: row?.blocks ?? 0 };
}

/** Where a move stands after this call: complete or not, with what the target holds of the conversation. */
async function moveResult(
  complete: boolean,
  databaseOf: DatabaseOf,
  convId: string,
  from: string,
  to: string,
  budget: Budget,
  digest: string,
): Promise<MoveResult> {
  const found = await counts(databaseOf(to), convId);
  return { convId, from, to, complete, ...found, digest, statements: budget.used + 1 };
}

/** Conversations whose move has not finished (directory index conversation_directory_moves), for the scheduled handler. */
export async function unfinishedMoves(directory: D1Handle, limit: number): Promise<Array<{ convId: string; to: string }>> {
  const { results } = await directory
    .prepare(
      "SELECT conv_id, coalesce(moving_to, binding) AS target FROM conversation_directory WHERE moving_to IS NOT NULL OR moved_from IS NOT NULL ORDER BY conv_id LIMIT ?1",
    )
    .bind(limit)
    .all<{ conv_id: string; target: string }>();
  return results.map((r) => ({ convId: r.conv_id, to: r.target }));
}
