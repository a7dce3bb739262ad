/**
 * Read cost that does not grow with the database (issue 7 §3) and the peer anchor (issue 17).
 *
 * The same target conversation (2000 snapshots) sits in databases of different total size. For each:
 * - rows read, statements and round trips of the debug reads, from D1's meta, by calling the store
 *   function the debug routes call (listSnapshots) through a recording binding (getPlatformProxy),
 *   and where a page's time goes: D1's execution (meta.duration), turning rows into turns, and
 *   serializing the response as the route does (YAML per snapshot, then the JSON envelope);
 * - latency over HTTP on `wrangler dev`: all servers run at once and requests alternate between
 *   them, one at a time, so every size sees the same machine conditions.
 */
import { encodeCursor } from "../src/http/cursor";
import { turnListBody } from "../src/routes/debug/debug.wire";
import { listSnapshots, type SnapshotFilter, type SnapshotPage } from "../src/store/snapshot-reads";
import { turnToYaml } from "../src/turn/turn";
import type { DevServer } from "../tools/wrangler-dev";
import { capturingD1, recordingD1, replayD1 } from "./counting-d1";
import { TARGET } from "./read-database";
import { median, percentile, sum } from "./stats";
import { openLocalD1 } from "./write-path";

export interface ReadQueryCost {
  label: string;
  limit: number;
  records: number;
  rowsRead: number;
  statements: number;
  roundTrips: number;
  /**
   * D1's execution time of the statements (meta.duration summed), ms: the mean of the runs — locally
   * meta.duration comes in whole milliseconds, and the mean of several runs resolves fractions.
   */
  sqlMs: number;
  /** The batch's round trip as seen from Node (through wrangler's proxy: transfer included), median, ms. */
  roundTripMs: number;
  /** listSnapshots on D1's recorded answers (no I/O): rows → turns (JSON.parse of stored texts, path walks), median, ms. */
  decodeMs: number;
  /** Serializing the returned snapshots as YAML (turnToYaml, as the routes do), median, ms. */
  yamlMs: number;
  /** The whole response as the list route builds it: YAML per snapshot, then JSON.stringify of the envelope, median, ms. */
  serializeMs: number;
  responseBytes: number;
}

export interface ReadDatabase {
  snapshots: number;
  persistTo: string;
  generateSeconds: number;
  fileBytes: number;
}

export interface ReadLatency {
  snapshots: number;
  listMedianMs: number;
  listP90Ms: number;
  detailMedianMs: number;
  detailP90Ms: number;
  listResponseBytes: number;
  detailResponseBytes: number;
}

export const LIST_PATH = `/api/debug/turns?conv_id=${encodeURIComponent(TARGET.convId)}&limit=200`;
export const DETAIL_PATH = `/api/debug/turn/${TARGET.convId}/${TARGET.sessionId}/${TARGET.turnId}`;

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

/** Runs of each query; medians are reported (D1's time: the mean, see sqlMs). */
const RUNS = 7;

export async function measureReadQueries(persistTo: string): Promise<ReadQueryCost[]> {
  const local = await openLocalD1(persistTo);
  try {
    const recorder = recordingD1(local.db);
    const out: ReadQueryCost[] = [];
    // Warm-up (not recorded): the JIT sees reading, YAML and JSON once before anything is timed.
    const warm = await listSnapshots(local.db, QUERIES[1]!.filter);
    JSON.stringify(
      await listResponse(
        warm,
        warm.records.map((r) => turnToYaml(r.turn)),
      ),
    );
    for (const { label, filter } of QUERIES) {
      const runs: Array<{
        page: SnapshotPage;
        statements: number;
        roundTrips: number;
        sqlMs: number;
        roundTripMs: number;
        decodeMs: number;
      }> = [];
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
          roundTripMs: sum(recorder.roundTripMs),
          decodeMs,
        });
      }
      const page = runs[0]!.page;
      const yaml: number[] = [];
      const serialize: number[] = [];
      let responseBytes = 0;
      for (let i = 0; i < RUNS; i++) {
        const started = performance.now();
        const items = page.records.map((r) => turnToYaml(r.turn));
        yaml.push(performance.now() - started);
        const text = JSON.stringify(await listResponse(page, items));
        serialize.push(performance.now() - started);
        responseBytes = Buffer.byteLength(text);
      }
      out.push({
        label,
        limit: filter.limit,
        records: page.records.length,
        rowsRead: page.rowsRead,
        statements: runs[0]!.statements,
        roundTrips: runs[0]!.roundTrips,
        sqlMs: sum(runs.map((r) => r.sqlMs)) / runs.length,
        roundTripMs: median(runs.map((r) => r.roundTripMs)),
        decodeMs: median(runs.map((r) => r.decodeMs)),
        yamlMs: median(yaml),
        serializeMs: median(serialize),
        responseBytes,
      });
    }
    return out;
  } finally {
    await local.dispose();
  }
}

/** The list route's response body (turnListBody, as listTurnsHandler builds it), for timing its serialization. */
async function listResponse(page: SnapshotPage, payloads: string[]) {
  const nextCursor = page.next ? await encodeCursor("bench-debug-token", ["turns", { convId: TARGET.convId }], page.next) : null;
  return turnListBody({ conv_id: TARGET.convId }, page.records, (_, i) => ({ payload: payloads[i] }), nextCursor);
}

async function timedGet(server: DevServer, path: string, token: string, expectItems: number): Promise<{ ms: number; bytes: number }> {
  const started = performance.now();
  const res = await fetch(server.url + path, { headers: { authorization: `Bearer ${token}` } });
  const text = await res.text();
  const ms = performance.now() - started;
  if (res.status !== 200) throw new Error(`GET ${path} answered ${res.status}: ${text.slice(0, 300)}`);
  const items = (JSON.parse(text) as { items: unknown[] }).items.length;
  if (items !== expectItems) throw new Error(`GET ${path} returned ${items} items, expected ${expectItems}`);
  return { ms, bytes: Buffer.byteLength(text) };
}

/** Alternates requests between the servers (one database size each), `requests` timed per route and size. */
export async function measureReadLatency(
  servers: Array<{ snapshots: number; server: DevServer }>,
  token: string,
  requests: number,
  warmup: number,
): Promise<ReadLatency[]> {
  const list = servers.map(() => [] as number[]);
  const detail = servers.map(() => [] as number[]);
  const bytes = servers.map(() => ({ list: 0, detail: 0 }));
  for (let i = 0; i < warmup + requests; i++) {
    for (const [k, { server }] of servers.entries()) {
      const l = await timedGet(server, LIST_PATH, token, 200);
      const d = await timedGet(server, DETAIL_PATH, token, 4);
      bytes[k] = { list: l.bytes, detail: d.bytes };
      if (i < warmup) continue;
      list[k]!.push(l.ms);
      detail[k]!.push(d.ms);
    }
  }
  return servers.map(({ snapshots }, k) => ({
    snapshots,
    listMedianMs: median(list[k]!),
    listP90Ms: percentile(list[k]!, 90),
    detailMedianMs: median(detail[k]!),
    detailP90Ms: percentile(detail[k]!, 90),
    listResponseBytes: bytes[k]!.list,
    detailResponseBytes: bytes[k]!.detail,
  }));
}
