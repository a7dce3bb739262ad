/**
 * One import: read the legacy files, bring D1 to the current migration, write through the Worker's
 * own store code (src/store), summarize and verify. No SQL of its own reaches D1:
 *
 *  - layouts A/B (the pre-cutover normalized store) go the way an old D1 database goes: the rows as
 *    they are (loadLegacyRows), the backfill (runBackfill), the conversion to block paths
 *    (convertAllLegacySnapshots), then the pointer evidence of the imported turns and the timeline
 *    (applyConversationEvidence: the one pointer rule) and the counts (recountConversations);
 *  - layouts C/G (one YAML turn per row) go the way a client's posts go: each row is prepared as the
 *    request it would be (prepareSnapshot) and saved in bounded chunks (saveSnapshots), which rolls
 *    turns up and moves conversation pointers by the Worker's rules; then the timeline's evidence.
 *
 * With several conversation databases (CONTRACT §6.4) each conversation is written wholly to the
 * database the Worker would write it to (tools/placements.ts): where the directory places it, else
 * placed by the Worker's rule and statement before its first row is written; the blocks go with the
 * conversations that use them. With DB alone, everything goes to DB and the directory is not touched.
 *
 * The CLI (scripts/import-legacy.ts) only parses flags and prints.
 */
import { createHash } from "node:crypto";
import { StoreError } from "../../src/store/errors";
import {
  applyConversationEvidence,
  conversationTotals,
  convertAllLegacySnapshots,
  loadLegacyRows,
  readTurnRows,
  recountConversations,
  turnEvidence,
  type ConversationEvidence,
  type ConversationTotals,
  type LegacyTurnRow,
  type LoadResult,
} from "./legacy-rows";
import { fingerprintOf, saveSnapshots } from "../../src/store/writes";
import { MAX_BLOCKS_PER_REQUEST, MAX_NEW_BLOCK_ROWS_PER_REQUEST } from "../../src/turn/limits";
import { identityKey, type PreparedSnapshot } from "../../src/turn/snapshot";
import { TurnFormatError } from "../../src/turn/turn";
import { DIRECTORY_BINDING } from "../../src/turn/placement";
import { d1Step, describeTarget, type D1Target, type OpenDatabases, openMigrated } from "../../tools/d1";
import { runBackfill } from "../../tools/migrations";
import { ConversationDatabases } from "../../tools/placements";
import { grownBy, summarizeImport, type ImportSummary, type TableSummary } from "./import-summary";
import { detectLayout, type Layout } from "./layout";
import {
  countBy,
  type ImportClock,
  importClock,
  keyText,
  rawKey,
  RowProblem,
  turnKey,
  type Finding,
  type NormalizedSource,
  type TimelineConversation,
} from "./legacy-source";
import { normalizedStoreQueries, readNormalizedStore } from "./normalized-store";
import { createProgress, type Progress } from "../../tools/progress";
import { prepareSnapshotRow, SNAPSHOT_KEY, snapshotRequestOf, snapshotStoreConversationsQuery, snapshotStoreQuery } from "./snapshot-store";
import { openSqliteFile, type SqliteFile } from "../../tools/sqlite-file";
import { readTimelineFile, TIMELINE_TABLE, type TimelineRead } from "./timeline";

export interface ImportOptions {
  turns: string;
  timeline?: string;
  target: D1Target;
  dryRun?: boolean;
  /** Progress on stderr (the CLI enables it on a terminal or with --progress). */
  progress?: Progress;
}

/**
 * Snapshots per saveSnapshots call, and the bounds a call stays within: the store's own work bounds
 * (new block rows per request), the blocks a request may list, and about the content of the
 * largest request body the Worker accepts (4 MiB), so a chunk costs D1 what a big post costs.
 */
export const CHUNK_SNAPSHOTS = 100;
export const CHUNK_NEW_BLOCK_ROWS = MAX_NEW_BLOCK_ROWS_PER_REQUEST;
export const CHUNK_LISTED_BLOCKS = MAX_BLOCKS_PER_REQUEST;
export const CHUNK_CONTENT_BYTES = 4 * 1024 * 1024;

/** Legacy rows per loadLegacyRows call (progress steps; the store splits them into statements). */
const LOAD_SLICE_ROWS = 2_000;

/** What the import writes to, or null in a dry run. */
type Sink = ConversationDatabases;

/** Each conversation's totals from the database it lives in (placing none). */
async function totalsWhereTheyLive(sink: Sink, convIds: readonly string[], step: string): Promise<Map<string, ConversationTotals>> {
  const totals = new Map<string, ConversationTotals>();
  await sink.forEach(
    convIds,
    (id) => id,
    "locate",
    step,
    async (db, ids) => {
      for (const [id, t] of await conversationTotals(db, ids)) totals.set(id, t);
    },
  );
  return totals;
}

/** Everything both kinds of layout hand to the conversation step and the summary. */
interface LayoutResult {
  tables: (before: ReadonlyMap<string, ConversationTotals> | null, after: ReadonlyMap<string, ConversationTotals> | null) => TableSummary[];
  turnsByConv: Map<string, number>;
  snapshotsByConv: Map<string, number>;
  /** The session of each conversation's newest imported turn (for timeline rows that have none). */
  newestSession: Map<string, string>;
  /** Evidence of the imported turns (A/B; C/G moved their pointers while saving). */
  evidence: ConversationEvidence[];
  /** Conversations whose counts are recomputed from D1 afterwards (A/B). */
  recount: string[];
  convertedSnapshots: number | null;
  notImported: Finding[];
  warnings: Finding[];
}

function otherTablesOf(file: SqliteFile, read: readonly string[], reason: string) {
  return [...file.tables.keys()]
    .filter((table) => !read.includes(table))
    .map((table) => ({ file: file.path, table, rows: file.count(table), reason }));
}

async function readTimeline(
  path: string,
  clock: ImportClock,
): Promise<TimelineRead & { otherTables: ImportSummary["source"]["otherTables"] }> {
  const file = await openSqliteFile(path, "timeline database");
  try {
    const read = readTimelineFile(file, clock);
    return { ...read, otherTables: read.otherTables.map((t) => ({ file: path, ...t, reason: "timeline projections, not turn data" })) };
  } finally {
    file.close();
  }
}

/** Layouts A/B as a source object, for tests and the dry run. */
export async function readNormalizedFile(path: string, clock: ImportClock = importClock()): Promise<NormalizedSource> {
  const file = await openSqliteFile(path, "turns database");
  try {
    const layout = detectLayout(file.tables, path);
    if (layout.id === "C" || layout.id === "G") throw new Error(`${path} is layout ${layout.id}, not a normalized store`);
    return readNormalizedRows(file, layout, clock);
  } finally {
    file.close();
  }
}

function readNormalizedRows(file: SqliteFile, layout: Layout, clock: ImportClock): NormalizedSource {
  const queries = normalizedStoreQueries(layout, file.tables);
  return readNormalizedStore(
    layout,
    {
      turns: file.rows(queries.turns),
      blocks: file.rows(queries.blocks),
      membership: file.rows(queries.membership),
    },
    clock,
  );
}

type LegacyRows = Pick<NormalizedSource, "blocks" | "turns" | "membership">;

/**
 * The legacy rows by the database of their conversation (placed now if new): turns and membership
 * with their conversation, each block wherever a membership row names it, a block nobody names in DB.
 * With DB alone, everything in DB.
 */
async function partitionNormalized(sink: Sink, source: NormalizedSource): Promise<Map<string, LegacyRows>> {
  const convIds = [...source.turns, ...source.membership].map((r) => r.conv_id);
  const where = await d1Step(sink.target, "placing the conversations", () => sink.placements.place(convIds));
  const parts = new Map<string, LegacyRows>();
  const part = (binding: string) => parts.get(binding) ?? parts.set(binding, { blocks: [], turns: [], membership: [] }).get(binding)!;
  if (sink.databases.single) part(DIRECTORY_BINDING);
  const blockKey = (b: { block_id: string; content_hash: string }) => `${b.block_id}\u0000${b.content_hash}`;
  const blockHomes = new Map<string, Set<string>>();
  for (const t of source.turns) part(where.get(t.conv_id)!).turns.push(t);
  for (const m of source.membership) {
    part(where.get(m.conv_id)!).membership.push(m);
    blockHomes.set(blockKey(m), (blockHomes.get(blockKey(m)) ?? new Set<string>()).add(where.get(m.conv_id)!));
  }
  for (const b of source.blocks) for (const binding of blockHomes.get(blockKey(b)) ?? [DIRECTORY_BINDING]) part(binding).blocks.push(b);
  return parts;
}

async function importNormalized(path: string, source: NormalizedSource, sink: Sink | null, progress: Progress): Promise<LayoutResult> {
  let loaded: LoadResult | null = null;
  let convertedSnapshots: number | null = null;
  let evidence: ConversationEvidence[] = [];
  const newestSession = new Map<string, string>();
  // Turns in the backfill's order (updated_at_ms, turn_created_at_ms, turn_id): the last one per conversation is its newest.
  for (const t of [...source.turns].sort((a, b) => a.updated_at_ms - b.updated_at_ms || a.turn_created_at_ms - b.turn_created_at_ms))
    newestSession.set(t.conv_id, t.session_id);

  const sent = { turns: 0, blocks: 0, turn_block_membership: 0 };
  if (sink) {
    loaded = { turns: 0, blocks: 0, turn_block_membership: 0 };
    const parts = await partitionNormalized(sink, source);
    const total = [...parts.values()].reduce((n, p) => n + p.blocks.length + p.turns.length + p.membership.length, 0);
    progress.step(`${path} → D1: legacy rows`, total);
    let done = 0;
    for (const [binding, part] of parts) {
      for (const name of ["blocks", "turns", "membership"] as const) {
        const rows = part[name];
        sent[name === "membership" ? "turn_block_membership" : name] += rows.length;
        for (let i = 0; i < rows.length; i += LOAD_SLICE_ROWS) {
          const slice = rows.slice(i, i + LOAD_SLICE_ROWS);
          const result = await d1Step(sink.target, `loading legacy ${name} rows${sink.on(binding)}`, () =>
            loadLegacyRows(sink.databases.db(binding), { turns: [], blocks: [], membership: [], [name]: slice }),
          );
          for (const key of Object.keys(loaded) as Array<keyof LoadResult>) loaded[key] += result[key];
          progress.update((done += slice.length));
        }
      }
    }
    progress.end();
    convertedSnapshots = 0;
    const turnRows: LegacyTurnRow[] = [];
    for (const [binding, part] of parts) {
      const db = sink.databases.db(binding);
      progress.step(`backfill (drizzle/0002_backfill.sql)${sink.on(binding)}`, null, null);
      await d1Step(sink.target, `the backfill${sink.on(binding)}`, () => runBackfill(db));
      progress.end();
      progress.step(`legacy snapshots → block paths${sink.on(binding)}`, null, "snapshots");
      convertedSnapshots += await d1Step(sink.target, `the conversion to block paths${sink.on(binding)}`, () =>
        convertAllLegacySnapshots(db, (n) => progress.update(n)),
      );
      progress.end();
      // What the turns say now that the backfill has read their metadata (and what D1 already had).
      turnRows.push(
        ...(await d1Step(sink.target, `reading the imported turns back${sink.on(binding)}`, () => readTurnRows(db, part.turns))),
      );
    }
    evidence = turnEvidence(turnRows);
  }

  const convIds = [...source.turnsByConv.keys()];
  return {
    tables(before, after) {
      const rows = (table: "turns" | "blocks" | "turn_block_membership"): TableSummary => ({
        table,
        read: source.offered[table],
        written: loaded ? loaded[table] : null,
        skipped: loaded ? sent[table] - loaded[table] : null,
        rejected: source.rejected[table],
      });
      const snapshotsWritten = before && after ? grownBy(convIds, before, after, "snapshotsStored") : null;
      const snapshotsKept = source.offered.turn_snapshots - source.rejected.turn_snapshots;
      return [
        rows("turns"),
        rows("blocks"),
        rows("turn_block_membership"),
        {
          table: "turn_snapshots",
          read: source.offered.turn_snapshots,
          written: snapshotsWritten,
          skipped: snapshotsWritten === null ? null : Math.max(0, snapshotsKept - snapshotsWritten),
          rejected: source.rejected.turn_snapshots,
        },
      ];
    },
    turnsByConv: source.turnsByConv,
    snapshotsByConv: source.snapshotsByConv,
    newestSession,
    evidence,
    recount: convIds,
    convertedSnapshots,
    notImported: source.notImported,
    warnings: source.warnings,
  };
}

interface PendingSnapshot {
  snapshot: PreparedSnapshot;
  key: Record<string, string | number>;
}

const digest = (text: string) => createHash("sha256").update(text).digest("base64");

/** One chunk of prepared snapshots, closed before it would exceed any of the chunk bounds. */
export class Chunk {
  items: PendingSnapshot[] = [];
  private blocks = new Set<string>();
  private listed = 0;
  private bytes = 0;

  /** Whether `s` fits; an empty chunk takes anything (the store refuses what no request may hold). */
  fits(s: PreparedSnapshot): boolean {
    if (this.items.length === 0) return true;
    if (this.items.length >= CHUNK_SNAPSHOTS || this.listed + s.blocks.length > CHUNK_LISTED_BLOCKS) return false;
    const { blocks, bytes } = this.measure(s);
    return this.blocks.size + blocks.size <= CHUNK_NEW_BLOCK_ROWS && this.bytes + bytes <= CHUNK_CONTENT_BYTES;
  }

  add(item: PendingSnapshot): void {
    const { blocks, bytes } = this.measure(item.snapshot);
    for (const b of blocks) this.blocks.add(b);
    this.listed += item.snapshot.blocks.length;
    this.bytes += bytes;
    this.items.push(item);
  }

  /** Blocks this chunk does not have yet (an upper bound on the new block rows), and their content's size. */
  private measure(s: PreparedSnapshot) {
    const blocks = new Set<string>();
    let bytes = s.metadataJson.length + s.dataJson.length + s.extraJson.length;
    for (const b of s.blocks) {
      const key = `${b.id}\u0000${b.contentHash}`;
      if (b.ref || this.blocks.has(key) || blocks.has(key)) continue;
      blocks.add(key);
      bytes += b.payloadJson.length + b.metadataJson.length + b.extraJson.length;
    }
    return { blocks, bytes };
  }
}

async function importSnapshots(
  file: SqliteFile,
  layout: Layout,
  sink: Sink | null,
  progress: Progress,
  clock: ImportClock,
): Promise<LayoutResult> {
  const table = layout.snapshotTable;
  const notImported: Finding[] = [];
  const identities = new Map<string, string>();
  /** Snapshots per turn and turns per conversation that are (or will be) in D1 from this source. */
  const snapshotsPerTurn = new Map<string, { convId: string; snapshots: number }>();
  const newestSession = new Map<string, { atMs: number; sessionId: string }>();
  const counts = { read: 0, created: 0, unchanged: 0, repeated: 0, rejected: 0 };

  const reject = (key: Record<string, string | number>, reason: string) => {
    counts.rejected += 1;
    notImported.push({ table, key, reason });
  };
  const forget = (s: PreparedSnapshot) => {
    const turn = snapshotsPerTurn.get(turnKey({ conv_id: s.convId, session_id: s.sessionId, turn_id: s.turnId }));
    if (turn) turn.snapshots -= 1;
  };

  /** Saves a chunk, each conversation's snapshots to its database (placed now if new). */
  const save = async (items: readonly PendingSnapshot[]): Promise<void> => {
    if (sink && items.length > 0)
      await sink.forEach(
        items,
        (i) => i.snapshot.convId,
        "place",
        "saving snapshots",
        (_, group, binding) => saveTo(sink, binding, group),
      );
  };

  /** Saves snapshots to one database; a snapshot the store refuses (conflict, work bound, unknown reference) is named and the rest saved. */
  const saveTo = async (sink: Sink, binding: string, items: readonly PendingSnapshot[]): Promise<void> => {
    const result = await d1Step(sink.target, `saving snapshots${sink.on(binding)}`, async () => {
      try {
        return await saveSnapshots(
          sink.databases.db(binding),
          items.map((i) => i.snapshot),
        );
      } catch (error) {
        // A refusal of a snapshot is not a D1 failure: handled below.
        if (error instanceof StoreError && error.code !== "UNAVAILABLE") return error;
        throw error;
      }
    });
    if (!(result instanceof StoreError)) {
      for (const outcome of result.outcomes) counts[outcome === "created" ? "created" : "unchanged"] += 1;
      return;
    }
    if (items.length === 1) {
      reject(items[0]!.key, result.message);
      forget(items[0]!.snapshot);
      return;
    }
    // Nothing of the chunk was written: planned again without the refused snapshot, in halves until it stands alone.
    const half = Math.ceil(items.length / 2);
    await saveTo(sink, binding, items.slice(0, half));
    await saveTo(sink, binding, items.slice(half));
  };

  let chunk = new Chunk();
  const total = file.count(table);
  progress.step(`${file.path} → ${sink ? "D1" : "checked"}: snapshots`, total);
  for (const row of file.each(snapshotStoreQuery(layout))) {
    counts.read += 1;
    progress.update(counts.read);
    let snapshot: PreparedSnapshot;
    try {
      snapshot = await prepareSnapshotRow(snapshotRequestOf(row, layout, clock));
    } catch (error) {
      if (!(error instanceof RowProblem) && !(error instanceof TurnFormatError)) throw error;
      reject(rawKey(row, SNAPSHOT_KEY), error.message);
      continue;
    }
    const key = {
      conv_id: snapshot.convId,
      session_id: snapshot.sessionId,
      turn_id: snapshot.turnId,
      phase: snapshot.phase,
      created_at_ms: snapshot.createdAtMs,
    };
    const identity = identityKey(snapshot);
    const fingerprint = digest(fingerprintOf(snapshot));
    const seen = identities.get(identity);
    if (seen !== undefined) {
      if (seen === fingerprint) counts.repeated += 1;
      else
        reject(
          key,
          "another row is the same snapshot (conv_id, session_id, turn_id, phase, created_at_ms) with different content (the first is kept)",
        );
      continue;
    }
    identities.set(identity, fingerprint);
    const turn = turnKey(key);
    const perTurn = snapshotsPerTurn.get(turn);
    if (perTurn) perTurn.snapshots += 1;
    else snapshotsPerTurn.set(turn, { convId: snapshot.convId, snapshots: 1 });
    const newest = newestSession.get(snapshot.convId);
    if (!newest || snapshot.createdAtMs >= newest.atMs)
      newestSession.set(snapshot.convId, { atMs: snapshot.createdAtMs, sessionId: snapshot.sessionId });

    if (!chunk.fits(snapshot)) {
      await save(chunk.items);
      chunk = new Chunk();
    }
    chunk.add({ snapshot, key });
  }
  await save(chunk.items);
  progress.end();

  const turns = [...snapshotsPerTurn.values()].filter((t) => t.snapshots > 0);
  const turnsByConv = countBy(turns, (t) => t.convId);
  const snapshotsByConv = new Map<string, number>();
  for (const t of turns) snapshotsByConv.set(t.convId, (snapshotsByConv.get(t.convId) ?? 0) + t.snapshots);
  const convIds = [...turnsByConv.keys()];
  return {
    tables(before, after) {
      const turnsWritten = before && after ? grownBy(convIds, before, after, "turnsStored") : null;
      return [
        {
          table: "turn_snapshots",
          read: counts.read,
          written: sink ? counts.created : null,
          skipped: sink ? counts.unchanged + counts.repeated : null,
          rejected: counts.rejected,
        },
        {
          table: "turns",
          read: turns.length,
          written: turnsWritten,
          skipped: turnsWritten === null ? null : Math.max(0, turns.length - turnsWritten),
          rejected: 0,
        },
      ];
    },
    turnsByConv,
    snapshotsByConv,
    newestSession: new Map([...newestSession].map(([convId, n]) => [convId, n.sessionId])),
    evidence: [],
    recount: [],
    convertedSnapshots: null,
    notImported,
    warnings:
      counts.repeated > 0
        ? [{ table, key: {}, reason: `${counts.repeated} row(s) repeat an earlier snapshot exactly and were imported once` }]
        : [],
  };
}

/**
 * The timeline's evidence: its pointer at its last activity (and its creation time, which can only
 * make the conversation older), in the session it names — or, when it names none, the session of
 * the conversation's newest imported turn or D1's. A conversation nobody knows a session for cannot
 * be created; it is named instead.
 */
function timelineEvidence(
  timeline: readonly TimelineConversation[],
  known: { newestSession: ReadonlyMap<string, string>; before: ReadonlyMap<string, ConversationTotals> | null },
): { evidence: ConversationEvidence[]; notImported: Finding[] } {
  const evidence: ConversationEvidence[] = [];
  const notImported: Finding[] = [];
  for (const t of timeline) {
    const sessionId = t.session_id || known.newestSession.get(t.conv_id) || known.before?.get(t.conv_id)?.row?.sessionId || "";
    if (sessionId === "") {
      if (known.before) {
        notImported.push({
          table: TIMELINE_TABLE,
          key: { conv_id: t.conv_id },
          reason: "no session_id, and neither the imported turns nor D1 know this conversation: it cannot be created",
        });
      }
      continue;
    }
    if (t.created_at_ms > 0 && t.created_at_ms < t.last_activity_ms)
      evidence.push({ convId: t.conv_id, sessionId, runtimeKey: "", atMs: t.created_at_ms });
    evidence.push({ convId: t.conv_id, sessionId, runtimeKey: t.runtime_key, atMs: t.last_activity_ms });
  }
  return { evidence, notImported };
}

export async function runImport(options: ImportOptions): Promise<ImportSummary> {
  const progress = options.progress ?? createProgress({ enabled: false });
  // One clock for the whole run: rows are checked against it as the Worker checks requests (CONTRACT §6.3).
  const clock = importClock();
  // Inputs first, whole: a file the tool cannot use is refused before D1 is touched.
  const timeline = options.timeline ? await readTimeline(options.timeline, clock) : null;
  const file = await openSqliteFile(options.turns, "turns database");
  let open: OpenDatabases | null = null;
  try {
    const layout = detectLayout(file.tables, options.turns);
    const otherTables = [...otherTablesOf(file, layout.tables, "not part of the legacy turn layout"), ...(timeline?.otherTables ?? [])];
    const snapshotLayout = layout.id === "C" || layout.id === "G";
    // A/B are read whole and checked before anything is written; C/G are read row by row while
    // writing, so only the conversations they name are read first (to tell created from updated).
    const normalized = snapshotLayout ? null : readNormalizedRows(file, layout, clock);
    const sourceConvIds = normalized
      ? [...normalized.turnsByConv.keys()]
      : file.rows(snapshotStoreConversationsQuery(layout)).flatMap((r) => {
          try {
            return [keyText(r, "conv_id")];
          } catch {
            return [];
          }
        });
    const timelineIds = timeline?.conversations.map((t) => t.conv_id) ?? [];

    let sink: Sink | null = null;
    let before: Map<string, ConversationTotals> | null = null;
    if (!options.dryRun) {
      progress.step(`migrations (${describeTarget(options.target)})`, null, null);
      open = await openMigrated(options.target);
      progress.end();
      sink = new ConversationDatabases(open, options.target, clock.nowMs);
      const ids = [...new Set([...sourceConvIds, ...timelineIds])];
      await sink.refuseMoving(ids);
      before = await totalsWhereTheyLive(sink, ids, "reading the conversations");
    }

    const result = normalized
      ? await importNormalized(options.turns, normalized, sink, progress)
      : await importSnapshots(file, layout, sink, progress, clock);

    const tl = timelineEvidence(timeline?.conversations ?? [], { newestSession: result.newestSession, before });
    const convIds = [...new Set([...result.turnsByConv.keys(), ...timelineIds])].sort();
    let after: Map<string, ConversationTotals> | null = null;
    let databases: Record<string, number> | undefined;
    if (sink) {
      progress.step("conversation pointers and counts", null, null);
      // The turns' evidence first, the timeline's last: on equal times the timeline (the pointer record) wins.
      const evidence = [...result.evidence, ...tl.evidence];
      await sink.forEach(evidence, (e) => e.convId, "place", "merging conversation pointers", applyConversationEvidence);
      const recount = result.recount.length > 0 ? [...new Set([...result.recount, ...timelineIds])] : [];
      await sink.forEach(recount, (id) => id, "locate", "counting turns and snapshots", recountConversations);
      progress.end();
      after = await totalsWhereTheyLive(sink, convIds, "reading the conversations back");
      if (!sink.databases.single) {
        const located = await sink.placements.locate(convIds.filter((id) => after!.get(id)?.row));
        databases = Object.fromEntries(open!.bindings.map((b) => [b, [...located.values()].filter((l) => l === b).length]));
      }
    }
    return summarizeImport({
      turnsPath: options.turns,
      timelinePath: options.timeline ?? null,
      layout,
      timelineRows: timeline?.read ?? 0,
      otherTables,
      target: sink ? describeTarget(sink.target) : null,
      tables: result.tables(before, after),
      convertedSnapshots: result.convertedSnapshots,
      convIds,
      expected: { turns: result.turnsByConv, snapshots: result.snapshotsByConv },
      timelineRejected: timeline?.notImported.length ?? 0,
      before,
      after,
      notImported: [...result.notImported, ...(timeline?.notImported ?? []), ...tl.notImported],
      warnings: result.warnings,
      databases,
    });
  } finally {
    file.close();
    await open?.close();
  }
}
