/**
 * Rows and statements per write (issue 7 §2, issue 17), and where a write's time goes.
 *
 * A geppetto-style conversation (T turns × pre_inference / post_tools / final, every snapshot
 * carrying the whole history) goes through the write path of POST /api/turns (write-path.ts) twice,
 * as two conversations of the same content: posted in full, and posted as the frontend client
 * posts it (deltas). A recording binding keeps D1's meta of every statement, and the tables are
 * counted after each write, so D1's rows_written (which counts index entries too) can be set
 * against the table rows that really appeared.
 *
 * The stage profile times one conversation of the throughput stream stage by stage in this process
 * (the same code the Worker runs: JSON.parse, the route's zod request schema, readSnapshot, block
 * hashes, path chains) and its two D1 batches, next to the baseline route's single insert.
 */
import { insertBaselineRow } from "../../src/store/benchmark";
import { saveSnapshots } from "../../src/store/snapshot-writes";
import { contentHash } from "../../src/turn/block-hash";
import { EMPTY_CHAIN, pathNodes } from "../../src/turn/block-path";
import { assertRequestBounds } from "../../src/turn/limits";
import { hashBlocks, readSnapshot, type SnapshotRequest } from "../../src/turn/snapshot";
import { clientBody, isToolTurn, postedConversation, STREAM_SNAPSHOTS_PER_CONVERSATION, streamSnapshot, type GeppettoSnapshot } from "./conversation";
import { recordingD1, type D1Recorder, type StatementCost } from "./counting-d1";
import { median, slope, sum } from "./stats";
import { BENCH_PREPARE, openLocalD1, postThroughStore } from "./write-path";

const TABLES = ["turn_snapshots", "blocks", "block_nodes", "turns", "conversations"] as const;
type TableCounts = Record<(typeof TABLES)[number], number>;

export type PostKind = "full" | "delta";

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
  /** Path chains of every block (@noble/hashes, with its per-isolate memory). */
  chainsMs: number;
  /** Wall time of each D1 round trip from this process (proxy hop included, median), and D1's own time (meta.duration, mean). */
  d1ReadMs: number;
  d1WriteMs: number;
  d1ReadSqlMs: number;
  d1WriteSqlMs: number;
  readStatements: number;
  writeStatements: number;
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
  statementsPerWrite: number;
  roundTripsPerWrite: number;
  /** The issue-17 figure: a later-phase (final) snapshot with 1 new block — medians. */
  laterPhase: { newBlocks: number; rowsWritten: number; tableRowsChanged: number; extraRowsWritten: number; extraTableRows: number };
  /** Per-statement meta of one turn's three snapshots (full posts), in the middle of the conversation. */
  breakdown: { label: string; index: number; phase: string; statements: StatementCost[] }[];
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

type Breakdown = Array<{ index: number; phase: string; statements: StatementCost[] }>;

/** Posts the conversation; keeps the statements of a middle turn's three snapshots in `breakdown` when given. */
async function postConversation(db: D1Database, recorder: D1Recorder, convId: string, turns: number, kind: PostKind, breakdown?: Breakdown): Promise<WriteSample[]> {
  // The first turn from the middle on that calls a tool: its post_tools snapshot adds the call and the result.
  let turn = Math.floor(turns / 2);
  while (turn < turns - 1 && !isToolTurn(turn)) turn += 1;
  const middle = 3 * turn;
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
    if (breakdown && s.index >= middle && s.index < middle + 3) breakdown.push({ index: s.index, phase: s.phase, statements: recorder.statements });
    before = after;
  }
  return samples;
}

export async function measureWriteCost(persistTo: string, turns: number): Promise<WriteCostResult> {
  const started = Date.now();
  const local = await openLocalD1(persistTo);
  try {
    const recorder = recordingD1(local.db);
    const breakdownOf: Breakdown = [];
    const full = await postConversation(local.db, recorder, "cost-full", turns, "full", breakdownOf);
    const ourTotal = await countTables(local.db);
    const delta = await postConversation(local.db, recorder, "cost-delta", turns, "delta");
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
      laterPhase: {
        newBlocks: median(later.map((s) => s.newBlocks)),
        rowsWritten: median(later.map((s) => s.rowsWritten)),
        tableRowsChanged: median(later.map((s) => s.tableRowsChanged)),
        extraRowsWritten: median(later.map((s) => s.rowsWritten - s.newBlocks)),
        extraTableRows: median(later.map((s) => s.tableRowsChanged - s.newBlocks)),
      },
      breakdown: breakdownOf.map((b) => ({
        ...b,
        label:
          b.phase === "pre_inference"
            ? "first phase of a turn: the user's message (turn row inserted)"
            : b.phase === "post_tools"
              ? "after tools: the call and its result"
              : "final: the answer (turn row updated)",
      })),
      rowsWrittenSlopePerRepeatedBlock: slope(full.map((s) => s.repeatedBlocks), full.map((s) => s.rowsWritten)),
      rowsReadSlopePerRepeatedBlock: {
        full: slope(full.map((s) => s.repeatedBlocks), full.map((s) => s.rowsRead)),
        delta: slope(delta.map((s) => s.repeatedBlocks), delta.map((s) => s.rowsRead)),
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
  const path = "../../src/routes/ingest/ingest.routes";
  return ((await import(path)) as { SnapshotRequestSchema: RequestSchema }).SnapshotRequestSchema;
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
    parse: [] as number[], validate: [] as number[], read: [] as number[], hash: [] as number[], chains: [] as number[],
    d1Read: [] as number[], d1Write: [] as number[], d1ReadSql: [] as number[], d1WriteSql: [] as number[],
    readStatements: [] as number[], writeStatements: [] as number[], baseline: [] as number[], baselineSql: [] as number[],
    blocks: [] as number[], newBlocks: [] as number[],
  };
  const time = async <T>(into: number[], fn: () => T | Promise<T>): Promise<T> => {
    const t = performance.now();
    const value = await fn();
    into.push(performance.now() - t);
    return value;
  };
  const run = `profile-${Date.now().toString(36)}`;
  for (let k = 0; k < STREAM_SNAPSHOTS_PER_CONVERSATION; k++) {
    const body = streamSnapshot(run, 0, k);
    const request = await time(stages.parse, () => JSON.parse(body) as SnapshotRequest);
    await time(stages.validate, () => {
      if (!schema.safeParse(request).success) throw new Error("the stream's body failed the request schema");
    });
    const read = await time(stages.read, () => {
      const snapshot = readSnapshot(request, { nowMs: Date.now(), ...BENCH_PREPARE, prefix: "" });
      assertRequestBounds([snapshot]);
      return snapshot;
    });
    // hashBlocks in its two halves, timed apart (then hashBlocks itself, from the warm memories, for the write).
    const hashes = await time(stages.hash, () =>
      Promise.all(read.blocks.map((b) => (b.ref ? b.contentHash : contentHash({ kind: b.kind, role: b.role, payloadJson: b.payloadJson, metadataJson: b.metadataJson })))),
    );
    await time(stages.chains, () => pathNodes(read.blocks.map((b, i) => ({ blockId: b.id, contentHash: hashes[i]!, extraJson: b.extraJson })), EMPTY_CHAIN, 0));
    const snapshot = await hashBlocks(read);
    recorder.reset();
    const saved = await saveSnapshots(recorder.db, [snapshot]);
    if (saved.outcomes[0] !== "created" || recorder.roundTrips !== 2) throw new Error(`profile snapshot ${k}: ${saved.outcomes[0]} in ${recorder.roundTrips} round trips`);
    const inTrip = (n: number) => recorder.statements.filter((st) => st.roundTrip === n);
    stages.d1Read.push(recorder.roundTripMs[0]!);
    stages.d1Write.push(recorder.roundTripMs[1]!);
    stages.d1ReadSql.push(sum(inTrip(0).map((st) => st.durationMs)));
    stages.d1WriteSql.push(sum(inTrip(1).map((st) => st.durationMs)));
    stages.readStatements.push(inTrip(0).length);
    stages.writeStatements.push(inTrip(1).length);
    stages.blocks.push(snapshot.blocks.length);
    stages.newBlocks.push(saved.nodesAdded);
    // The baseline route's write, through the same binding.
    recorder.reset();
    await insertBaselineRow(recorder.db, `${run}-baseline-${k}`, Date.now());
    stages.baseline.push(recorder.roundTripMs[0]!);
    stages.baselineSql.push(sum(recorder.statements.map((st) => st.durationMs)));
  }
  return {
    snapshots: STREAM_SNAPSHOTS_PER_CONVERSATION,
    blocks: median(stages.blocks),
    newBlocks: median(stages.newBlocks),
    parseMs: median(stages.parse),
    validateMs: median(stages.validate),
    readMs: median(stages.read),
    hashMs: median(stages.hash),
    chainsMs: median(stages.chains),
    d1ReadMs: median(stages.d1Read),
    d1WriteMs: median(stages.d1Write),
    // meta.duration comes in whole milliseconds locally: means resolve fractions.
    d1ReadSqlMs: sum(stages.d1ReadSql) / stages.d1ReadSql.length,
    d1WriteSqlMs: sum(stages.d1WriteSql) / stages.d1WriteSql.length,
    readStatements: median(stages.readStatements),
    writeStatements: median(stages.writeStatements),
    baselineMs: median(stages.baseline),
    baselineSqlMs: sum(stages.baselineSql) / stages.baselineSql.length,
  };
}
