/** Requests to the bench's `wrangler dev` servers (autocannon runs, GETs timed one at a time), and what every section gets. */
import autocannon from "autocannon";
import type { DevOptions, DevServer } from "../tools/wrangler-dev";
import { median, percentile } from "./stats";

/** What index.ts hands each section: its folders, the migrated database, servers on free ports, tokens, the log. */
export interface Bench {
  dirFor: (name: string) => string;
  migrated: string;
  tokens: { ingest: string; debug: string; admin: string };
  /** wrangler dev on a prepared database, with the tokens and RATE_LIMITS=off (more vars, another entry or config: options). */
  serve: (persistTo: string, options?: Pick<DevOptions, "entry" | "config" | "vars" | "onLine">) => Promise<DevServer>;
  stop: (server: DevServer) => Promise<void>;
  log: (message: string) => void;
}

/** The Worker's write log line (src/http/write-log.ts), as far as the bench reads it. */
type Counts = { refused?: number; batches?: number; rows_written?: number; duration_ms?: number };
export type WriteLog = Counts & { route: string; status: number; code?: string | null; conversations?: string[]; snapshots?: unknown[] };

/** The write log line (`"event":"write"`) in a line wrangler dev printed, or null. */
export function writeLogOf(line: string): WriteLog | null {
  const start = line.indexOf('{"level"');
  if (start < 0 || !line.includes('"event":"write"')) return null;
  try {
    return JSON.parse(line.slice(start));
  } catch {
    return null; // a line that only looked like one
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const auth = (token: string) => ({ authorization: `Bearer ${token}` });

type Hammer = { path: string; headers: Record<string, string>; next: () => string | Buffer; seconds: number; connections: number };
/** POSTs `next()` bodies to `path` for `seconds` on `connections` (bounded in count too): answers by status, transport errors, p50 latency. */
export async function hammer(server: DevServer, h: Hammer) {
  const result = await autocannon({
    ...{ url: server.url, connections: h.connections, duration: h.seconds, maxOverallRequests: 100_000, timeout: 20 },
    requests: [{ method: "POST", path: h.path, headers: h.headers, setupRequest: (request) => ({ ...request, body: h.next() as string }) }],
  });
  const statuses = Object.fromEntries(
    Object.entries(result.statusCodeStats as Record<string, { count: number }>).map(([code, { count }]) => [code, count]),
  );
  return { seconds: result.duration, statuses, errors: result.errors, p50Ms: result.latency.p50 };
}

/** GET with a bearer token, timed to the last byte of the body; anything but 200 (or another item count) throws. */
export async function timedGet(url: string, token: string, expectItems?: number) {
  const started = performance.now();
  const res = await fetch(url, { headers: auth(token) });
  const text = await res.text();
  const ms = performance.now() - started;
  if (res.status !== 200) throw new Error(`GET ${url} answered ${res.status}: ${text.slice(0, 300)}`);
  const items = (JSON.parse(text) as { items: unknown[] }).items.length;
  if (expectItems !== undefined && items !== expectItems) throw new Error(`GET ${url} returned ${items} items, expected ${expectItems}`);
  return { ms, bytes: Buffer.byteLength(text), items };
}

/** Times every target, one request at a time in turn (so all see the same machine), after `warmup` untimed rounds. */
type Target = { server: DevServer; path: string; expectItems?: number };
export async function alternate(targets: Target[], token: string, warmup: number, requests: number) {
  const samples = targets.map(() => [] as number[]);
  const last = targets.map(() => ({ bytes: 0, items: 0 }));
  for (let i = 0; i < warmup + requests; i++) {
    for (const [k, t] of targets.entries()) {
      const r = await timedGet(t.server.url + t.path, token, t.expectItems);
      last[k] = { bytes: r.bytes, items: r.items };
      if (i >= warmup) samples[k]!.push(r.ms);
    }
  }
  return targets.map((_, k) => ({ ...last[k]!, medianMs: median(samples[k]!), p90Ms: percentile(samples[k]!, 90) }));
}

/** Each variant once as a warm-up (round 0), then `rounds` rounds in a rotated order; each variant's runs, warm-up left out. */
export async function rotatedRounds<T>(count: number, rounds: number, run: (variant: number, round: number) => Promise<T>): Promise<T[][]> {
  for (let v = 0; v < count; v++) await run(v, 0);
  const out = Array.from({ length: count }, () => [] as T[]);
  for (let round = 1; round <= rounds; round++) {
    for (let k = 0; k < count; k++) out[(k + round - 1) % count]!.push(await run((k + round - 1) % count, round));
  }
  return out;
}
