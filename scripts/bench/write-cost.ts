/**
 * Rows and statements per write (issue 7 §2). The growing conversation (turns × 3 phases, each
 * snapshot 2 blocks longer) goes through the store function POST /api/turns calls — prepareSnapshot,
 * then saveSnapshots — against local D1 (wrangler's getPlatformProxy: the same workerd SQLite as
 * `wrangler dev`), with a recording binding that keeps D1's meta of every statement. After each
 * write the tables are counted, so D1's rows_written (which counts index entries too) can be set
 * against the table rows that really appeared.
 */
import { join } from "node:path";
import { getPlatformProxy } from "wrangler";
import { saveSnapshots } from "../../src/store/snapshot-writes";
import { prepareSnapshot, type SnapshotRequest } from "../../src/turn/snapshot";
import { blockHashMaterial, sha256Hex } from "../../src/turn/block-hash";
import { readTurn } from "../../src/turn/turn";
import { ROOT } from "../lib/wrangler-dev";
import { growingConversation, snapshotBody, throughputSnapshot, type SnapshotShape } from "./conversation";
import { recordingD1, type StatementCost } from "./counting-d1";
import { median, slope, sum } from "./stats";

const TABLES = ["turn_snapshots", "blocks", "turns", "conversations"] as const;
type TableCounts = Record<(typeof TABLES)[number], number>;

export interface WriteSample {
  index: number;
  phase: string;
  blocks: number;
  newBlocks: number;
  repeatedBlocks: number;
  statements: number;
  roundTrips: number;
  rowsWritten: number;
  rowsRead: number;
  /** Table rows inserted or updated (SQLite changes(), no index entries). */
  tableRowsChanged: number;
  /** Rows that exist afterwards and did not before, per table. */
  tableRowsAdded: TableCounts;
}

export interface WriteCostResult {
  turns: number;
  snapshots: number;
  samples: WriteSample[];
  statementsPerWrite: number;
  roundTripsPerWrite: number;
  medianRowsWritten: number;
  medianTableRowsChanged: number;
  /** Median of (meta.rows_written − new blocks): D1's count, index entries included. */
  extraRowsWritten: number;
  /** Median of (table rows inserted or updated − new blocks). */
  extraTableRows: number;
  /** Per-statement meta for a later-phase snapshot (turn row updated) and a first-phase one (turn row inserted). */
  breakdown: { label: string; index: number; statements: StatementCost[] }[];
  /** rows_written and rows_read per extra repeated block (least squares over all snapshots). */
  rowsWrittenSlopePerRepeatedBlock: number;
  rowsReadSlopePerRepeatedBlock: number;
  firstTenRowsWritten: number;
  lastTenRowsWritten: number;
  firstTenRowsRead: number;
  lastTenRowsRead: number;
  /**
   * Where a throughput-stream snapshot (10–50 blocks) spends its time, measured apart in this
   * process (medians over one conversation): JSON.parse of the body; one zod validation of the turn
   * (TurnInputSchema — the route runs it twice: in the request schema and again in normalizeTurn);
   * prepareSnapshot (that second validation, normalization, canonical JSON, SHA-256 per block);
   * and D1's own execution time of the batch against the baseline's insert (meta.duration, whole
   * milliseconds locally). Round trips through the proxy are not timed: its Node-to-workerd hop
   * would dwarf what it measures.
   */
  streamProfile: {
    snapshots: number;
    parseMs: number;
    validateMs: number;
    prepareMs: number;
    /** Inside prepareSnapshot: canonical JSON of every block, and SHA-256 of them (crypto.subtle, all at once as prepareSnapshot does). */
    canonicalJsonMs: number;
    sha256Ms: number;
    d1Ms: number;
    baselineD1Ms: number;
  };
  ourTotalRows: TableCounts & { total: number };
  goLayoutRows: { membership: number; blocks: number; turns: number; total: number };
  secondsElapsed: number;
}

async function countTables(db: D1Database): Promise<TableCounts> {
  const results = await db.batch<{ n: number }>(TABLES.map((t) => db.prepare(`SELECT count(*) AS n FROM ${t}`)));
  return Object.fromEntries(TABLES.map((t, i) => [t, results[i]!.results[0]!.n])) as TableCounts;
}

export async function measureWriteCost(persistTo: string, turns: number): Promise<WriteCostResult> {
  const started = Date.now();
  const proxy = await getPlatformProxy<{ DB: D1Database }>({
    configPath: join(ROOT, "wrangler.toml"),
    persist: { path: join(persistTo, "v3") },
  });
  try {
    const recorder = recordingD1(proxy.env.DB);
    const conversation: SnapshotShape[] = growingConversation("cost-conv", turns);
    const samples: WriteSample[] = [];
    const breakdown: WriteCostResult["breakdown"] = [];
    let before = await countTables(proxy.env.DB);
    for (const [index, shape] of conversation.entries()) {
      const request = JSON.parse(snapshotBody(shape)) as SnapshotRequest;
      const snapshot = await prepareSnapshot(request, { nowMs: Date.now(), maxClockSkewMs: Number.POSITIVE_INFINITY });
      recorder.reset();
      const { outcomes } = await saveSnapshots(recorder.db, [snapshot]);
      if (outcomes[0] !== "created") throw new Error(`snapshot ${index} was not created (${outcomes[0]})`);
      const after = await countTables(proxy.env.DB);
      const added = Object.fromEntries(TABLES.map((t) => [t, after[t] - before[t]])) as TableCounts;
      before = after;
      samples.push({
        index,
        phase: shape.phase,
        blocks: shape.blockCount,
        newBlocks: added.blocks,
        repeatedBlocks: shape.blockCount - added.blocks,
        statements: recorder.statements.length,
        roundTrips: recorder.roundTrips,
        rowsWritten: sum(recorder.statements.map((s) => s.rowsWritten)),
        rowsRead: sum(recorder.statements.map((s) => s.rowsRead)),
        tableRowsChanged: sum(recorder.statements.map((s) => s.changes)),
        tableRowsAdded: added,
      });
      const middle = Math.floor(conversation.length / 2);
      if (index === middle - (middle % 3)) breakdown.push({ label: "first phase of a turn (turn row inserted)", index, statements: recorder.statements });
      if (index === middle - (middle % 3) + 2) breakdown.push({ label: "later phase of a turn (turn row updated)", index, statements: recorder.statements });
    }
    const ourTotal = await countTables(proxy.env.DB);
    const streamProfile = await profileStream(proxy.env.DB);
    const extraWritten = samples.map((s) => s.rowsWritten - s.newBlocks);
    const extraTable = samples.map((s) => s.tableRowsChanged - s.newBlocks);
    const repeated = samples.map((s) => s.repeatedBlocks);
    const membership = sum(conversation.map((s) => s.blockCount));
    const distinctBlocks = conversation[conversation.length - 1]!.blockCount;
    const head = samples.slice(0, 10);
    const tail = samples.slice(-10);
    return {
      turns,
      snapshots: samples.length,
      samples,
      statementsPerWrite: median(samples.map((s) => s.statements)),
      roundTripsPerWrite: median(samples.map((s) => s.roundTrips)),
      medianRowsWritten: median(samples.map((s) => s.rowsWritten)),
      medianTableRowsChanged: median(samples.map((s) => s.tableRowsChanged)),
      extraRowsWritten: median(extraWritten),
      extraTableRows: median(extraTable),
      breakdown,
      rowsWrittenSlopePerRepeatedBlock: slope(repeated, samples.map((s) => s.rowsWritten)),
      rowsReadSlopePerRepeatedBlock: slope(repeated, samples.map((s) => s.rowsRead)),
      firstTenRowsWritten: median(head.map((s) => s.rowsWritten)),
      lastTenRowsWritten: median(tail.map((s) => s.rowsWritten)),
      firstTenRowsRead: median(head.map((s) => s.rowsRead)),
      lastTenRowsRead: median(tail.map((s) => s.rowsRead)),
      streamProfile,
      ourTotalRows: { ...ourTotal, total: sum(TABLES.map((t) => ourTotal[t])) },
      goLayoutRows: { membership, blocks: distinctBlocks, turns, total: membership + distinctBlocks + turns },
      secondsElapsed: (Date.now() - started) / 1000,
    };
  } finally {
    await proxy.dispose();
  }
}

/** One conversation of the throughput stream, timed stage by stage (after the cost scenario, so counts above are unaffected). */
async function profileStream(db: D1Database): Promise<WriteCostResult["streamProfile"]> {
  const recorder = recordingD1(db);
  const samples = { parse: [] as number[], validate: [] as number[], prepare: [] as number[], canonical: [] as number[], sha: [] as number[], d1: [] as number[], baselineD1: [] as number[] };
  const time = async <T>(into: number[], fn: () => T | Promise<T>): Promise<T> => {
    const started = performance.now();
    const value = await fn();
    into.push(performance.now() - started);
    return value;
  };
  for (let i = 0; i < 21; i++) {
    const body = throughputSnapshot("profile", i);
    const request = await time(samples.parse, () => JSON.parse(body) as SnapshotRequest);
    await time(samples.validate, () => {
      readTurn(request.turn, { where: "turn", shapeError: "INVALID_REQUEST" });
    });
    const snapshot = await time(samples.prepare, () => prepareSnapshot(request, { nowMs: Date.now(), maxClockSkewMs: Number.POSITIVE_INFINITY }));
    const materials = await time(samples.canonical, () =>
      snapshot.blocks.map((b) => blockHashMaterial({ kind: b.kind, role: b.role, payloadJson: b.payloadJson, metadataJson: b.metadataJson })),
    );
    await time(samples.sha, () => Promise.all(materials.map((m) => sha256Hex(m))));
    recorder.reset();
    await saveSnapshots(recorder.db, [snapshot]);
    samples.d1.push(sum(recorder.statements.map((st) => st.durationMs)));
    // The baseline route's one statement.
    const one = await db
      .prepare("INSERT INTO conversations (conv_id, session_id, created_at_ms, last_activity_ms) VALUES (?1, 'bench-baseline', ?2, ?2)")
      .bind(`profile-baseline-${i}`, Date.now())
      .run();
    samples.baselineD1.push(one.meta.duration);
  }
  return {
    snapshots: 21,
    parseMs: median(samples.parse),
    validateMs: median(samples.validate),
    prepareMs: median(samples.prepare),
    canonicalJsonMs: median(samples.canonical),
    sha256Ms: median(samples.sha),
    d1Ms: median(samples.d1),
    baselineD1Ms: median(samples.baselineD1),
  };
}
