/**
 * Read cost that does not grow with the database (issue 7 §3) and the peer anchor (§6).
 *
 * The same target conversation (2000 snapshots) sits in databases of different total size. For each:
 * - rows read, statements and round trips of the debug reads, from D1's meta, by calling the store
 *   function the debug routes call (listSnapshots) through a recording binding (getPlatformProxy);
 * - latency over HTTP on `wrangler dev`: all servers run at once and requests alternate between
 *   them, one at a time, so every size sees the same machine conditions.
 */
import { join } from "node:path";
import { getPlatformProxy } from "wrangler";
import { listSnapshots, type SnapshotFilter } from "../../src/store/snapshot-reads";
import { turnToYaml } from "../../src/turn/turn";
import { ROOT, type DevServer } from "../lib/wrangler-dev";
import { recordingD1 } from "./counting-d1";
import { TARGET } from "./read-database";
import { median, percentile } from "./stats";

export interface ReadQueryCost {
  label: string;
  limit: number;
  records: number;
  rowsRead: number;
  statements: number;
  roundTrips: number;
  /** D1's execution time of the statements (meta.duration), ms. */
  sqlMs: number;
  /** Serializing the returned snapshots as YAML (turnToYaml, as the routes do), in Node, median of 5, ms. */
  yamlMs: number;
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
  { label: "turn detail (4 snapshots)", filter: { convId: TARGET.convId, sessionId: TARGET.sessionId, turnId: TARGET.turnId, limit: 1000 } },
];

export async function measureReadQueries(persistTo: string): Promise<ReadQueryCost[]> {
  const proxy = await getPlatformProxy<{ DB: D1Database }>({
    configPath: join(ROOT, "wrangler.toml"),
    persist: { path: join(persistTo, "v3") },
  });
  try {
    const recorder = recordingD1(proxy.env.DB);
    const out: ReadQueryCost[] = [];
    for (const { label, filter } of QUERIES) {
      recorder.reset();
      const page = await listSnapshots(recorder.db, filter);
      const yamlRuns = Array.from({ length: 5 }, () => {
        const started = performance.now();
        for (const record of page.records) turnToYaml(record.turn);
        return performance.now() - started;
      });
      out.push({
        label,
        limit: filter.limit,
        records: page.records.length,
        rowsRead: page.rowsRead,
        statements: recorder.statements.length,
        roundTrips: recorder.roundTrips,
        sqlMs: recorder.statements.reduce((a, st) => a + st.durationMs, 0),
        yamlMs: median(yamlRuns),
      });
    }
    return out;
  } finally {
    await proxy.dispose();
  }
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
