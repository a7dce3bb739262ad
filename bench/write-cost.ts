/**
 * Rows and statements per write (issue 7 §2, issue 17), and where a write's time goes.
 *
 * A geppetto-style conversation (T turns × pre_inference / post_tools / final, every snapshot
 * carrying the whole history) goes through the write path of POST /api/turns (write-path.ts) twice,
 * as two conversations of the same content: posted in full, and posted as the frontend client
 * posts it (deltas: a prefix and the new blocks). A recording binding keeps D1's meta of every
 * statement (named by its SQL: SNAPSHOT_WRITE_STATEMENTS), and the tables are counted after each
 * write, so D1's rows_written (which counts index entries too) can be set against the table rows
 * that really appeared.
 *
 * The stage profile times one conversation of the throughput stream stage by stage in this process
 * (the Worker's own code: JSON.parse, the route's zod request schema, readSnapshot, block hashes,
 * path chains) and its one D1 batch, next to the baseline route's single insert; then it posts each
 * snapshot again (a client's retry) to measure the fallback: the one batch refused on the
 * snapshot's unique key, then the read batch of the read-then-write path — two round trips.
 */
import { saveSnapshots, SNAPSHOT_WRITE_STATEMENTS } from "../src/store/writes";
import { contentHash } from "../src/turn/block-hash";
import { EMPTY_CHAIN, pathNodes } from "../src/turn/block-path";
import { assertYamlBudget, requestCost } from "../src/turn/limits";
import { hashBlocks, readSnapshot, type SnapshotRequest } from "../src/turn/snapshot";
import { openDatabase } from "../tools/d1";
import { insertBaselineRow } from "./baseline-insert";
import {
  clientBody,
  GEPPETTO_PHASES,
  isToolTurn,
  postedConversation,
  STREAM_SNAPSHOTS_PER_CONVERSATION,
  streamSnapshot,
} from "./conversation";
import { recordingD1, type D1Recorder, type StatementCost } from "./counting-d1";
import { median, slope, sum } from "./stats";
import { TARGETS } from "./targets";

const TABLES = ["turn_snapshots", "blocks", "block_nodes", "turns", "conversations"] as const;
type TableCounts = Record<(typeof TABLES)[number], number>;
type StatementName = keyof typeof SNAPSHOT_WRITE_STATEMENTS;

const NAMES = new Map(Object.entries(SNAPSHOT_WRITE_STATEMENTS).map(([name, sql]) => [sql.trim(), name as StatementName]));
/** The store's name for a statement (by its exact SQL), or null for SQL it does not send. */
const statementName = (sql: string) => NAMES.get(sql.trim()) ?? null;

/** What each statement of a snapshot write does, and the table it writes (null: reads only). */
const STATEMENT_ROLES: Record<StatementName, { does: string; table: string | null }> = {
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

const PHASE_LABELS = {
  pre_inference: ["`pre_inference` (user message; turn row inserted)", "first phase of a turn: the user's message (turn row inserted)"],
  post_tools: ["`post_tools` (tool call + result, or nothing new)", "after tools: the call and its result"],
  final: ["`final` (the answer; turn row updated)", "final: the answer (turn row updated)"],
} as const;

interface WriteSample {
  index: number;
  turn: number;
  phase: (typeof GEPPETTO_PHASES)[number];
  blocks: number;
  /** Rows that appeared in blocks (content stored for the first time). */
  newBlocks: number;
  repeatedBlocks: number;
  statements: number;
  roundTrips: number;
  rowsWritten: number;
  rowsRead: number;
  /** Table rows inserted or updated (SQLite changes(), no index entries). */
  tableRowsChanged: number;
  requestBytes: number;
}

/** Historical event times are fine; only times ahead of the clock are bounded. */
const BENCH_PREPARE = { maxClockSkewMs: Number.POSITIVE_INFINITY } as const;

/**
 * One POST /api/turns body through what the route runs after its middleware and request schema, as
 * prepareRequest in src/routes/ingest/ingest.handlers.ts does: readSnapshot, the request's work
 * bounds, hashBlocks, then saveSnapshots; throws unless the snapshot was created.
 */
async function postThroughStore(db: D1Database, body: string): Promise<void> {
  const request = JSON.parse(body) as SnapshotRequest;
  assertYamlBudget([request.payload]);
  const read = readSnapshot(request, { nowMs: Date.now(), ...BENCH_PREPARE, prefix: "" });
  requestCost([read]);
  const result = await saveSnapshots(db, [await hashBlocks(read)]);
  if (result.outcomes[0] !== "created") throw new Error(`snapshot ${read.turnId}/${read.phase} was not created (${result.outcomes[0]})`);
}

/** One statement (each proxied call costs a round trip to workerd). */
const COUNT_TABLES = `SELECT ${TABLES.map((t) => `(SELECT count(*) FROM ${t}) AS ${t}`).join(", ")}`;
const countTables = async (db: D1Database) => (await db.prepare(COUNT_TABLES).first<TableCounts>())!;

/** Posts the conversation; hands the statements of each snapshot to `keep`. */
async function postConversation(
  db: D1Database,
  recorder: D1Recorder,
  convId: string,
  turns: number,
  delta: boolean,
  keep: (sample: WriteSample, statements: StatementCost[]) => void,
): Promise<WriteSample[]> {
  const samples: WriteSample[] = [];
  const history: string[] = [];
  let before = await countTables(db);
  for await (const s of postedConversation({ convId, turns })) {
    history.push(...s.newBlocks);
    const body = delta ? s.body : clientBody(s, history, null);
    recorder.reset();
    await postThroughStore(recorder.db, body);
    const after = await countTables(db);
    const total = (f: (st: StatementCost) => number) => sum(recorder.statements.map(f));
    const sample = {
      index: s.index,
      turn: Math.floor(s.index / 3),
      phase: s.phase,
      blocks: s.blockCount,
      newBlocks: after.blocks - before.blocks,
      repeatedBlocks: s.blockCount - s.newBlocks.length,
      statements: recorder.statements.length,
      roundTrips: recorder.roundTrips,
      rowsWritten: total((st) => st.rowsWritten),
      rowsRead: total((st) => st.rowsRead),
      tableRowsChanged: total((st) => st.changes),
      requestBytes: Buffer.byteLength(body),
    };
    samples.push(sample);
    keep(sample, recorder.statements);
    before = after;
  }
  return samples;
}

export async function measureWriteCost(persistTo: string, turns: number) {
  const local = await openDatabase({ remote: false, persistTo });
  try {
    const recorder = recordingD1(local.db);
    const { results } = await local.db
      .prepare(`SELECT tbl_name AS name, count(*) AS indexes FROM sqlite_master WHERE type = 'index' GROUP BY tbl_name`)
      .all<{ name: string; indexes: number }>();
    const indexesOf: Record<string, number> = Object.fromEntries(results.map((r) => [r.name, r.indexes]));
    // The first turn from the middle on that calls a tool: its post_tools snapshot adds the call and the result.
    let middle = Math.floor(turns / 2);
    while (middle < turns - 1 && !isToolTurn(middle)) middle += 1;
    const breakdown: Array<{ sample: WriteSample; delta: boolean; statements: StatementCost[] }> = [];
    const full = await postConversation(local.db, recorder, "cost-full", turns, false, (sample, statements) => {
      if (sample.turn === middle) breakdown.push({ sample, delta: false, statements });
    });
    const ourRows = await countTables(local.db);
    const delta = await postConversation(local.db, recorder, "cost-delta", turns, true, (sample, statements) => {
      if (sample.turn === middle && sample.phase === "final") breakdown.push({ sample, delta: true, statements });
    });
    const profile = await profileStream(local.db);
    return { writes: writeFigures(turns, full, delta, breakdown, indexesOf, ourRows), profile };
  } finally {
    await local.close();
  }
}

function writeFigures(
  turns: number,
  full: WriteSample[],
  delta: WriteSample[],
  breakdown: Array<{ sample: WriteSample; delta: boolean; statements: StatementCost[] }>,
  indexesOf: Record<string, number>,
  ourRows: TableCounts,
) {
  const med = (list: WriteSample[], f: (s: WriteSample) => number) => median(list.map(f));
  const later = full.filter((s) => s.phase === "final" && s.turn > 0);
  const laterPhase = {
    newBlocks: med(later, (s) => s.newBlocks),
    rowsWritten: med(later, (s) => s.rowsWritten),
    tableRowsChanged: med(later, (s) => s.tableRowsChanged),
    extraRowsWritten: med(later, (s) => s.rowsWritten - s.newBlocks),
    extraTableRows: med(later, (s) => s.tableRowsChanged - s.newBlocks),
  };
  const named = breakdown.map((b) => ({
    ...b,
    statements: b.statements.map((st) => ({ ...st, name: statementName(st.sql) })),
  }));
  // rows_written of the statements named, in the final snapshot's breakdown (full post).
  const final = named.find((b) => !b.delta && b.sample.phase === "final");
  const entries = (...wanted: StatementName[]) =>
    final ? sum(final.statements.filter((st) => st.name && wanted.includes(st.name)).map((st) => st.rowsWritten)) : Number.NaN;
  const parts: Array<[string, number]> = [
    ["the snapshot row, its index entries and the turn roll-up of its trigger", entries("INSERT_SNAPSHOTS")],
    ["the new block", entries("UPSERT_BLOCKS_ON_NEW_NODES", "UPSERT_BLOCKS", "COUNT_REFERENCES")],
    ["its path node", entries("INSERT_NEW_NODES", "INSERT_NODES")],
    ["the conversation pointer", entries("UPSERT_CONVERSATION_EVENTS")],
  ];
  const top = parts.reduce((a, b) => (b[1] > a[1] ? b : a));
  const finalDelta = named.find((b) => b.delta);
  const readsOf = (list: WriteSample[]) => ({
    slope: slope(
      list.map((s) => s.repeatedBlocks),
      list.map((s) => s.rowsRead),
    ),
    firstTen: med(list.slice(0, 10), (s) => s.rowsRead),
    lastTen: med(list.slice(-10), (s) => s.rowsRead),
  });
  const membership = sum(full.map((s) => s.blocks));
  const distinctBlocks = full.at(-1)!.blocks;
  const goTotal = membership + distinctBlocks + turns;
  const ourTotal = sum(TABLES.map((t) => ourRows[t]));
  const statementsPerWrite = med(full, (s) => s.statements);
  const roundTripsPerWrite = med(full, (s) => s.roundTrips);
  const roundTripsPerDeltaWrite = med(delta, (s) => s.roundTrips);
  return {
    turns,
    snapshots: full.length,
    postedWrites: full.length + delta.length,
    lastTurn: turns - 1,
    lastRepeatedBlocks: full.at(-1)!.repeatedBlocks,
    rowsWrittenMismatches: full.filter((s, i) => delta[i]!.rowsWritten !== s.rowsWritten).length,
    statementsPerWrite,
    roundTripsPerWrite,
    statementsPerDeltaWrite: med(delta, (s) => s.statements),
    roundTripsPerDeltaWrite,
    oneRoundTrip: roundTripsPerWrite === 1 && roundTripsPerDeltaWrite === 1,
    writesOverOneRoundTrip: [...full, ...delta].filter((s) => s.roundTrips !== 1).length,
    byPhase: GEPPETTO_PHASES.map((phase) => {
      const list = full.filter((s) => s.phase === phase && s.turn > 0);
      const deltas = delta.filter((s) => s.phase === phase && s.turn > 0);
      const posts = (from: WriteSample[]) => ({
        statements: med(from, (s) => s.statements),
        roundTrips: med(from, (s) => s.roundTrips),
        requestBytes: med(from, (s) => s.requestBytes),
      });
      return {
        label: PHASE_LABELS[phase][0],
        newBlocks: med(list, (s) => s.newBlocks),
        tableRowsChanged: med(list, (s) => s.tableRowsChanged),
        rowsWritten: med(list, (s) => s.rowsWritten),
        extraRowsWritten: med(list, (s) => s.rowsWritten - s.newBlocks),
        full: posts(list),
        delta: posts(deltas),
      };
    }),
    indexes: Object.entries(indexesOf)
      .filter(([t]) => !/^(_cf|d1_|sqlite_)/.test(t))
      .map(([table, count]) => ({ table, count })),
    indexesOf,
    breakdown: named.map((b) => ({
      snapshot: b.sample.index + 1,
      turn: b.sample.turn,
      label: b.delta ? `${PHASE_LABELS[b.sample.phase][1]}, posted as a delta (prefix + new block)` : PHASE_LABELS[b.sample.phase][1],
      roundTrips: new Set(b.statements.map((st) => st.roundTrip)).size,
      statements: b.statements.map((st) => {
        const role = st.name ? STATEMENT_ROLES[st.name] : null;
        return {
          roundTrip: st.roundTrip + 1,
          failed: st.failed,
          name: st.name ?? `${st.sql.replace(/\s+/g, " ").slice(0, 50)}…`,
          does: role?.does ?? "—",
          table: role?.table ?? null,
          indexes: role?.table ? (indexesOf[role.table] ?? 0) : null,
          rowsWritten: st.rowsWritten,
          changes: st.changes,
          rowsRead: st.rowsRead,
        };
      }),
    })),
    laterPhase: {
      ...laterPhase,
      met: laterPhase.extraRowsWritten <= TARGETS.extraRowsPerSnapshot,
      tableMet: laterPhase.extraTableRows <= TARGETS.extraTableRowsPerSnapshot,
    },
    final: {
      snapshot: parts[0]![1],
      block: parts[1]![1],
      node: parts[2]![1],
      conversation: parts[3]![1],
      delta: finalDelta ? sum(finalDelta.statements.map((st) => st.rowsWritten)) : null,
      dominant: { name: top[0], entries: top[1] },
      ownEntries: parts[0]![1] + parts[1]![1] + parts[2]![1],
    },
    rowsWrittenSlope: slope(
      full.map((s) => s.repeatedBlocks),
      full.map((s) => s.rowsWritten),
    ),
    rowsRead: { full: readsOf(full), delta: readsOf(delta) },
    ourRows: { ...ourRows, total: ourTotal },
    goLayoutRows: { membership, blocks: distinctBlocks, turns, total: goTotal, factor: goTotal / ourTotal },
    lastRequestBytes: { full: full.at(-1)!.requestBytes, delta: delta.at(-1)!.requestBytes },
  };
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
function sameNames(lists: string[][], what: string): string[] {
  const other = lists.findIndex((l) => l.join() !== lists[0]!.join());
  if (other >= 0) throw new Error(`profile: ${what} of snapshot ${other} (${lists[other]!.join(", ")}) differ from snapshot 0's`);
  return lists[0] ?? [];
}

/**
 * One conversation of the throughput stream (21 snapshots, 10 → 50 blocks, 2 new each), timed stage
 * by stage; medians. The per-isolate memories of block hashes and chains are module state here as
 * in the Worker, so repeated blocks hit them as they do there.
 */
async function profileStream(db: D1Database) {
  const schema = await requestSchema();
  const recorder = recordingD1(db);
  const stages: Record<string, number[]> = {};
  const names: Record<string, string[][]> = { write: [], replayRead: [] };
  const add = (stage: string, value: number) => (stages[stage] ??= []).push(value);
  const time = async <T>(stage: string, fn: () => T | Promise<T>): Promise<T> => {
    const t = performance.now();
    const value = await fn();
    add(stage, performance.now() - t);
    return value;
  };
  const inTrip = (n: number) => recorder.statements.filter((st) => st.roundTrip === n);
  const sqlMs = (list: StatementCost[]) => sum(list.map((st) => st.durationMs));
  const nameAll = (list: StatementCost[]) => list.map((st) => statementName(st.sql) ?? "?");
  // Read through a call: reset() changes it behind TypeScript's narrowing.
  const roundTrips = () => recorder.roundTrips;
  const run = `profile-${Date.now().toString(36)}`;
  for (let k = 0; k < STREAM_SNAPSHOTS_PER_CONVERSATION; k++) {
    const body = streamSnapshot(run, 0, k);
    const request = await time("parse", () => JSON.parse(body) as SnapshotRequest);
    await time("validate", () => {
      if (!schema.safeParse(request).success) throw new Error("the stream's body failed the request schema");
    });
    const read = await time("read", () => {
      const snapshot = readSnapshot(request, { nowMs: Date.now(), ...BENCH_PREPARE, prefix: "" });
      requestCost([snapshot]);
      return snapshot;
    });
    // hashBlocks in its two halves, timed apart (then hashBlocks itself, from the warm memories, for the write).
    const hashes = await time("hash", () =>
      Promise.all(
        read.blocks.map((b) =>
          b.ref ? b.contentHash : contentHash({ kind: b.kind, role: b.role, payloadJson: b.payloadJson, metadataJson: b.metadataJson }),
        ),
      ),
    );
    await time("chains", () =>
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
    add("d1Write", recorder.roundTripMs[0]!);
    add("d1WriteSql", sqlMs(recorder.statements));
    add("writeStatements", recorder.statements.length);
    names.write!.push(nameAll(recorder.statements));
    add("blocks", snapshot.blocks.length);
    add("newBlocks", saved.nodesAdded);

    // The same snapshot again (a client's retry): the one batch is refused, the read batch answers "unchanged".
    recorder.reset();
    const replayed = await saveSnapshots(recorder.db, [snapshot]);
    if (
      replayed.outcomes[0] !== "unchanged" ||
      roundTrips() !== 2 ||
      !inTrip(0).every((st) => st.failed) ||
      inTrip(1).some((st) => st.failed)
    )
      throw new Error(
        `profile replay ${k}: ${replayed.outcomes[0]} in ${roundTrips()} round trips (expected unchanged in 2: the refused batch, then the read)`,
      );
    add("refused", recorder.roundTripMs[0]!);
    add("refusedStatements", inTrip(0).length);
    add("replayRead", recorder.roundTripMs[1]!);
    add("replayReadSql", sqlMs(inTrip(1)));
    add("replayReadStatements", inTrip(1).length);
    names.replayRead!.push(nameAll(inTrip(1)));

    // The baseline route's write, through the same binding.
    recorder.reset();
    await insertBaselineRow(recorder.db, `${run}-baseline-${k}`, Date.now());
    add("baseline", recorder.roundTripMs[0]!);
    add("baselineSql", sqlMs(recorder.statements));
  }
  const m = (stage: string) => median(stages[stage]!);
  // meta.duration comes in whole milliseconds locally: means resolve fractions.
  const mean = (stage: string) => sum(stages[stage]!) / stages[stage]!.length;
  return {
    snapshots: STREAM_SNAPSHOTS_PER_CONVERSATION,
    blocks: m("blocks"),
    newBlocks: m("newBlocks"),
    parseMs: m("parse"),
    validateMs: m("validate"),
    readMs: m("read"),
    hashMs: m("hash"),
    chainsMs: m("chains"),
    d1WriteMs: m("d1Write"),
    d1WriteSqlMs: mean("d1WriteSql"),
    writeStatements: m("writeStatements"),
    writeStatementNames: sameNames(names.write!, "the write's statements"),
    replay: {
      roundTrips: 2,
      refusedMs: m("refused"),
      refusedStatements: m("refusedStatements"),
      readMs: m("replayRead"),
      readSqlMs: mean("replayReadSql"),
      readStatements: m("replayReadStatements"),
      readStatementNames: sameNames(names.replayRead!, "the replay's read statements"),
    },
    baselineMs: m("baseline"),
    baselineSqlMs: mean("baselineSql"),
  };
}

export type WriteCostFigures = Awaited<ReturnType<typeof measureWriteCost>>;
