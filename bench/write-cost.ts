/**
 * Rows and statements per write (issue 7 §2, issue 17), and where a write's time goes.
 *
 * A geppetto-style conversation (T turns × pre_inference / post_tools / final, every snapshot
 * carrying the whole history) goes through the write path of POST /api/turns (write-path.ts) twice,
 * as two conversations of the same content: posted in full, and posted as the frontend client
 * posts it (deltas: a prefix and the new blocks). A recording binding keeps D1's meta of every
 * statement (named by its SQL: SNAPSHOT_WRITE_STATEMENTS of src/store/snapshot-writes.ts), and the
 * tables are counted after each write, so D1's rows_written (which counts index entries too) can be
 * set against the table rows that really appeared.
 *
 * New snapshots whose blocks are all in the request — every write here, full or delta — are written
 * in one D1 batch (writeAtOnce), one round trip. The stage profile times one conversation of the
 * throughput stream stage by stage in this process (the same code the Worker runs: JSON.parse, the
 * route's zod request schema, readSnapshot, block hashes, path chains) and its one D1 batch, next to
 * the baseline route's single insert; then it posts each snapshot again (a client's retry) to
 * measure the fallback: the one batch refused on the snapshot's unique key, then the read batch of
 * the read-then-write path, which answers "unchanged" — two round trips.
 */
import { insertBaselineRow } from "./baseline-insert";
import { saveSnapshots, SNAPSHOT_WRITE_STATEMENTS } from "../src/store/writes";
import { contentHash } from "../src/turn/block-hash";
import { EMPTY_CHAIN, pathNodes } from "../src/turn/block-path";
import { requestCost } from "../src/turn/limits";
import { hashBlocks, readSnapshot, type SnapshotRequest } from "../src/turn/snapshot";
import {
  clientBody,
  isToolTurn,
  postedConversation,
  STREAM_SNAPSHOTS_PER_CONVERSATION,
  streamSnapshot,
  type GeppettoSnapshot,
} from "./conversation";
import { recordingD1, type D1Recorder, type StatementCost } from "./counting-d1";
import { median, slope, sum } from "./stats";
import { BENCH_PREPARE, openLocalD1, postThroughStore } from "./write-path";

const TABLES = ["turn_snapshots", "blocks", "block_nodes", "turns", "conversations"] as const;
type TableCounts = Record<(typeof TABLES)[number], number>;

export type PostKind = "full" | "delta";
export type StatementName = keyof typeof SNAPSHOT_WRITE_STATEMENTS;

const NAMES = new Map(Object.entries(SNAPSHOT_WRITE_STATEMENTS).map(([name, sql]) => [sql.trim(), name as StatementName]));

/** The store's name for a statement (by its exact SQL), or null for SQL it does not send. */
export function statementName(sql: string): StatementName | null {
  return NAMES.get(sql.trim()) ?? null;
}

/** What each statement of a snapshot write does, and the table it writes (null: reads only). */
export const STATEMENT_ROLES: Record<StatementName, { does: string; table: string | null }> = {
  FIND_NODES: { does: "read: the request's path nodes the conversation has", table: null },
  SELECT_EXISTING: { does: "read: identities already stored (replay 200 / conflict 409)", table: null },
  FIND_DELETIONS: { does: "read: is the conversation being deleted", table: null },
  FIND_CONVERSATION_BLOCKS: { does: "read: referenced blocks the conversation has, and their weights", table: null },
  WALK_PATH_WEIGHTS: { does: "read: the weight of a stored path that has none recorded", table: null },
  INSERT_SNAPSHOTS: {
    does: "the snapshot row; its triggers roll the turn up; its guard fails the batch (deletion, a prefix or stored node gone, a deleted conversation's old token)",
    table: "turn_snapshots",
  },
  UPSERT_BLOCKS: { does: "block contents on new nodes (planned)", table: "blocks" },
  COUNT_REFERENCES: { does: "one more reference to referenced blocks", table: "blocks" },
  GUARD_REFERENCES: { does: "fails the batch when a referenced block is gone", table: "write_guards" },
  INSERT_NODES: { does: "the new path nodes (planned)", table: "block_nodes" },
  UPSERT_BLOCKS_ON_NEW_NODES: { does: "block contents on nodes the conversation lacks (decided in the statement)", table: "blocks" },
  INSERT_NEW_NODES: { does: "path nodes, ON CONFLICT DO NOTHING", table: "block_nodes" },
  UPSERT_CONVERSATION_EVENTS: { does: "the conversation pointer", table: "conversations" },
};

export interface NamedStatementCost extends StatementCost {
  name: StatementName | null;
}

export interface WriteSample {
  index: number;
  turn: number;
  phase: GeppettoSnapshot["phase"];
  blocks: number;
  /** Rows that appeared in blocks (content stored for the first time). */
  newBlocks: number;
  /** Path nodes the write added. */
  nodesAdded: number;
  repeatedBlocks: number;
  statements: number;
  roundTrips: number;
  rowsWritten: number;
  rowsRead: number;
  /** Table rows inserted or updated (SQLite changes(), no index entries). */
  tableRowsChanged: number;
  requestBytes: number;
}

export interface StageProfile {
  snapshots: number;
  /** Blocks per snapshot (median) and new blocks per snapshot. */
  blocks: number;
  newBlocks: number;
  parseMs: number;
  /** The route's zod request schema (SnapshotRequestSchema), as @hono/zod-openapi runs it. */
  validateMs: number;
  /** readSnapshot + the request's work bounds: turn reader, normalization, canonical JSON, attribution, row sizes. */
  readMs: number;
  /** SHA-256 of every block (crypto.subtle, with the per-isolate memory of recent blocks). */
  hashMs: number;
  /** Path chains of every block (Web Crypto, with its per-isolate memory). */
  chainsMs: number;
  /** The write's one D1 round trip (checked: exactly one): wall time from this process (proxy hop included, median), and D1's own time (meta.duration summed over its statements, mean). */
  d1WriteMs: number;
  d1WriteSqlMs: number;
  writeStatements: number;
  /** The statements of the one batch, in order (every snapshot of the profile sends the same list). */
  writeStatementNames: Array<StatementName | null>;
  /**
   * The fallback, measured on a replay of each snapshot (a client's retry of a stored snapshot): the
   * one batch, refused as a whole on the snapshot's unique key (no meta: wall time only), then the
   * read batch of the read-then-write path, which answers "unchanged" and writes nothing.
   */
  replay: {
    roundTrips: number;
    refusedMs: number;
    refusedStatements: number;
    readMs: number;
    readSqlMs: number;
    readStatements: number;
    readStatementNames: Array<StatementName | null>;
  };
  /** The baseline route's one insert: its round trip's wall time from this process, and meta.duration. */
  baselineMs: number;
  baselineSqlMs: number;
}

export interface WriteCostResult {
  turns: number;
  snapshots: number;
  samples: Record<PostKind, WriteSample[]>;
  /** Snapshots whose rows_written differ between the full and the delta post (should be none). */
  rowsWrittenMismatches: number;
  /** Medians over all snapshots, full posts (the headline) and delta posts (a prefix adds the prefix guard). */
  statementsPerWrite: number;
  roundTripsPerWrite: number;
  statementsPerDeltaWrite: number;
  roundTripsPerDeltaWrite: number;
  /** Writes (full and delta) that took more than one round trip: none unless the one batch was refused. */
  writesOverOneRoundTrip: number;
  /** Index B-trees per table of the migrated schema (sqlite_master: declared indexes and the automatic ones of UNIQUE / PRIMARY KEY constraints). */
  indexesByTable: Record<string, number>;
  /** The issue-17 figure: a later-phase (final) snapshot with 1 new block — medians. */
  laterPhase: { newBlocks: number; rowsWritten: number; tableRowsChanged: number; extraRowsWritten: number; extraTableRows: number };
  /** Per-statement meta of one turn's three snapshots (full posts), in the middle of the conversation, then the delta post of its final snapshot. */
  breakdown: { label: string; kind: PostKind; index: number; phase: string; statements: NamedStatementCost[] }[];
  /** rows_written and rows_read per extra repeated block (least squares over all snapshots). */
  rowsWrittenSlopePerRepeatedBlock: number;
  rowsReadSlopePerRepeatedBlock: Record<PostKind, number>;
  firstTenRowsRead: Record<PostKind, number>;
  lastTenRowsRead: Record<PostKind, number>;
  streamProfile: StageProfile;
  ourTotalRows: TableCounts & { total: number };
  goLayoutRows: { membership: number; blocks: number; turns: number; total: number };
  secondsElapsed: number;
}

/** One statement (each proxied call costs a round trip to workerd). */
const COUNT_TABLES = `SELECT ${TABLES.map((t) => `(SELECT count(*) FROM ${t}) AS ${t}`).join(", ")}`;

async function countTables(db: D1Database): Promise<TableCounts> {
  return (await db.prepare(COUNT_TABLES).first<TableCounts>())!;
}

async function indexesByTable(db: D1Database): Promise<Record<string, number>> {
  const { results } = await db
    .prepare(`SELECT tbl_name AS name, count(*) AS indexes FROM sqlite_master WHERE type = 'index' GROUP BY tbl_name`)
    .all<{ name: string; indexes: number }>();
  return Object.fromEntries(results.map((r) => [r.name, r.indexes]));
}

const named = (statements: readonly StatementCost[]): NamedStatementCost[] =>
  statements.map((st) => ({ ...st, name: statementName(st.sql) }));

type Breakdown = WriteCostResult["breakdown"];

/** The first turn from the middle on that calls a tool: its post_tools snapshot adds the call and the result. */
function middleTurn(turns: number): number {
  let turn = Math.floor(turns / 2);
  while (turn < turns - 1 && !isToolTurn(turn)) turn += 1;
  return turn;
}

/** Posts the conversation; keeps the statements of the snapshots `keep` selects in `breakdown`. */
async function postConversation(
  db: D1Database,
  recorder: D1Recorder,
  convId: string,
  turns: number,
  kind: PostKind,
  breakdown: Breakdown,
  keep: (index: number, phase: string) => boolean,
): Promise<WriteSample[]> {
  const samples: WriteSample[] = [];
  const history: string[] = [];
  let before = await countTables(db);
  for await (const s of postedConversation({ convId, turns })) {
    history.push(...s.newBlocks);
    const body = kind === "delta" ? s.body : clientBody(s, history, null);
    recorder.reset();
    const result = await postThroughStore(recorder.db, body);
    const after = await countTables(db);
    samples.push({
      index: s.index,
      turn: Math.floor(s.index / 3),
      phase: s.phase,
      blocks: s.blockCount,
      newBlocks: after.blocks - before.blocks,
      nodesAdded: result.nodesAdded,
      repeatedBlocks: s.blockCount - s.newBlocks.length,
      statements: recorder.statements.length,
      roundTrips: recorder.roundTrips,
      rowsWritten: sum(recorder.statements.map((st) => st.rowsWritten)),
      rowsRead: sum(recorder.statements.map((st) => st.rowsRead)),
      tableRowsChanged: sum(recorder.statements.map((st) => st.changes)),
      requestBytes: Buffer.byteLength(body),
    });
    if (keep(s.index, s.phase)) {
      const label =
        s.phase === "pre_inference"
          ? "first phase of a turn: the user's message (turn row inserted)"
          : s.phase === "post_tools"
            ? "after tools: the call and its result"
            : "final: the answer (turn row updated)";
      breakdown.push({
        label: kind === "delta" ? `${label}, posted as a delta (prefix + new block)` : label,
        kind,
        index: s.index,
        phase: s.phase,
        statements: named(recorder.statements),
      });
    }
    before = after;
  }
  return samples;
}

export async function measureWriteCost(persistTo: string, turns: number): Promise<WriteCostResult> {
  const started = Date.now();
  const local = await openLocalD1(persistTo);
  try {
    const recorder = recordingD1(local.db);
    const indexes = await indexesByTable(local.db);
    const middle = 3 * middleTurn(turns);
    const breakdown: Breakdown = [];
    const full = await postConversation(local.db, recorder, "cost-full", turns, "full", breakdown, (i) => i >= middle && i < middle + 3);
    const ourTotal = await countTables(local.db);
    const delta = await postConversation(local.db, recorder, "cost-delta", turns, "delta", breakdown, (i) => i === middle + 2);
    const streamProfile = await profileStream(local.db);

    const later = full.filter((s) => s.phase === "final" && s.turn > 0);
    const head = (list: WriteSample[]) => median(list.slice(0, 10).map((s) => s.rowsRead));
    const tail = (list: WriteSample[]) => median(list.slice(-10).map((s) => s.rowsRead));
    const membership = sum(full.map((s) => s.blocks));
    const distinctBlocks = full[full.length - 1]!.blocks;
    return {
      turns,
      snapshots: full.length,
      samples: { full, delta },
      rowsWrittenMismatches: full.filter((s, i) => delta[i]!.rowsWritten !== s.rowsWritten).length,
      statementsPerWrite: median(full.map((s) => s.statements)),
      roundTripsPerWrite: median(full.map((s) => s.roundTrips)),
      statementsPerDeltaWrite: median(delta.map((s) => s.statements)),
      roundTripsPerDeltaWrite: median(delta.map((s) => s.roundTrips)),
      writesOverOneRoundTrip: [...full, ...delta].filter((s) => s.roundTrips !== 1).length,
      indexesByTable: indexes,
      laterPhase: {
        newBlocks: median(later.map((s) => s.newBlocks)),
        rowsWritten: median(later.map((s) => s.rowsWritten)),
        tableRowsChanged: median(later.map((s) => s.tableRowsChanged)),
        extraRowsWritten: median(later.map((s) => s.rowsWritten - s.newBlocks)),
        extraTableRows: median(later.map((s) => s.tableRowsChanged - s.newBlocks)),
      },
      breakdown,
      rowsWrittenSlopePerRepeatedBlock: slope(
        full.map((s) => s.repeatedBlocks),
        full.map((s) => s.rowsWritten),
      ),
      rowsReadSlopePerRepeatedBlock: {
        full: slope(
          full.map((s) => s.repeatedBlocks),
          full.map((s) => s.rowsRead),
        ),
        delta: slope(
          delta.map((s) => s.repeatedBlocks),
          delta.map((s) => s.rowsRead),
        ),
      },
      firstTenRowsRead: { full: head(full), delta: head(delta) },
      lastTenRowsRead: { full: tail(full), delta: tail(delta) },
      streamProfile,
      ourTotalRows: { ...ourTotal, total: sum(TABLES.map((t) => ourTotal[t])) },
      goLayoutRows: { membership, blocks: distinctBlocks, turns, total: membership + distinctBlocks + turns },
      secondsElapsed: (Date.now() - started) / 1000,
    };
  } finally {
    await local.dispose();
  }
}

interface RequestSchema {
  safeParse(value: unknown): { success: boolean };
}

/** The route's request schema, loaded at run time (its module's types need the Worker's Env, which the Node typecheck lacks). */
async function requestSchema(): Promise<RequestSchema> {
  const path = "../src/routes/ingest/ingest.routes";
  return ((await import(path)) as { SnapshotRequestSchema: RequestSchema }).SnapshotRequestSchema;
}

/** The same list of statement names for every snapshot, or an error naming the first that differs. */
function sameNames(lists: Array<Array<StatementName | null>>, what: string): Array<StatementName | null> {
  const first = lists[0] ?? [];
  const other = lists.findIndex((l) => l.join() !== first.join());
  if (other >= 0)
    throw new Error(`profile: ${what} of snapshot ${other} (${lists[other]!.join(", ")}) differ from snapshot 0's (${first.join(", ")})`);
  return first;
}

/**
 * One conversation of the throughput stream (21 snapshots, 10 → 50 blocks, 2 new each), timed stage
 * by stage; medians. The per-isolate memories of block hashes and chains are module state here as
 * in the Worker, so repeated blocks hit them as they do there.
 */
async function profileStream(db: D1Database): Promise<StageProfile> {
  const schema = await requestSchema();
  const recorder = recordingD1(db);
  const stages = {
    parse: [] as number[],
    validate: [] as number[],
    read: [] as number[],
    hash: [] as number[],
    chains: [] as number[],
    d1Write: [] as number[],
    d1WriteSql: [] as number[],
    writeStatements: [] as number[],
    writeNames: [] as Array<Array<StatementName | null>>,
    replayRefused: [] as number[],
    replayRefusedStatements: [] as number[],
    replayRead: [] as number[],
    replayReadSql: [] as number[],
    replayReadStatements: [] as number[],
    replayReadNames: [] as Array<Array<StatementName | null>>,
    baseline: [] as number[],
    baselineSql: [] as number[],
    blocks: [] as number[],
    newBlocks: [] as number[],
  };
  const time = async <T>(into: number[], fn: () => T | Promise<T>): Promise<T> => {
    const t = performance.now();
    const value = await fn();
    into.push(performance.now() - t);
    return value;
  };
  const inTrip = (n: number) => recorder.statements.filter((st) => st.roundTrip === n);
  // Read through a call: reset() changes it behind TypeScript's narrowing.
  const roundTrips = () => recorder.roundTrips;
  const run = `profile-${Date.now().toString(36)}`;
  for (let k = 0; k < STREAM_SNAPSHOTS_PER_CONVERSATION; k++) {
    const body = streamSnapshot(run, 0, k);
    const request = await time(stages.parse, () => JSON.parse(body) as SnapshotRequest);
    await time(stages.validate, () => {
      if (!schema.safeParse(request).success) throw new Error("the stream's body failed the request schema");
    });
    const read = await time(stages.read, () => {
      const snapshot = readSnapshot(request, { nowMs: Date.now(), ...BENCH_PREPARE, prefix: "" });
      requestCost([snapshot]);
      return snapshot;
    });
    // hashBlocks in its two halves, timed apart (then hashBlocks itself, from the warm memories, for the write).
    const hashes = await time(stages.hash, () =>
      Promise.all(
        read.blocks.map((b) =>
          b.ref ? b.contentHash : contentHash({ kind: b.kind, role: b.role, payloadJson: b.payloadJson, metadataJson: b.metadataJson }),
        ),
      ),
    );
    await time(stages.chains, () =>
      pathNodes(
        read.blocks.map((b, i) => ({ blockId: b.id, contentHash: hashes[i]!, extraJson: b.extraJson })),
        EMPTY_CHAIN,
        0,
      ),
    );
    const snapshot = await hashBlocks(read);

    // The write: one batch, one round trip.
    recorder.reset();
    const saved = await saveSnapshots(recorder.db, [snapshot]);
    if (saved.outcomes[0] !== "created" || roundTrips() !== 1)
      throw new Error(`profile snapshot ${k}: ${saved.outcomes[0]} in ${roundTrips()} round trips (expected created in 1)`);
    stages.d1Write.push(recorder.roundTripMs[0]!);
    stages.d1WriteSql.push(sum(recorder.statements.map((st) => st.durationMs)));
    stages.writeStatements.push(recorder.statements.length);
    stages.writeNames.push(recorder.statements.map((st) => statementName(st.sql)));
    stages.blocks.push(snapshot.blocks.length);
    stages.newBlocks.push(saved.nodesAdded);

    // The same snapshot again (a client's retry): the one batch is refused, the read batch answers "unchanged".
    recorder.reset();
    const replayed = await saveSnapshots(recorder.db, [snapshot]);
    if (
      replayed.outcomes[0] !== "unchanged" ||
      roundTrips() !== 2 ||
      !inTrip(0).every((st) => st.failed) ||
      inTrip(1).some((st) => st.failed)
    ) {
      throw new Error(
        `profile replay ${k}: ${replayed.outcomes[0]} in ${roundTrips()} round trips (expected unchanged in 2: the refused batch, then the read)`,
      );
    }
    stages.replayRefused.push(recorder.roundTripMs[0]!);
    stages.replayRefusedStatements.push(inTrip(0).length);
    stages.replayRead.push(recorder.roundTripMs[1]!);
    stages.replayReadSql.push(sum(inTrip(1).map((st) => st.durationMs)));
    stages.replayReadStatements.push(inTrip(1).length);
    stages.replayReadNames.push(inTrip(1).map((st) => statementName(st.sql)));

    // The baseline route's write, through the same binding.
    recorder.reset();
    await insertBaselineRow(recorder.db, `${run}-baseline-${k}`, Date.now());
    stages.baseline.push(recorder.roundTripMs[0]!);
    stages.baselineSql.push(sum(recorder.statements.map((st) => st.durationMs)));
  }
  // meta.duration comes in whole milliseconds locally: means resolve fractions.
  const mean = (values: number[]) => sum(values) / values.length;
  return {
    snapshots: STREAM_SNAPSHOTS_PER_CONVERSATION,
    blocks: median(stages.blocks),
    newBlocks: median(stages.newBlocks),
    parseMs: median(stages.parse),
    validateMs: median(stages.validate),
    readMs: median(stages.read),
    hashMs: median(stages.hash),
    chainsMs: median(stages.chains),
    d1WriteMs: median(stages.d1Write),
    d1WriteSqlMs: mean(stages.d1WriteSql),
    writeStatements: median(stages.writeStatements),
    writeStatementNames: sameNames(stages.writeNames, "the write's statements"),
    replay: {
      roundTrips: 2,
      refusedMs: median(stages.replayRefused),
      refusedStatements: median(stages.replayRefusedStatements),
      readMs: median(stages.replayRead),
      readSqlMs: mean(stages.replayReadSql),
      readStatements: median(stages.replayReadStatements),
      readStatementNames: sameNames(stages.replayReadNames, "the replay's read statements"),
    },
    baselineMs: median(stages.baseline),
    baselineSqlMs: mean(stages.baselineSql),
  };
}
