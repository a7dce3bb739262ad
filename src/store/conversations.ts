/**
 * Conversations: the runtime pointer (what a conversation uses now, never history), listing, and the
 * runtime history derived from the conversation's own turns.
 */
import { and, asc, desc, eq, gt, gte, lt, lte, or } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { conversations, turns } from "../db/schema";
import { segmentRuntimeHistory, type RuntimeSegment } from "../turn/runtime-history";
import { rowsWritten, type D1Handle } from "./d1";
import { fromColumns, type Columns } from "./rows";
import { movingError, StoreError, type MoveState } from "./errors";
import { UPSERT_CONVERSATION_EVENTS, type WriteOptions } from "./writes";

export type ConversationRow = typeof conversations.$inferSelect;

export interface ConversationPosition {
  lastActivityMs: number;
  convId: string;
}

/** One Drizzle instance per D1 handle: each request has its own session, so one per request. */
const orms = new WeakMap<D1Handle, ReturnType<typeof createOrm>>();

function createOrm(db: D1Handle) {
  // drizzle-orm/d1 only calls prepare() and batch(), which a Sessions-API session also has.
  return drizzle(db as D1Database, { schema: { conversations, turns } });
}

function orm(db: D1Handle) {
  let instance = orms.get(db);
  if (!instance) orms.set(db, (instance = createOrm(db)));
  return instance;
}

export async function listConversations(
  db: D1Handle,
  options: { limit: number; sinceMs?: number; after?: ConversationPosition },
): Promise<{ rows: ConversationRow[]; next: ConversationPosition | null }> {
  const { limit, sinceMs, after } = options;
  const rows = await orm(db)
    .select()
    .from(conversations)
    .where(
      and(
        sinceMs !== undefined ? gte(conversations.lastActivityMs, sinceMs) : undefined,
        // Newest activity first, ties by conv_id ascending: a range on the index, then the ties.
        after
          ? and(
              lte(conversations.lastActivityMs, after.lastActivityMs),
              or(lt(conversations.lastActivityMs, after.lastActivityMs), gt(conversations.convId, after.convId)),
            )
          : undefined,
      ),
    )
    .orderBy(desc(conversations.lastActivityMs), asc(conversations.convId))
    .limit(limit + 1);
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return {
    rows: page,
    next: rows.length > limit && last ? { lastActivityMs: last.lastActivityMs, convId: last.convId } : null,
  };
}

export async function getConversationWithHistory(
  db: D1Handle,
  convId: string,
): Promise<{ conversation: ConversationRow; runtimeHistory: RuntimeSegment[] } | null> {
  const q = orm(db);
  const [found, turnRows] = await q.batch([
    q.select().from(conversations).where(eq(conversations.convId, convId)).limit(1),
    q
      .select({
        turnId: turns.turnId,
        runtimeKey: turns.runtimeKey,
        createdAtMs: turns.turnCreatedAtMs,
        updatedAtMs: turns.updatedAtMs,
      })
      .from(turns)
      .where(eq(turns.convId, convId))
      .orderBy(asc(turns.turnCreatedAtMs), asc(turns.turnId)),
  ]);
  const conversation = found[0];
  if (!conversation) return null;
  return { conversation, runtimeHistory: segmentRuntimeHistory(turnRows) };
}

const SELECT_CONVERSATION = `SELECT * FROM conversations WHERE conv_id = ?1`;

/** Is its deletion under way; and, for a conversation token minted at ?2, was it deleted since? */
const SELECT_DELETION = `SELECT (SELECT count(*) FROM conversation_deletions WHERE conv_id = ?1) AS deleting,
  (SELECT count(*) FROM conversation_tombstones WHERE conv_id = ?1 AND ?2 IS NOT NULL AND deleted_at_ms >= ?2) AS deleted,
  (SELECT state FROM conversation_moves WHERE conv_id = ?1) AS move_state,
  (SELECT other_binding FROM conversation_moves WHERE conv_id = ?1) AS moved_to`;

/** One conversation, or null when unknown. */
export async function getConversation(db: D1Handle, convId: string): Promise<ConversationRow | null> {
  const [row] = await orm(db).select().from(conversations).where(eq(conversations.convId, convId)).limit(1);
  return row ?? null;
}

/**
 * Records a runtime switch as a pointer event (newest event wins; an older one is accepted and
 * moves nothing). With a session id it creates the conversation when missing; without one the
 * conversation must exist. One batch: the event, then the row to answer with.
 */
export async function switchRuntime(
  db: D1Handle,
  event: { convId: string; runtimeKey: string; sessionId?: string; atMs: number },
  options: WriteOptions = {},
): Promise<{ conversation: ConversationRow; rowsWritten: number }> {
  const switchEvent = {
    conv_id: event.convId,
    ...(event.sessionId !== undefined ? { session_id: event.sessionId } : {}),
    turn_id: "",
    at_ms: event.atMs,
    runtime_key: event.runtimeKey,
    first_of_turn: 0,
    snapshots: 0,
    token_iat: options.tokenIssuedAtMs ?? null,
  };
  // Raw statements: the event upsert reads json_each, and the row must be read in the same batch.
  const [writeResult, readResult, deletionResult] = await db.batch<
    Columns<ConversationRow> & { deleting: number; deleted: number; move_state: MoveState | null; moved_to: string | null }
  >([
    db.prepare(UPSERT_CONVERSATION_EVENTS).bind(JSON.stringify([switchEvent])),
    db.prepare(SELECT_CONVERSATION).bind(event.convId),
    db.prepare(SELECT_DELETION).bind(event.convId, options.tokenIssuedAtMs ?? null),
  ]);
  const move = deletionResult!.results[0];
  if (move?.move_state) throw movingError(event.convId, move.move_state, move.moved_to ?? "");
  if ((deletionResult!.results[0]?.deleted ?? 0) > 0) {
    throw new StoreError(
      "FORBIDDEN",
      `conversation ${JSON.stringify(event.convId)} was deleted after this conversation token was minted; get a new token`,
    );
  }
  if ((deletionResult!.results[0]?.deleting ?? 0) > 0) {
    throw new StoreError(
      "CONVERSATION_DELETING",
      `conversation ${JSON.stringify(event.convId)} is being deleted; switch it again once its deletion has finished`,
    );
  }
  const row = readResult!.results[0];
  if (!row) {
    throw new StoreError(
      "UNKNOWN_CONVERSATION",
      `conversation ${JSON.stringify(event.convId)} does not exist; give session_id to create it with this switch`,
    );
  }
  return { conversation: fromColumns(conversations, row), rowsWritten: rowsWritten([writeResult!]) };
}

/** Was the conversation deleted at or after `issuedAtMs` (a conversation token's issue time)? */
export async function deletedSince(db: D1Handle, convId: string, issuedAtMs: number): Promise<boolean> {
  const row = await db.prepare(SELECT_DELETION).bind(convId, issuedAtMs).first<{ deleted: number }>();
  return (row?.deleted ?? 0) > 0;
}
