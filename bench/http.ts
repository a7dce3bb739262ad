/** Requests to the bench's `wrangler dev` servers: autocannon runs, and GETs timed one at a time. */
import autocannon from "autocannon";
import type { DevServer } from "../tools/wrangler-dev";
import { median, percentile } from "./stats";

export interface Hammer {
  path: string;
  headers: Record<string, string>;
  /** The body of each request (a new one every time). */
  next: () => string | Buffer;
  seconds: number;
  connections: number;
}

/** POSTs for `seconds` on `connections` (bounded in count too): answers by status, transport errors, p50 latency. */
export async function hammer(server: DevServer, h: Hammer) {
  const result = await autocannon({
    url: server.url,
    connections: h.connections,
    duration: h.seconds,
    maxOverallRequests: 100_000,
    timeout: 20,
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
  const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
  const text = await res.text();
  const ms = performance.now() - started;
  if (res.status !== 200) throw new Error(`GET ${url} answered ${res.status}: ${text.slice(0, 300)}`);
  const items = (JSON.parse(text) as { items: unknown[] }).items.length;
  if (expectItems !== undefined && items !== expectItems) throw new Error(`GET ${url} returned ${items} items, expected ${expectItems}`);
  return { ms, bytes: Buffer.byteLength(text), items };
}

/** Times every target, one request at a time in turn (so all see the same machine), after `warmup` untimed rounds. */
export async function alternate(
  targets: Array<{ server: DevServer; path: string; expectItems?: number }>,
  token: string,
  warmup: number,
  requests: number,
) {
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
