/**
 * Read cost that does not grow with the database (issue 7 §3) and the peer anchor (issue 17).
 *
 * The same target conversation (2000 snapshots) sits in databases of different total size
 * (read-database.ts). For each:
 * - rows read, statements and round trips of the debug reads, from D1's meta, by calling the store
 *   function the debug routes call (listSnapshots) through a recording binding (getPlatformProxy),
 *   and where a page's time goes: D1's execution (meta.duration), turning rows into turns, and
 *   serializing the response as the route does (YAML per snapshot, then the JSON envelope);
 * - latency over HTTP on `wrangler dev`: all servers run at once and requests alternate between
 *   them, one at a time, so every size sees the same machine conditions.
 */
import { rmSync, statSync } from "node:fs";
import { encodeCursor } from "../src/http/cursor";
import { turnListBody } from "../src/routes/debug/debug.wire";
import { listSnapshots, type SnapshotFilter, type SnapshotPage } from "../src/store/snapshot-reads";
import { turnToYaml } from "../src/turn/turn";
import { openDatabase } from "../tools/d1";
import type { DevServer } from "../tools/wrangler-dev";
import { capturingD1, recordingD1, replayD1 } from "./counting-d1";
import { copyDatabase, d1File } from "./databases";
import { alternate } from "./http";
import { BLOCKS_PER_SNAPSHOT, generateReadDatabase, OTHER_CONVERSATION_SNAPSHOTS, SHARED_PREFIX_BLOCKS, TARGET } from "./read-database";
import { median, sum } from "./stats";
import { TARGETS } from "./targets";

const LIST_PATH = `/api/debug/turns?conv_id=${encodeURIComponent(TARGET.convId)}&limit=200`;
const DETAIL_PATH = `/api/debug/turn/${TARGET.convId}/${TARGET.sessionId}/${TARGET.turnId}`;

const QUERIES: Array<{ label: string; filter: SnapshotFilter }> = [
  { label: "conversation page, limit 50", filter: { convId: TARGET.convId, limit: 50 } },
  { label: "conversation page, limit 200 (the timed request)", filter: { convId: TARGET.convId, limit: 200 } },
  { label: "conversation page, limit 1000", filter: { convId: TARGET.convId, limit: 1000 } },
  // The turn route asks for up to 1000 snapshots of the turn (MAX_LIMIT).
  {
    label: "turn detail (4 snapshots)",
    filter: { convId: TARGET.convId, sessionId: TARGET.sessionId, turnId: TARGET.turnId, limit: 1000 },
  },
  // What dropping the by-phase and by-session indexes costs a read (issue 17): the phase filter walks
  // the conversation and skips the other phases; the session filter without conv_id reads the
  // session's snapshots from the identity index and sorts them.
  { label: "phase filter (final) within the conversation, limit 200", filter: { convId: TARGET.convId, phase: "final", limit: 200 } },
  { label: "session filter without conv_id, limit 200", filter: { sessionId: TARGET.sessionId, limit: 200 } },
];

/** Runs of each query; medians are reported (D1's time: the mean — locally meta.duration comes in whole milliseconds). */
const RUNS = 7;

/** The list route's response body (turnListBody, as listTurnsHandler builds it), for timing its serialization. */
async function listResponse(page: SnapshotPage, payloads: string[]) {
  const nextCursor = page.next ? await encodeCursor("bench-debug-token", ["turns", { convId: TARGET.convId }], page.next) : null;
  return turnListBody({ conv_id: TARGET.convId }, page.records, (_, i) => ({ payload: payloads[i] }), nextCursor);
}

async function measureQueries(persistTo: string) {
  const local = await openDatabase({ remote: false, persistTo });
  try {
    const recorder = recordingD1(local.db);
    // Warm-up (not recorded): the JIT sees reading, YAML and JSON once before anything is timed.
    const warm = await listSnapshots(local.db, QUERIES[1]!.filter);
    JSON.stringify(
      await listResponse(
        warm,
        warm.records.map((r) => turnToYaml(r.turn)),
      ),
    );
    const out = [];
    for (const { label, filter } of QUERIES) {
      const runs = [];
      for (let i = 0; i < RUNS; i++) {
        recorder.reset();
        const capture = capturingD1(recorder.db);
        const page = await listSnapshots(capture.db, filter);
        // The same call again on D1's recorded answers: what listSnapshots itself does with them.
        const started = performance.now();
        await listSnapshots(replayD1(capture.batches), filter);
        const decodeMs = performance.now() - started;
        runs.push({
          page,
          statements: recorder.statements.length,
          roundTrips: recorder.roundTrips,
          sqlMs: sum(recorder.statements.map((st) => st.durationMs)),
          decodeMs,
        });
      }
      const page = runs[0]!.page;
      const yaml: number[] = [];
      const serialize: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        const started = performance.now();
        const items = page.records.map((r) => turnToYaml(r.turn));
        yaml.push(performance.now() - started);
        JSON.stringify(await listResponse(page, items));
        serialize.push(performance.now() - started);
      }
      out.push({
        label,
        limit: filter.limit,
        records: page.records.length,
        rowsRead: page.rowsRead,
        statements: runs[0]!.statements,
        roundTrips: runs[0]!.roundTrips,
        sqlMs: sum(runs.map((r) => r.sqlMs)) / runs.length,
        decodeMs: median(runs.map((r) => r.decodeMs)),
        yamlMs: median(yaml),
        serializeMs: median(serialize),
      });
    }
    return out;
  } finally {
    await local.close();
  }
}

export interface ReadOptions {
  dirFor: (name: string) => string;
  /** The migrated database to start each size from. */
  template: string;
  sizes: number[];
  requests: number;
  warmup: number;
  token: string;
  serve: (persistTo: string) => Promise<DevServer>;
  stop: (server: DevServer) => Promise<void>;
  log: (message: string) => void;
}

export async function measureReads(o: ReadOptions) {
  const generated: Array<{
    snapshots: number;
    dir: string;
    generateSeconds: number;
    fileBytes: number;
    costs: Awaited<ReturnType<typeof measureQueries>>;
  }> = [];
  try {
    for (const snapshots of o.sizes) {
      const dir = copyDatabase(o.template, o.dirFor(`read-${snapshots}`));
      const t = performance.now();
      generateReadDatabase(dir, snapshots);
      const generateSeconds = (performance.now() - t) / 1000;
      o.log(`  ${snapshots} snapshots generated in ${generateSeconds.toFixed(1)} s`);
      generated.push({ snapshots, dir, generateSeconds, fileBytes: statSync(d1File(dir)).size, costs: await measureQueries(dir) });
    }
    const servers: DevServer[] = [];
    let latency: Awaited<ReturnType<typeof alternate>>;
    try {
      for (const db of generated) servers.push(await o.serve(db.dir));
      const targets = servers.flatMap((server) => [
        { server, path: LIST_PATH, expectItems: 200 },
        { server, path: DETAIL_PATH, expectItems: 4 },
      ]);
      latency = await alternate(targets, o.token, o.warmup, o.requests);
    } finally {
      for (const server of servers) await o.stop(server);
    }
    const timing = (t: (typeof latency)[number]) => ({ medianMs: t.medianMs, p90Ms: t.p90Ms, responseBytes: t.bytes });
    const page = QUERIES.findIndex((q) => q.filter.limit === 200 && q.filter.convId && !q.filter.phase);
    const databases = generated.map((db, k) => ({
      snapshots: db.snapshots,
      nodes: db.snapshots + (db.snapshots / OTHER_CONVERSATION_SNAPSHOTS) * SHARED_PREFIX_BLOCKS,
      fileBytes: db.fileBytes,
      generateSeconds: db.generateSeconds,
      pageRowsRead: db.costs[page]!.rowsRead,
      list: timing(latency[2 * k]!),
      detail: timing(latency[2 * k + 1]!),
    }));
    const multipleSizes = databases.length > 1;
    const latencyRatio = multipleSizes ? databases.at(-1)!.list.medianMs / databases[0]!.list.medianMs : null;
    return {
      target: {
        snapshots: TARGET.snapshots,
        otherConversationSnapshots: OTHER_CONVERSATION_SNAPSHOTS,
        blocksPerSnapshot: BLOCKS_PER_SNAPSHOT,
        sharedPrefixBlocks: SHARED_PREFIX_BLOCKS,
        pageNodes: 200 + SHARED_PREFIX_BLOCKS,
      },
      requests: o.requests,
      warmup: o.warmup,
      databases,
      queries: generated[0]!.costs.map((c, i) => ({
        ...c,
        rowsRead: generated.map((db) => db.costs[i]!.rowsRead),
        sqlMs: generated.map((db) => db.costs[i]!.sqlMs),
      })),
      multipleSizes,
      sameRowsRead: generated.every((db) => db.costs.every((c, i) => c.rowsRead === generated[0]!.costs[i]!.rowsRead)),
      latencyRatio,
      detailLatencyRatio: multipleSizes ? databases.at(-1)!.detail.medianMs / databases[0]!.detail.medianMs : null,
      latencyMet: latencyRatio === null ? null : latencyRatio <= TARGETS.readLatencyRatio,
    };
  } finally {
    for (const db of generated) rmSync(db.dir, { recursive: true, force: true });
  }
}

export type ReadFigures = Awaited<ReturnType<typeof measureReads>>;
