/**
 * A growing conversation (issue 13): one geppetto-style conversation of T turns — every snapshot
 * carrying the whole history, 3 snapshots per turn, ~2.7 new blocks per turn — in two variants
 * (short texts; 4 KB tool results). Each (variant, T) gets its own local D1 database and its own
 * `wrangler dev`.
 *
 * Writes are real requests: POST /api/turns over HTTP with the bodies the frontend client sends
 * (the first snapshot in full, then deltas: prefix + new blocks; conversation.ts, checked against
 * the real client first). D1's rows_written per request comes from the Worker's own write log line
 * (`"event":"write"`, its saveSnapshots' meta). The conversations are written concurrently, each in
 * order. Then the conversation's `payload=none` page (and, for the short variant, its page with
 * payloads) is timed over HTTP, requests alternating between the servers; last, the servers stop
 * and each database file is measured (page_count × page_size, and per table with dbstat).
 */
import { rmSync } from "node:fs";
import type { DevServer } from "../tools/wrangler-dev";
import { checkAgainstClient, postedConversation } from "./conversation";
import { copyDatabase, d1File, sqlite3 } from "./databases";
import { median, percentile, sum } from "./stats";

export interface GrowingVariant {
  key: "short" | "tool4k";
  label: string;
  toolResultChars?: number;
  /** Whether the page with payloads is timed too (the first release's figures are for it). */
  fullPage: boolean;
}

export const GROWING_VARIANTS: GrowingVariant[] = [
  { key: "short", label: "short texts", fullPage: true },
  { key: "tool4k", label: "4 KB tool results", toolResultChars: 4096, fullPage: false },
];

/** Snapshots checked against the real client before each variant is written. */
const CLIENT_CHECK_SNAPSHOTS = 60;
export const SUMMARY_LIMIT = 200;

export interface PageTiming {
  path: string;
  items: number;
  bytes: number;
  medianMs: number;
  p90Ms: number;
  samples: number;
}

export interface GrowingPoint {
  turns: number;
  snapshots: number;
  /** Blocks of the last snapshot (= distinct blocks of the conversation). */
  blocks: number;
  /** page_count × page_size of the database file, and that minus the empty (migrated) database. */
  fileBytes: number;
  dataBytes: number;
  /** dataBytes per table (its indexes included), from dbstat, minus the empty database's. */
  tableBytes: Record<string, number>;
  /** Bytes of the stored block contents (payload_json + block_metadata_json). */
  uniqueBlockBytes: number;
  /** Means over the conversation's snapshots. */
  fullRequestBytes: number;
  deltaRequestBytes: number;
  /** D1's meta.rows_written, from the Worker's write log. */
  rowsWritten: number;
  /** Means over the last turn's three snapshots: what one more snapshot costs at this length. */
  lastTurn: { fullRequestBytes: number; deltaRequestBytes: number; rowsWritten: number };
  /** Wall time of writing the conversation (concurrently with the others). */
  writeSeconds: number;
  persistTo: string;
  summaryPage: PageTiming | null;
  fullPage: PageTiming | null;
}

export interface GrowingVariantResult extends GrowingVariant {
  points: Array<GrowingPoint & { convId: string }>;
}

export interface GrowingResult {
  turns: number[];
  emptyFileBytes: number;
  clientChecked: number;
  requests: number;
  fullPageRequests: number;
  warmup: number;
  variants: GrowingVariantResult[];
}

export interface GrowingOptions {
  turns: number[];
  requests: number;
  fullPageRequests: number;
  warmup: number;
  tokens: { ingest: string; debug: string };
  /** Starts wrangler dev on a database (onLine: its stdout lines). */
  serve: (persistTo: string, onLine: (line: string) => void) => Promise<DevServer>;
  stop: (server: DevServer) => Promise<void>;
  log: (message: string) => void;
}

/** page_count × page_size, and bytes per table (with its indexes) from dbstat. Only while no wrangler process has the file open. */
export function databaseBytes(file: string): { fileBytes: number; tables: Record<string, number> } {
  const [pageCount, pageSize] = sqlite3(file, "PRAGMA page_count;\nPRAGMA page_size;").trim().split("\n").map(Number);
  const rows = sqlite3(
    file,
    "SELECT coalesce(m.tbl_name, s.name), sum(s.pgsize) FROM dbstat AS s LEFT JOIN sqlite_master AS m ON m.name = s.name GROUP BY 1;",
  );
  const tables: Record<string, number> = {};
  for (const line of rows.trim().split("\n")) {
    const [name, bytes] = line.split("|");
    if (name) tables[name] = Number(bytes);
  }
  return { fileBytes: pageCount! * pageSize!, tables };
}

interface Writer {
  variant: GrowingVariant;
  turns: number;
  convId: string;
  dir: string;
  server: DevServer | null;
  /** rows_written of each write log line, in order. */
  logged: number[];
}

/** One conversation, snapshot after snapshot, as the client posts it. */
async function writeConversation(
  w: Writer,
  token: string,
): Promise<Omit<GrowingPoint, "fileBytes" | "dataBytes" | "tableBytes" | "uniqueBlockBytes" | "summaryPage" | "fullPage">> {
  const started = performance.now();
  const bytes: Array<{ full: number; delta: number }> = [];
  let blocks = 0;
  for await (const s of postedConversation({ convId: w.convId, turns: w.turns, toolResultChars: w.variant.toolResultChars })) {
    const res = await fetch(`${w.server!.url}/api/turns`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: s.body,
    });
    const text = await res.text();
    if (res.status !== 201) throw new Error(`${w.convId} snapshot ${s.index} (${s.sent}): ${res.status} ${text.slice(0, 300)}`);
    bytes.push({ full: s.fullBytes, delta: s.deltaBytes });
    blocks = s.blockCount;
  }
  const writeSeconds = (performance.now() - started) / 1000;
  // The log lines trail the responses a little.
  for (let i = 0; i < 100 && w.logged.length < bytes.length; i++) await new Promise((r) => setTimeout(r, 100));
  if (w.logged.length !== bytes.length)
    throw new Error(`${w.convId}: ${bytes.length} snapshots written but ${w.logged.length} write log lines`);
  const last = bytes.slice(-3);
  const lastRows = w.logged.slice(-3);
  return {
    turns: w.turns,
    snapshots: bytes.length,
    blocks,
    fullRequestBytes: sum(bytes.map((b) => b.full)) / bytes.length,
    deltaRequestBytes: sum(bytes.map((b) => b.delta)) / bytes.length,
    rowsWritten: sum(w.logged) / w.logged.length,
    lastTurn: {
      fullRequestBytes: sum(last.map((b) => b.full)) / last.length,
      deltaRequestBytes: sum(last.map((b) => b.delta)) / last.length,
      rowsWritten: sum(lastRows) / lastRows.length,
    },
    writeSeconds,
    persistTo: w.dir,
  };
}

/** The Worker's write log line (src/routes/ingest/ingest.handlers.ts logWrite): its rows_written, or null for any other line. */
export function writeLogRows(line: string): number | null {
  if (!line.startsWith("{") || !line.includes('"event":"write"')) return null;
  try {
    const entry = JSON.parse(line) as { event?: string; rows_written?: number };
    return entry.event === "write" && typeof entry.rows_written === "number" ? entry.rows_written : null;
  } catch {
    return null;
  }
}

async function timedGet(url: string, token: string): Promise<{ ms: number; bytes: number; items: number }> {
  const started = performance.now();
  const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
  const text = await res.text();
  const ms = performance.now() - started;
  if (res.status !== 200) throw new Error(`GET ${url} answered ${res.status}: ${text.slice(0, 300)}`);
  return { ms, bytes: Buffer.byteLength(text), items: (JSON.parse(text) as { items: unknown[] }).items.length };
}

export function summaryPath(convId: string): string {
  return `/api/debug/turns?conv_id=${encodeURIComponent(convId)}&limit=${SUMMARY_LIMIT}&payload=none`;
}
export function fullPagePath(convId: string): string {
  return `/api/debug/turns?conv_id=${encodeURIComponent(convId)}&limit=${SUMMARY_LIMIT}`;
}

/** Times `path` on every server, alternating between them one request at a time. */
async function alternate(
  targets: Array<{ server: DevServer; path: string; expectItems?: number }>,
  token: string,
  warmup: number,
  requests: number,
): Promise<PageTiming[]> {
  const samples = targets.map(() => [] as number[]);
  const last = targets.map(() => ({ bytes: 0, items: 0 }));
  for (let i = 0; i < warmup + requests; i++) {
    for (const [k, t] of targets.entries()) {
      const r = await timedGet(t.server.url + t.path, token);
      if (t.expectItems !== undefined && r.items !== t.expectItems)
        throw new Error(`GET ${t.path} returned ${r.items} items, expected ${t.expectItems}`);
      last[k] = { bytes: r.bytes, items: r.items };
      if (i >= warmup) samples[k]!.push(r.ms);
    }
  }
  return targets.map((t, k) => ({
    path: t.path,
    items: last[k]!.items,
    bytes: last[k]!.bytes,
    medianMs: median(samples[k]!),
    p90Ms: percentile(samples[k]!, 90),
    samples: requests,
  }));
}

export async function measureGrowing(dirFor: (name: string) => string, template: string, options: GrowingOptions): Promise<GrowingResult> {
  const empty = databaseBytes(d1File(template));
  let clientChecked = 0;
  for (const variant of GROWING_VARIANTS) {
    clientChecked += await checkAgainstClient(
      { convId: `check-${variant.key}`, turns: 30, toolResultChars: variant.toolResultChars },
      CLIENT_CHECK_SNAPSHOTS,
    );
  }
  const writers: Writer[] = GROWING_VARIANTS.flatMap((variant) =>
    options.turns.map((turns) => ({
      variant,
      turns,
      convId: `grow-${variant.key}-t${turns}`,
      dir: copyDatabase(template, dirFor(`growing-${variant.key}-t${turns}`)),
      server: null,
      logged: [] as number[],
    })),
  );
  const points = new Map<Writer, GrowingPoint>();
  try {
    for (const w of writers) {
      w.server = await options.serve(w.dir, (line) => {
        const rows = writeLogRows(line);
        if (rows !== null) w.logged.push(rows);
      });
    }
    options.log(`  ${writers.length} servers up; writing ${writers.length} conversations (each in order, all at once)`);
    const written = await Promise.all(writers.map((w) => writeConversation(w, options.tokens.ingest)));
    writers.forEach((w, k) =>
      points.set(w, { ...written[k]!, fileBytes: 0, dataBytes: 0, tableBytes: {}, uniqueBlockBytes: 0, summaryPage: null, fullPage: null }),
    );
    options.log(
      `  written (${writers.map((w, k) => `${w.variant.key} T=${w.turns} ${written[k]!.writeSeconds.toFixed(0)} s`).join(", ")}); timing the pages`,
    );

    const summary = await alternate(
      writers.map((w) => ({
        server: w.server!,
        path: summaryPath(w.convId),
        expectItems: Math.min(SUMMARY_LIMIT, points.get(w)!.snapshots),
      })),
      options.tokens.debug,
      options.warmup,
      options.requests,
    );
    writers.forEach((w, k) => (points.get(w)!.summaryPage = summary[k]!));
    const withPayloads = writers.filter((w) => w.variant.fullPage);
    const full = await alternate(
      withPayloads.map((w) => ({ server: w.server!, path: fullPagePath(w.convId) })),
      options.tokens.debug,
      1,
      options.fullPageRequests,
    );
    withPayloads.forEach((w, k) => (points.get(w)!.fullPage = full[k]!));
  } finally {
    for (const w of writers) if (w.server) await options.stop(w.server);
  }

  // The databases, closed.
  for (const w of writers) {
    const point = points.get(w)!;
    const file = d1File(w.dir);
    const { fileBytes, tables } = databaseBytes(file);
    point.fileBytes = fileBytes;
    point.dataBytes = fileBytes - empty.fileBytes;
    point.tableBytes = Object.fromEntries(
      Object.entries(tables)
        .map(([t, b]) => [t, b - (empty.tables[t] ?? 0)] as const)
        .filter(([, b]) => b !== 0),
    );
    point.uniqueBlockBytes = Number(
      sqlite3(
        file,
        "SELECT coalesce(sum(length(CAST(payload_json AS BLOB)) + length(CAST(block_metadata_json AS BLOB))), 0) FROM blocks;",
      ).trim(),
    );
  }
  const largest = Math.max(...options.turns);
  for (const w of writers) if (!(w.variant.key === "short" && w.turns === largest)) rmSync(w.dir, { recursive: true, force: true });
  return {
    turns: options.turns,
    emptyFileBytes: empty.fileBytes,
    clientChecked,
    requests: options.requests,
    fullPageRequests: options.fullPageRequests,
    warmup: options.warmup,
    variants: GROWING_VARIANTS.map((variant) => ({
      ...variant,
      points: writers.filter((w) => w.variant === variant).map((w) => ({ ...points.get(w)!, convId: w.convId })),
    })),
  };
}

/** The database the deletion section starts from: the short variant's longest conversation (kept by measureGrowing). */
export function deletionSource(result: GrowingResult): GrowingPoint & { convId: string } {
  const short = result.variants.find((v) => v.key === "short")!;
  return short.points[short.points.length - 1]!;
}
