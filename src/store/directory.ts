/**
 * The directory (CONTRACT §6.4): which D1 database holds each conversation, kept in the directory
 * database (DB). A conversation is placed on its first write — by the rule of src/turn/placement.ts
 * over the open databases — and stays until it is moved (store/moves.ts). A conversation DB holds
 * without a directory row was written before there were other databases: it lives in DB, and placing
 * it again keeps it there.
 */
import { type D1Handle, jsonParameterChunks } from "./d1";

export interface Placement {
  binding: string;
  /** Set while a move copies the conversation: where to. */
  movingTo: string | null;
  /** Set once a move has switched, until the source's rows are gone: where from. */
  movedFrom: string | null;
}

type PlacementRow = { binding: string; moving_to: string | null; moved_from: string | null };

const LOOKUP = `SELECT binding, moving_to, moved_from FROM conversation_directory WHERE conv_id = ?1`;
const LOOKUP_MANY = `SELECT conv_id, binding, moving_to, moved_from FROM conversation_directory WHERE conv_id IN (SELECT value FROM json_each(?1))`;

/** Records ?2 unless the conversation is placed already — or lives in DB from before the directory. */
const PLACE = `INSERT INTO conversation_directory (conv_id, binding, placed_at_ms)
VALUES (?1, CASE
    WHEN EXISTS (SELECT 1 FROM conversations WHERE conv_id = ?1)
      OR EXISTS (SELECT 1 FROM conversation_deletions WHERE conv_id = ?1) THEN 'DB'
    ELSE ?2 END, ?3)
ON CONFLICT (conv_id) DO NOTHING`;

const asPlacement = (row: PlacementRow | null): Placement | null =>
  row ? { binding: row.binding, movingTo: row.moving_to, movedFrom: row.moved_from } : null;

/** Where a conversation lives, or null when the directory has no row (then: DB). */
export async function lookUpConversation(directory: D1Handle, convId: string): Promise<Placement | null> {
  // Cast rather than a type argument: the viewer's type check reaches this file without D1's types.
  return asPlacement((await directory.prepare(LOOKUP).bind(convId).first()) as PlacementRow | null);
}

/**
 * Places a conversation on `binding` unless it is placed already; where it lives now, and whether this
 * call placed it (`placedNow`). One round trip.
 */
export async function placeConversationIn(
  directory: D1Handle,
  convId: string,
  binding: string,
  nowMs: number,
): Promise<Placement & { placedNow: boolean }> {
  const [placed, found] = await directory.batch([
    directory.prepare(PLACE).bind(convId, binding, nowMs),
    directory.prepare(LOOKUP).bind(convId),
  ]);
  const placement = asPlacement((found!.results[0] ?? null) as PlacementRow | null)!;
  return { ...placement, placedNow: placed!.meta.changes === 1 };
}

/**
 * Takes back a placement whose first write was refused, so a refused request leaves no row behind:
 * only while nothing of the conversation is in `db` (a concurrent write may have landed there since)
 * and no move has begun. Two round trips; the rare race it leaves — a write landing between them —
 * costs nothing lasting: the placement rule puts the conversation on the same database again.
 */
export async function unplaceConversation(directory: D1Handle, db: D1Handle, convId: string, binding: string): Promise<void> {
  const held = await db.prepare("SELECT 1 FROM conversations WHERE conv_id = ?1").bind(convId).first();
  if (held) return;
  await directory
    .prepare("DELETE FROM conversation_directory WHERE conv_id = ?1 AND binding = ?2 AND moving_to IS NULL AND moved_from IS NULL")
    .bind(convId, binding)
    .run();
}

/** Conversations placed per batch by placeConversationsIn (one statement each, and the lookup). */
const PLACE_BATCH = 50;

const byConversation = (rows: ReadonlyArray<PlacementRow & { conv_id: string }>) =>
  new Map(rows.map((row) => [row.conv_id, asPlacement(row)!] as const));

/** Where conversations live, for those the directory has a row for (the import tool, db:check). */
export async function lookUpConversations(directory: D1Handle, convIds: readonly string[]): Promise<Map<string, Placement>> {
  const found = new Map<string, Placement>();
  for (const chunk of jsonParameterChunks([...new Set(convIds)])) {
    const { results } = await directory.prepare(LOOKUP_MANY).bind(chunk).all();
    for (const [convId, placement] of byConversation(results as Array<PlacementRow & { conv_id: string }>)) found.set(convId, placement);
  }
  return found;
}

/**
 * placeConversationIn for many conversations at once (the import tool), with the same statement: each
 * placed on its binding unless placed already; where each lives now. One round trip per 50.
 */
export async function placeConversationsIn(
  directory: D1Handle,
  wanted: ReadonlyArray<{ convId: string; binding: string }>,
  nowMs: number,
): Promise<Map<string, Placement>> {
  const placed = new Map<string, Placement>();
  for (let i = 0; i < wanted.length; i += PLACE_BATCH) {
    const slice = wanted.slice(i, i + PLACE_BATCH);
    const results = await directory.batch([
      ...slice.map((w) => directory.prepare(PLACE).bind(w.convId, w.binding, nowMs)),
      directory.prepare(LOOKUP_MANY).bind(JSON.stringify(slice.map((w) => w.convId))),
    ]);
    for (const [convId, placement] of byConversation(results.at(-1)!.results as Array<PlacementRow & { conv_id: string }>))
      placed.set(convId, placement);
  }
  return placed;
}

/** Step 1 of a move (store/moves.ts): the directory notes where to, the conversation still lives in `from`. */
export async function beginMove(directory: D1Handle, convId: string, from: string, to: string, nowMs: number): Promise<void> {
  await directory
    .prepare(
      `INSERT INTO conversation_directory (conv_id, binding, moving_to, placed_at_ms) VALUES (?1, ?2, ?3, ?4)
       ON CONFLICT (conv_id) DO UPDATE SET moving_to = excluded.moving_to WHERE binding = excluded.binding`,
    )
    .bind(convId, from, to, nowMs)
    .run();
}

/** The move's switch: the conversation lives in `to` from now on; `from` still holds rows to remove. */
export async function finishMove(directory: D1Handle, convId: string, from: string, to: string): Promise<void> {
  await directory
    .prepare("UPDATE conversation_directory SET binding = ?3, moving_to = NULL, moved_from = ?2 WHERE conv_id = ?1")
    .bind(convId, from, to)
    .run();
}

/** The move's end: nothing of the conversation is left in its source. */
export async function forgetMoveSource(directory: D1Handle, convId: string): Promise<void> {
  await directory.prepare("UPDATE conversation_directory SET moved_from = NULL WHERE conv_id = ?1").bind(convId).run();
}
