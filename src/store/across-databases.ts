/**
 * Reads that cross conversations (CONTRACT §6.4), over every database: each database answers its own
 * page from the same cursor — in parallel, each on its own session — and the pages are merged in the
 * same keyset order. A database with more rows than it returned bounds the merged page: nothing after
 * its last row may be answered before that database has been read further, so the merged page ends
 * there and its cursor resumes every database exactly. Conversations live in one database each, so
 * their ids break every tie across databases.
 */
import { compareUtf8 } from "../turn/canonical-json";
import { READ_BUDGET_CHARS } from "../turn/limits";
import { listConversations, type ConversationPosition, type ConversationRow } from "./conversations";
import type { D1Handle } from "./d1";
import { listSnapshots, type SnapshotFilter, type SnapshotPage, type SnapshotPosition, type SnapshotRecord } from "./snapshot-reads";

interface Page<T, P> {
  items: T[];
  next: P | null;
}

/**
 * Merges pages read from the same cursor: `compare` is the page order, `weightOf` what an item adds
 * to a read (the first item always fits).
 */
export function mergePages<T, P>(
  pages: ReadonlyArray<Page<T, P>>,
  options: { compare: (a: T, b: T) => number; positionOf: (item: T) => P; limit: number; weightOf?: (item: T) => number },
): Page<T, P> {
  const { compare, positionOf, limit, weightOf } = options;
  const all = pages.flatMap((p) => p.items).sort(compare);
  // The earliest last row among the databases that have more.
  let frontier: T | undefined;
  for (const page of pages) {
    const last = page.items.at(-1);
    if (page.next !== null && last !== undefined && (frontier === undefined || compare(last, frontier) < 0)) frontier = last;
  }
  const items: T[] = [];
  let weight = 0;
  for (const item of all) {
    if (items.length === limit || (frontier !== undefined && compare(item, frontier) > 0)) break;
    const w = weightOf?.(item) ?? 0;
    if (items.length > 0 && weight + w > READ_BUDGET_CHARS) break;
    weight += w;
    items.push(item);
  }
  const more = items.length < all.length || pages.some((p) => p.next !== null);
  return { items, next: more && items.length > 0 ? positionOf(items.at(-1)!) : null };
}

const newestFirst = (a: SnapshotRecord, b: SnapshotRecord) =>
  b.createdAtMs - a.createdAtMs || compareUtf8(b.convId, a.convId) || b.id - a.id;
const oldestFirst = (a: SnapshotRecord, b: SnapshotRecord) => -newestFirst(a, b);

/** listSnapshots over several databases, merged (a filter without conv_id: by session, since…). */
export async function listSnapshotsAcross(dbs: readonly D1Handle[], filter: SnapshotFilter): Promise<SnapshotPage> {
  if (dbs.length === 1) return listSnapshots(dbs[0]!, filter);
  const pages = await Promise.all(dbs.map((db) => listSnapshots(db, filter)));
  const merged = mergePages(
    pages.map((p) => ({ items: p.records, next: p.next })),
    {
      compare: filter.order === "oldest" ? oldestFirst : newestFirst,
      positionOf: (r): SnapshotPosition => ({ createdAtMs: r.createdAtMs, convId: r.convId, id: r.id }),
      limit: filter.limit,
      weightOf: filter.withBlocks === false ? undefined : (r) => r.weight,
    },
  );
  return { records: merged.items, next: merged.next, rowsRead: pages.reduce((sum, p) => sum + p.rowsRead, 0) };
}

/** The conversation list over several databases, merged: newest activity first, ties by conv_id. */
export async function listConversationsAcross(
  dbs: readonly D1Handle[],
  options: { limit: number; sinceMs?: number; after?: ConversationPosition },
): Promise<{ rows: ConversationRow[]; next: ConversationPosition | null }> {
  if (dbs.length === 1) return listConversations(dbs[0]!, options);
  const pages = await Promise.all(dbs.map((db) => listConversations(db, options)));
  const merged = mergePages(
    pages.map((p) => ({ items: p.rows, next: p.next })),
    {
      compare: (a, b) => b.lastActivityMs - a.lastActivityMs || compareUtf8(a.convId, b.convId),
      positionOf: (r) => ({ lastActivityMs: r.lastActivityMs, convId: r.convId }),
      limit: options.limit,
    },
  );
  return { rows: merged.items, next: merged.next };
}
