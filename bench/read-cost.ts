/** Read cost against database size (issue 7 §3) and the peer anchor (issue 17): one conversation in databases of different size. */
import { rmSync, statSync } from "node:fs";
import { encodeCursor } from "../src/http/cursor";
import { turnListBody } from "../src/routes/debug/debug.wire";
import { listSnapshots, type SnapshotFilter, type SnapshotPage } from "../src/store/snapshot-reads";
import { turnToYaml } from "../src/turn/turn";
import { openDatabase } from "../tools/d1";
import type { DevServer } from "../tools/wrangler-dev";
import { recordingD1, replayD1 } from "./counting-d1";
import { bulkLoad, copyDatabase, d1File, hashOf, LOREM, sequenceTable, sqlString } from "./databases";
import { alternate, type Bench } from "./http";
import { median, sum } from "./stats";
import { TARGETS } from "./targets";

/** The same target conversation (2000 snapshots: 500 turns × 4 phases) in databases of any size, generated in bulk SQL. */
const TARGET = {
  ...{ convId: "bench-target", sessionId: "bench-target-s", snapshots: 2000 },
  turnId: "bench-target-t000250",
};
const OTHER_CONVERSATION_SNAPSHOTS = 200;
const BLOCKS_PER_SNAPSHOT = 8;
const SHARED_PREFIX_BLOCKS = BLOCKS_PER_SNAPSHOT - 1;
const PHASES = ["pre_inference", "post_inference", "post_tools", "final"];
const RUNTIMES = ["planner", "research", "support"];
const BASE_MS = 1_700_000_000_000;
const caseOf = (expr: string, values: readonly string[]) =>
  `CASE ${expr} ${values.map((v, i) => `WHEN ${i} THEN ${sqlString(v)}`).join(" ")} END`;

const chainOf = (ci: string, n: string) => `printf('%016x%016x', ${ci}, ${n})`;
/**
 * A database of about `totalSnapshots` snapshots: the target and conversations of 200. A snapshot
 * holds 8 blocks: its conversation's shared path of 7 and one of its own (a fan-out), so a page of
 * 200 needs 207 nodes, as the first release's windows did. Hashes and chains are stand-ins.
 */
function readDatabaseSql(totalSnapshots: number): string {
  const others = Math.max(0, Math.round((totalSnapshots - TARGET.snapshots) / OTHER_CONVERSATION_SNAPSHOTS));
  const blockId = `c.conv_id || '-b' || printf('%06d', s.n)`;
  const turnId = `c.conv_id || '-t' || printf('%06d', s.n / ${PHASES.length})`;
  const runtime = caseOf(`(s.n / 40) % ${RUNTIMES.length}`, RUNTIMES);
  const inference = `'inf-' || c.ci || '-' || (s.n / ${PHASES.length})`;
  const at = `${BASE_MS} + c.ci * 7 + s.n * 1000`;
  return `
${sequenceTable("seq", TARGET.snapshots + BLOCKS_PER_SNAPSHOT)}
CREATE TEMP TABLE conv(ci INTEGER PRIMARY KEY, conv_id TEXT, session_id TEXT, snaps INTEGER);
INSERT INTO conv VALUES (0, ${sqlString(TARGET.convId)}, ${sqlString(TARGET.sessionId)}, ${TARGET.snapshots});
INSERT INTO conv SELECT n + 1, 'conv-' || printf('%06d', n + 1), 'sess-' || printf('%06d', n + 1), ${OTHER_CONVERSATION_SNAPSHOTS}
FROM (WITH RECURSIVE r(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM r WHERE n < ${others - 1}) SELECT n FROM r WHERE n < ${others});
INSERT INTO blocks (block_id, content_hash, hash_algorithm, kind, role, payload_json, block_metadata_json, first_seen_at_ms, ref_count)
SELECT ${blockId}, ${hashOf(blockId)}, 'sha256-canonical-json-v1',
  ${caseOf("s.n % 4", ["user", "llm_text", "tool_call", "tool_use"])},
  CASE s.n % 4 WHEN 0 THEN 'user' ELSE 'assistant' END,
  json_object('text', 'block ' || s.n || ' of ' || c.conv_id || ': ' || substr(${sqlString(LOREM)}, 1, 100 + s.n % 120)),
  '{}', ${at}, 1
FROM conv AS c JOIN seq AS s ON s.n < c.snaps + ${SHARED_PREFIX_BLOCKS}
ORDER BY c.ci, s.n;
-- Block n sits on node n: nodes 0..${SHARED_PREFIX_BLOCKS - 1} are the shared path, every later node a child of its last.
INSERT INTO block_nodes (conv_id, chain, parent_chain, depth, block_id, content_hash, extra_json)
SELECT c.conv_id, ${chainOf("c.ci", "s.n")},
  CASE WHEN s.n = 0 THEN '' WHEN s.n < ${SHARED_PREFIX_BLOCKS} THEN ${chainOf("c.ci", "s.n - 1")} ELSE ${chainOf("c.ci", String(SHARED_PREFIX_BLOCKS - 1))} END,
  min(s.n + 1, ${BLOCKS_PER_SNAPSHOT}), ${blockId}, ${hashOf(blockId)}, ''
FROM conv AS c JOIN seq AS s ON s.n < c.snaps + ${SHARED_PREFIX_BLOCKS}
ORDER BY c.ci, s.n;
-- Their turns are rolled up by the snapshot insert's triggers (drizzle/0009, 0010), as for every write.
INSERT INTO turn_snapshots (id, conv_id, session_id, turn_id, phase, created_at_ms, runtime_key, inference_id,
  turn_metadata_json, turn_data_json, tip_chain, block_count)
SELECT 1, c.conv_id, c.session_id, ${turnId}, ${caseOf(`s.n % ${PHASES.length}`, PHASES)}, ${at}, ${runtime}, ${inference},
  json_object('geppetto.runtime@v1', json_object('runtime_key', ${runtime}), 'geppetto.inference_id@v1', ${inference},
    'geppetto.session_id@v1', c.session_id),
  '{}', ${chainOf("c.ci", `s.n + ${SHARED_PREFIX_BLOCKS}`)}, ${BLOCKS_PER_SNAPSHOT}
FROM conv AS c JOIN seq AS s ON s.n < c.snaps
ORDER BY c.ci, s.n;
INSERT INTO conversations (conv_id, session_id, current_runtime_key, current_runtime_at_ms, created_at_ms, last_activity_ms,
  turn_count, snapshot_count)
SELECT c.conv_id, c.session_id, 'planner', ${BASE_MS} + c.ci * 7 + (c.snaps - 1) * 1000, ${BASE_MS} + c.ci * 7,
  ${BASE_MS} + c.ci * 7 + (c.snaps - 1) * 1000, c.snaps / ${PHASES.length}, c.snaps
FROM conv AS c;
`;
}

const LIST = [`/api/debug/turns?conv_id=${encodeURIComponent(TARGET.convId)}&limit=200`, 200] as const;
const DETAIL = [`/api/debug/turn/${TARGET.convId}/${TARGET.sessionId}/${TARGET.turnId}`, 4] as const;
const { convId, sessionId, turnId } = TARGET;
const QUERIES: Array<{ label: string; filter: SnapshotFilter }> = [
  { label: "conversation page, limit 50", filter: { convId, limit: 50 } },
  { label: "conversation page, limit 200 (the timed request)", filter: { convId, limit: 200 } },
  { label: "conversation page, limit 1000", filter: { convId, limit: 1000 } },
  // The turn route asks for up to 1000 snapshots of the turn (MAX_LIMIT).
  { label: "turn detail (4 snapshots)", filter: { convId, sessionId, turnId, limit: 1000 } },
  // Without the by-phase and by-session indexes (issue 17): a walk skipping phases; a session read and sorted.
  { label: "phase filter (final) within the conversation, limit 200", filter: { convId, phase: "final", limit: 200 } },
  { label: "session filter without conv_id, limit 200", filter: { sessionId, limit: 200 } },
];

/** Runs of each query: medians (D1's time: the mean — meta.duration comes in whole milliseconds locally). */
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
    const warm = await listSnapshots(local.db, QUERIES[1]!.filter);
    const yamls = warm.records.map((r) => turnToYaml(r.turn));
    JSON.stringify(await listResponse(warm, yamls));
    const out = [];
    for (const { label, filter } of QUERIES) {
      const runs = [];
      for (let i = 0; i < RUNS; i++) {
        recorder.reset();
        const page = await listSnapshots(recorder.db, filter);
        // The same call again on D1's recorded answers: what listSnapshots itself does with them.
        const started = performance.now();
        await listSnapshots(replayD1(recorder.batches), filter);
        const decodeMs = performance.now() - started;
        const { statements, roundTrips } = recorder;
        runs.push({ page, statements: statements.length, roundTrips, sqlMs: sum(statements.map((st) => st.durationMs)), decodeMs });
      }
      const page = runs[0]!.page;
      const [yaml, serialize] = [[], []] as [number[], number[]];
      for (let i = 0; i < RUNS; i++) {
        const started = performance.now();
        const items = page.records.map((r) => turnToYaml(r.turn));
        yaml.push(performance.now() - started);
        JSON.stringify(await listResponse(page, items));
        serialize.push(performance.now() - started);
      }
      const { statements, roundTrips } = runs[0]!;
      const [sqlMs, decodeMs] = [sum(runs.map((r) => r.sqlMs)) / runs.length, median(runs.map((r) => r.decodeMs))];
      const [limit, records, rowsRead] = [filter.limit, page.records.length, page.rowsRead];
      const [yamlMs, serializeMs] = [median(yaml), median(serialize)];
      out.push({ label, limit, records, rowsRead, statements, roundTrips, sqlMs, decodeMs, yamlMs, serializeMs });
    }
    return out;
  } finally {
    await local.close();
  }
}

type Costs = Awaited<ReturnType<typeof measureQueries>>;
export async function measureReads(b: Bench, o: { sizes: number[]; requests: number; warmup: number }) {
  const generated: Array<{ snapshots: number; dir: string; generateSeconds: number; fileBytes: number; costs: Costs }> = [];
  try {
    for (const snapshots of o.sizes) {
      const dir = copyDatabase(b.migrated, b.dirFor(`read-${snapshots}`));
      const t = performance.now();
      bulkLoad(d1File(dir), readDatabaseSql(snapshots));
      const generateSeconds = (performance.now() - t) / 1000;
      b.log(`  ${snapshots} snapshots generated in ${generateSeconds.toFixed(1)} s`);
      generated.push({ snapshots, dir, generateSeconds, fileBytes: statSync(d1File(dir)).size, costs: await measureQueries(dir) });
    }
    const servers: DevServer[] = [];
    let latency: Awaited<ReturnType<typeof alternate>>;
    try {
      for (const db of generated) servers.push(await b.serve(db.dir));
      const targets = servers.flatMap((server) => [LIST, DETAIL].map(([path, expectItems]) => ({ server, path, expectItems })));
      latency = await alternate(targets, b.tokens.debug, o.warmup, o.requests);
    } finally {
      for (const server of servers) await b.stop(server);
    }
    const timing = (t: (typeof latency)[number]) => ({ medianMs: t.medianMs, p90Ms: t.p90Ms, responseBytes: t.bytes });
    const page = QUERIES.findIndex((q) => q.filter.limit === 200 && q.filter.convId && !q.filter.phase);
    const databases = generated.map(({ snapshots, fileBytes, generateSeconds, costs }, k) => {
      const nodes = snapshots + (snapshots / OTHER_CONVERSATION_SNAPSHOTS) * SHARED_PREFIX_BLOCKS;
      const [list, detail] = [timing(latency[2 * k]!), timing(latency[2 * k + 1]!)];
      return { snapshots, nodes, fileBytes, generateSeconds, pageRowsRead: costs[page]!.rowsRead, list, detail };
    });
    const multipleSizes = databases.length > 1;
    const ratioOf = (f: (d: (typeof databases)[number]) => number) => (multipleSizes ? f(databases.at(-1)!) / f(databases[0]!) : null);
    const latencyRatio = ratioOf((d) => d.list.medianMs);
    const of = (i: number, f: (q: Costs[number]) => number) => generated.map((db) => f(db.costs[i]!));
    return {
      target: {
        ...{ snapshots: TARGET.snapshots, otherConversationSnapshots: OTHER_CONVERSATION_SNAPSHOTS },
        blocksPerSnapshot: BLOCKS_PER_SNAPSHOT,
        ...{ sharedPrefixBlocks: SHARED_PREFIX_BLOCKS, pageNodes: 200 + SHARED_PREFIX_BLOCKS },
      },
      ...{ requests: o.requests, warmup: o.warmup, databases },
      queries: generated[0]!.costs.map((c, i) => ({ ...c, rowsRead: of(i, (q) => q.rowsRead), sqlMs: of(i, (q) => q.sqlMs) })),
      multipleSizes,
      sameRowsRead: generated.every((db) => db.costs.every((c, i) => c.rowsRead === generated[0]!.costs[i]!.rowsRead)),
      ...{ latencyRatio, detailLatencyRatio: ratioOf((d) => d.detail.medianMs) },
      latencyMet: latencyRatio === null ? null : latencyRatio <= TARGETS.readLatencyRatio,
    };
  } finally {
    for (const db of generated) rmSync(db.dir, { recursive: true, force: true });
  }
}

export type ReadFigures = Awaited<ReturnType<typeof measureReads>>;
