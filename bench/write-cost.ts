/** Rows and statements per write (§2: issues 7, 17) and where a write's time goes (§1's stage profile). */
import { saveSnapshots, SNAPSHOT_WRITE_STATEMENTS } from "../src/store/writes";
import { contentHash } from "../src/turn/block-hash";
import { EMPTY_CHAIN, pathNodes } from "../src/turn/block-path";
import { assertYamlBudget, requestCost } from "../src/turn/limits";
import { hashBlocks, readSnapshot, type SnapshotRequest } from "../src/turn/snapshot";
import { openDatabase } from "../tools/d1";
import { insertBaselineRow } from "./baseline-insert";
import { clientBody, GEPPETTO_PHASES, isToolTurn, postedConversation } from "./conversation";
import { STREAM_SNAPSHOTS_PER_CONVERSATION as STREAM, streamSnapshot } from "./conversation";
import { recordingD1, type D1Recorder, type StatementCost } from "./counting-d1";
import { median, slope, sum } from "./stats";
import { TARGETS } from "./targets";

const TABLES = ["turn_snapshots", "blocks", "block_nodes", "turns", "conversations"] as const;
type TableCounts = Record<(typeof TABLES)[number], number>;
type StatementName = keyof typeof SNAPSHOT_WRITE_STATEMENTS;
const NAMES = new Map(Object.entries(SNAPSHOT_WRITE_STATEMENTS).map(([name, sql]) => [sql.trim(), name as StatementName]));
/** The store's name for a statement (by its exact SQL), or null for SQL it does not send. */
const statementName = (sql: string) => NAMES.get(sql.trim()) ?? null;
/** The table each statement of a snapshot write writes (null: reads only); what each does is in the template's legend. */
const TABLE_OF: Record<StatementName, string | null> = {
  ...{ FIND_NODES: null, SELECT_EXISTING: null, FIND_DELETIONS: null, FIND_CONVERSATION_BLOCKS: null, WALK_PATH_WEIGHTS: null },
  ...{ INSERT_SNAPSHOTS: "turn_snapshots", UPSERT_BLOCKS: "blocks", COUNT_REFERENCES: "blocks", GUARD_REFERENCES: "write_guards" },
  ...{
    INSERT_NODES: "block_nodes",
    UPSERT_BLOCKS_ON_NEW_NODES: "blocks",
    INSERT_NEW_NODES: "block_nodes",
    UPSERT_CONVERSATION_EVENTS: "conversations",
  },
};

/** Each phase as its row of the table, and as its breakdown says it. */
const PHASE_LABELS = {
  pre_inference: ["`pre_inference` (user message; turn row inserted)", "first phase of a turn: the user's message (turn row inserted)"],
  post_tools: ["`post_tools` (tool call + result, or nothing new)", "after tools: the call and its result"],
  final: ["`final` (the answer; turn row updated)", "final: the answer (turn row updated)"],
} as const;

/** A POST /api/turns body through what prepareRequest (src/routes/ingest/ingest.handlers.ts) runs, then saveSnapshots. */
async function postThroughStore(db: D1Database, body: string): Promise<void> {
  const request = JSON.parse(body) as SnapshotRequest;
  assertYamlBudget([request.payload]);
  const read = readSnapshot(request, { nowMs: Date.now(), maxClockSkewMs: Number.POSITIVE_INFINITY, prefix: "" });
  requestCost([read]);
  const result = await saveSnapshots(db, [await hashBlocks(read)]);
  if (result.outcomes[0] !== "created") throw new Error(`snapshot ${read.turnId}/${read.phase} was not created (${result.outcomes[0]})`);
}

/** One statement (each proxied call costs a round trip to workerd). */
const COUNT_TABLES = `SELECT ${TABLES.map((t) => `(SELECT count(*) FROM ${t}) AS ${t}`).join(", ")}`;
const countTables = async (db: D1Database) => (await db.prepare(COUNT_TABLES).first<TableCounts>())!;
/** Posts the conversation (in full, or as the client does: deltas): what each write cost, and its statements. */
async function postConversation(db: D1Database, recorder: D1Recorder, convId: string, turns: number, delta: boolean) {
  const samples = [];
  const history: string[] = [];
  let before = await countTables(db);
  for await (const s of postedConversation({ convId, turns })) {
    history.push(...s.newBlocks);
    const body = delta ? s.body : clientBody(s, history, null);
    recorder.reset();
    await postThroughStore(recorder.db, body);
    const after = await countTables(db);
    const total = (f: (st: StatementCost) => number) => sum(recorder.statements.map(f));
    samples.push({
      ...{ index: s.index, turn: Math.floor(s.index / 3), phase: s.phase, blocks: s.blockCount, newBlocks: after.blocks - before.blocks },
      ...{ repeatedBlocks: s.blockCount - s.newBlocks.length, statements: recorder.statements, roundTrips: recorder.roundTrips },
      ...{ rowsWritten: total((st) => st.rowsWritten), rowsRead: total((st) => st.rowsRead), tableRowsChanged: total((st) => st.changes) },
      requestBytes: Buffer.byteLength(body),
    });
    before = after;
  }
  return samples;
}
type WriteSample = Awaited<ReturnType<typeof postConversation>>[number];
export async function measureWriteCost(persistTo: string, turns: number) {
  const local = await openDatabase({ remote: false, persistTo });
  try {
    const recorder = recordingD1(local.db);
    const { results } = await local.db
      .prepare(`SELECT tbl_name AS name, count(*) AS indexes FROM sqlite_master WHERE type = 'index' GROUP BY tbl_name`)
      .all<{ name: string; indexes: number }>();
    const full = await postConversation(local.db, recorder, "cost-full", turns, false);
    const ourRows = await countTables(local.db);
    const delta = await postConversation(local.db, recorder, "cost-delta", turns, true);
    const indexes = Object.fromEntries(results.map((r) => [r.name, r.indexes]));
    return { writes: writeFigures(turns, full, delta, indexes, ourRows), profile: await profileStream(local.db) };
  } finally {
    await local.close();
  }
}

function writeFigures(turns: number, full: WriteSample[], delta: WriteSample[], indexes: Record<string, number>, ourRows: TableCounts) {
  const med = (list: WriteSample[], f: (s: WriteSample) => number) => median(list.map(f));
  const slopeOf = (list: WriteSample[], f: (s: WriteSample) => number) =>
    slope(
      list.map((s) => s.repeatedBlocks),
      list.map(f),
    );
  /** Medians of a phase's snapshots: new blocks, table rows changed, rows written, and rows beyond the new blocks. */
  const rows = (list: WriteSample[]) => {
    const [newBlocks, tableRowsChanged] = [med(list, (s) => s.newBlocks), med(list, (s) => s.tableRowsChanged)];
    return {
      newBlocks,
      tableRowsChanged,
      rowsWritten: med(list, (s) => s.rowsWritten),
      extraRowsWritten: med(list, (s) => s.rowsWritten - s.newBlocks),
    };
  };
  const posts = (list: WriteSample[]) => {
    const [statements, roundTrips] = [med(list, (s) => s.statements.length), med(list, (s) => s.roundTrips)];
    return { statements, roundTrips, requestBytes: med(list, (s) => s.requestBytes) };
  };
  const r = (s: WriteSample) => s.rowsRead;
  const readsOf = (list: WriteSample[]) => ({
    slope: slopeOf(list, r),
    firstTen: med(list.slice(0, 10), r),
    lastTen: med(list.slice(-10), r),
  });
  const indexesOf: Record<string, number> = { ...Object.fromEntries(TABLES.map((t) => [t, 0])), ...indexes };
  const later = full.filter((s) => s.phase === "final" && s.turn > 0);
  const laterPhase = { ...rows(later), extraTableRows: med(later, (s) => s.tableRowsChanged - s.newBlocks) };
  // The breakdown: the first tool-calling turn from the middle on, then its final snapshot posted as a delta.
  let middle = Math.floor(turns / 2);
  while (middle < turns - 1 && !isToolTurn(middle)) middle += 1;
  const finalDelta = delta.find((s) => s.turn === middle && s.phase === "final")!;
  const breakdown = [...full.filter((s) => s.turn === middle), finalDelta];
  const entries = (...wanted: StatementName[]) =>
    sum(breakdown[2]!.statements.filter((st) => wanted.includes(statementName(st.sql)!)).map((st) => st.rowsWritten));
  const [snapshot, block, node, conversation] = [
    entries("INSERT_SNAPSHOTS"),
    entries("UPSERT_BLOCKS_ON_NEW_NODES", "UPSERT_BLOCKS", "COUNT_REFERENCES"),
    entries("INSERT_NEW_NODES", "INSERT_NODES"),
    entries("UPSERT_CONVERSATION_EVENTS"),
  ];
  const parts: Array<[string, number]> = [["the snapshot row, its index entries and the turn roll-up of its trigger", snapshot!]];
  parts.push(["the new block", block!], ["its path node", node!], ["the conversation pointer", conversation!]);
  const top = parts.reduce((a, b) => (b[1] > a[1] ? b : a));
  const [membership, distinctBlocks, ourTotal] = [sum(full.map((s) => s.blocks)), full.at(-1)!.blocks, sum(TABLES.map((t) => ourRows[t]))];
  const goTotal = membership + distinctBlocks + turns;
  const [fullPosts, deltaPosts] = [posts(full), posts(delta)];
  return {
    ...{ turns, snapshots: full.length, postedWrites: full.length + delta.length, lastTurn: turns - 1 },
    lastRepeatedBlocks: full.at(-1)!.repeatedBlocks,
    rowsWrittenMismatches: full.filter((s, i) => delta[i]!.rowsWritten !== s.rowsWritten).length,
    ...{ statementsPerWrite: fullPosts.statements, roundTripsPerWrite: fullPosts.roundTrips },
    ...{ statementsPerDeltaWrite: deltaPosts.statements, roundTripsPerDeltaWrite: deltaPosts.roundTrips },
    oneRoundTrip: fullPosts.roundTrips === 1 && deltaPosts.roundTrips === 1,
    writesOverOneRoundTrip: [...full, ...delta].filter((s) => s.roundTrips !== 1).length,
    byPhase: GEPPETTO_PHASES.map((phase) => {
      const [list, deltas] = [full, delta].map((l) => l.filter((s) => s.phase === phase && s.turn > 0)) as [WriteSample[], WriteSample[]];
      return { label: PHASE_LABELS[phase][0], ...rows(list), full: posts(list), delta: posts(deltas) };
    }),
    indexes: Object.entries(indexes).flatMap(([table, count]) => (/^(_cf|d1_|sqlite_)/.test(table) ? [] : [{ table, count }])),
    indexesOf,
    breakdown: breakdown.map((s) => ({
      ...{ snapshot: s.index + 1, turn: s.turn },
      label: PHASE_LABELS[s.phase][1] + (s === finalDelta ? ", posted as a delta (prefix + new block)" : ""),
      roundTrips: new Set(s.statements.map((st) => st.roundTrip)).size,
      statements: s.statements.map(({ sql, roundTrip, failed, rowsWritten, changes, rowsRead }) => {
        const [name, table] = [statementName(sql), TABLE_OF[statementName(sql)!] ?? null];
        const shown = name ?? `${sql.replace(/\s+/g, " ").slice(0, 50)}…`;
        return {
          roundTrip: roundTrip + 1,
          failed,
          name: shown,
          table,
          indexes: table && (indexesOf[table] ?? 0),
          rowsWritten,
          changes,
          rowsRead,
        };
      }),
    })),
    laterPhase: {
      ...{ ...laterPhase, met: laterPhase.extraRowsWritten <= TARGETS.extraRowsPerSnapshot },
      tableMet: laterPhase.extraTableRows <= TARGETS.extraTableRowsPerSnapshot,
    },
    final: {
      snapshot,
      block,
      node,
      conversation,
      delta: finalDelta.rowsWritten,
      dominant: { name: top[0], entries: top[1] },
      ownEntries: snapshot! + block! + node!,
    },
    ...{ rowsWrittenSlope: slopeOf(full, (s) => s.rowsWritten), rowsRead: { full: readsOf(full), delta: readsOf(delta) } },
    ourRows: { ...ourRows, total: ourTotal },
    goLayoutRows: { membership, blocks: distinctBlocks, turns, total: goTotal, factor: goTotal / ourTotal },
    lastRequestBytes: { full: full.at(-1)!.requestBytes, delta: delta.at(-1)!.requestBytes },
  };
}

type RequestSchema = { safeParse(value: unknown): { success: boolean } };
/** The route's request schema, loaded at run time (its module's types need the Worker's Env, which the Node typecheck lacks). */
const INGEST_ROUTES = "../src/routes/ingest/ingest.routes";
/** The same list of statement names for every snapshot, or an error naming the first that differs. */
function sameNames(lists: string[][], what: string, other = lists.findIndex((l) => l.join() !== lists[0]!.join())): string[] {
  if (other >= 0) throw new Error(`profile: ${what} of snapshot ${other} (${lists[other]!.join(", ")}) differ from snapshot 0's`);
  return lists[0] ?? [];
}

/** A conversation of the throughput stream timed stage by stage (medians), the hash and chain memories warm as in the Worker. */
async function profileStream(db: D1Database) {
  const schema = ((await import(INGEST_ROUTES)) as { SnapshotRequestSchema: RequestSchema }).SnapshotRequestSchema;
  const recorder = recordingD1(db);
  const stages: Record<string, number[]> = {};
  const names: Record<string, string[][]> = { write: [], replayRead: [] };
  const add = (stage: string, value: number) => (stages[stage] ??= []).push(value);
  const adds = (values: Record<string, number>) => Object.entries(values).forEach(([stage, value]) => add(stage, value));
  const time = async <T>(stage: string, fn: () => T | Promise<T>): Promise<T> => {
    const t = performance.now();
    const value = await fn();
    add(stage, performance.now() - t);
    return value;
  };
  const inTrip = (n: number) => recorder.statements.filter((st) => st.roundTrip === n);
  const sqlMs = (list: StatementCost[]) => sum(list.map((st) => st.durationMs));
  const nameAll = (list: StatementCost[]) => list.map((st) => statementName(st.sql) ?? "?");
  const roundTrips = () => recorder.roundTrips;
  const run = `profile-${Date.now().toString(36)}`;
  for (let k = 0; k < STREAM; k++) {
    const body = streamSnapshot(run, 0, k);
    const request = await time("parse", () => JSON.parse(body) as SnapshotRequest);
    await time("validate", () => {
      if (!schema.safeParse(request).success) throw new Error("the stream's body failed the request schema");
    });
    const read = await time("read", () => {
      const snapshot = readSnapshot(request, { nowMs: Date.now(), maxClockSkewMs: Number.POSITIVE_INFINITY, prefix: "" });
      requestCost([snapshot]);
      return snapshot;
    });
    // hashBlocks in its two halves, timed apart (then hashBlocks itself, warm, for the write).
    const hashes = await time("hash", () => Promise.all(read.blocks.map((b) => (b.ref ? b.contentHash : contentHash(b)))));
    const steps = read.blocks.map((b, i) => ({ blockId: b.id, contentHash: hashes[i]!, extraJson: b.extraJson }));
    await time("chains", () => pathNodes(steps, EMPTY_CHAIN, 0));
    const snapshot = await hashBlocks(read);

    recorder.reset();
    const saved = await saveSnapshots(recorder.db, [snapshot]);
    if (saved.outcomes[0] !== "created" || roundTrips() !== 1)
      throw new Error(`profile snapshot ${k}: ${saved.outcomes[0]} in ${roundTrips()} round trips (expected created in 1)`);
    adds({ d1Write: recorder.roundTripMs[0]!, d1WriteSql: sqlMs(recorder.statements), writeStatements: recorder.statements.length });
    adds({ blocks: snapshot.blocks.length, newBlocks: saved.nodesAdded });
    names.write!.push(nameAll(recorder.statements));

    // The same snapshot again (a client's retry): the one batch is refused, the read batch answers "unchanged".
    recorder.reset();
    const replayed = await saveSnapshots(recorder.db, [snapshot]);
    const refusedThenRead = roundTrips() === 2 && inTrip(0).every((st) => st.failed) && !inTrip(1).some((st) => st.failed);
    if (replayed.outcomes[0] !== "unchanged" || !refusedThenRead)
      throw new Error(
        `profile replay ${k}: ${replayed.outcomes[0]} in ${roundTrips()} round trips (expected unchanged in 2: the refused batch, then the read)`,
      );
    adds({ refused: recorder.roundTripMs[0]!, refusedStatements: inTrip(0).length, replayRead: recorder.roundTripMs[1]! });
    adds({ replayReadSql: sqlMs(inTrip(1)), replayReadStatements: inTrip(1).length });
    names.replayRead!.push(nameAll(inTrip(1)));

    recorder.reset();
    await insertBaselineRow(recorder.db, `${run}-baseline-${k}`, Date.now());
    adds({ baseline: recorder.roundTripMs[0]!, baselineSql: sqlMs(recorder.statements) });
  }
  const m = (stage: string) => median(stages[stage]!);
  // meta.duration comes in whole milliseconds locally: means resolve fractions.
  const mean = (stage: string) => sum(stages[stage]!) / stages[stage]!.length;
  const [readMs, readSqlMs, readStatements] = [m("replayRead"), mean("replayReadSql"), m("replayReadStatements")];
  return {
    ...{ snapshots: STREAM, blocks: m("blocks"), newBlocks: m("newBlocks"), parseMs: m("parse"), validateMs: m("validate") },
    ...{ readMs: m("read"), hashMs: m("hash"), chainsMs: m("chains"), d1WriteMs: m("d1Write"), d1WriteSqlMs: mean("d1WriteSql") },
    ...{ writeStatements: m("writeStatements"), writeStatementNames: sameNames(names.write!, "the write's statements") },
    replay: {
      ...{ roundTrips: 2, refusedMs: m("refused"), refusedStatements: m("refusedStatements"), readMs, readSqlMs, readStatements },
      readStatementNames: sameNames(names.replayRead!, "the replay's read statements"),
    },
    ...{ baselineMs: m("baseline"), baselineSqlMs: mean("baselineSql") },
  };
}

export type WriteCostFigures = Awaited<ReturnType<typeof measureWriteCost>>;
