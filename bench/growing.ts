/**
 * A growing conversation (issue 13): one geppetto-style conversation of T turns — every snapshot
 * carrying the whole history, 3 snapshots per turn, ~2.7 new blocks per turn — in two variants
 * (short texts; 4 KB tool results). Each (variant, T) gets its own local D1 database and its own
 * `wrangler dev`.
 *
 * Writes are real requests: POST /api/turns over HTTP with the bodies the frontend client sends
 * (the first snapshot in full, then deltas: prefix + new blocks; conversation.ts, checked against
 * the real client first). D1's rows_written per request comes from the Worker's own write log line
 * (`"event":"write"`). The conversations are written concurrently, each in order. Then the
 * conversation's `payload=none` page (and, for the short variant, its page with payloads) is timed
 * over HTTP, requests alternating between the servers; last, the servers stop and each database
 * file is measured (page_count × page_size, and per table with dbstat).
 */
import { rmSync } from "node:fs";
import type { DevServer } from "../tools/wrangler-dev";
import { checkAgainstClient, postedConversation } from "./conversation";
import { copyDatabase, d1File, sqlite3 } from "./databases";
import { alternate } from "./http";
import { sum } from "./stats";
import { TARGETS } from "./targets";

const VARIANTS = [
  { key: "short", label: "short texts", title: "Short texts", toolResultChars: undefined, fullPage: true },
  { key: "tool4k", label: "4 KB tool results", title: "4 KB tool results", toolResultChars: 4096, fullPage: false },
];
/** Snapshots checked against the real client before each variant is written. */
const CLIENT_CHECK_SNAPSHOTS = 60;
const PAGE_LIMIT = 200;
const TABLE_ORDER = ["turn_snapshots", "blocks", "block_nodes", "turns", "conversations"];

/** The first release's figures for this conversation (issue 13), for reference. */
const FIRST_RELEASE = [
  { turns: 50, dbBytes: 1.8e6, blockRefsBytes: 0.86e6, uniqueBlockBytes: 11e3, pageBytes: 1.9e6, pageSeconds: 0.8 },
  { turns: 100, dbBytes: 7.5e6, blockRefsBytes: 3.4e6, uniqueBlockBytes: 23e3, pageBytes: 6.6e6, pageSeconds: 3.1 },
  { turns: 200, dbBytes: 16.7e6, blockRefsBytes: 13.4e6, uniqueBlockBytes: 46e3, pageBytes: 16.5e6, pageSeconds: 6.0 },
];

/** page_count × page_size, and bytes per table (with its indexes) from dbstat. Only while no wrangler process has the file open. */
function databaseBytes(file: string): { fileBytes: number; tables: Record<string, number> } {
  const [pageCount, pageSize] = sqlite3(file, "PRAGMA page_count;\nPRAGMA page_size;").trim().split("\n").map(Number);
  const rows = sqlite3(
    file,
    "SELECT coalesce(m.tbl_name, s.name), sum(s.pgsize) FROM dbstat AS s LEFT JOIN sqlite_master AS m ON m.name = s.name GROUP BY 1;",
  );
  const tables: Record<string, number> = {};
  for (const [name, bytes] of rows
    .trim()
    .split("\n")
    .map((line) => line.split("|")))
    if (name) tables[name] = Number(bytes);
  return { fileBytes: pageCount! * pageSize!, tables };
}

/** The Worker's write log line (src/http/write-log.ts): its rows_written, or null for any other line. */
function writeLogRows(line: string): number | null {
  if (!line.startsWith("{") || !line.includes('"event":"write"')) return null;
  try {
    const entry = JSON.parse(line) as { event?: string; rows_written?: number };
    return entry.event === "write" && typeof entry.rows_written === "number" ? entry.rows_written : null;
  } catch {
    return null;
  }
}

interface Writer {
  variant: (typeof VARIANTS)[number];
  turns: number;
  convId: string;
  dir: string;
  server: DevServer | null;
  /** rows_written of each write log line, in order. */
  logged: number[];
}

/** One conversation, snapshot after snapshot, as the client posts it. */
async function writeConversation(w: Writer, token: string) {
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
  const mean = (list: number[]) => sum(list) / list.length;
  return {
    turns: w.turns,
    snapshots: bytes.length,
    /** Blocks of the last snapshot (= distinct blocks of the conversation). */
    blocks,
    /** Means over the conversation's snapshots, and over the last turn's three: what one more costs at this length. */
    fullRequestBytes: mean(bytes.map((b) => b.full)),
    deltaRequestBytes: mean(bytes.map((b) => b.delta)),
    rowsWritten: mean(w.logged),
    lastTurn: { fullRequestBytes: mean(bytes.slice(-3).map((b) => b.full)), rowsWritten: mean(w.logged.slice(-3)) },
    writeSeconds,
  };
}

export interface GrowingOptions {
  dirFor: (name: string) => string;
  /** The migrated database each conversation starts from. */
  template: string;
  turns: number[];
  requests: number;
  fullPageRequests: number;
  warmup: number;
  /** Blocks a page with payloads returns at most (worker-limits.ts). */
  maxBlocksPerPage: number;
  tokens: { ingest: string; debug: string };
  /** Starts wrangler dev on a database (onLine: its stdout lines). */
  serve: (persistTo: string, onLine: (line: string) => void) => Promise<DevServer>;
  stop: (server: DevServer) => Promise<void>;
  log: (message: string) => void;
}

export async function measureGrowing(o: GrowingOptions) {
  const empty = databaseBytes(d1File(o.template));
  let clientChecked = 0;
  for (const variant of VARIANTS) {
    const options = { convId: `check-${variant.key}`, turns: 30, toolResultChars: variant.toolResultChars };
    clientChecked += await checkAgainstClient(options, CLIENT_CHECK_SNAPSHOTS);
  }
  const writers: Writer[] = VARIANTS.flatMap((variant) =>
    o.turns.map((turns) => ({
      variant,
      turns,
      convId: `grow-${variant.key}-t${turns}`,
      dir: copyDatabase(o.template, o.dirFor(`growing-${variant.key}-t${turns}`)),
      server: null,
      logged: [],
    })),
  );
  let written: Array<Awaited<ReturnType<typeof writeConversation>>>;
  let summary: Awaited<ReturnType<typeof alternate>>;
  let full: Awaited<ReturnType<typeof alternate>>;
  try {
    for (const w of writers) {
      w.server = await o.serve(w.dir, (line) => {
        const rows = writeLogRows(line);
        if (rows !== null) w.logged.push(rows);
      });
    }
    o.log(`  ${writers.length} servers up; writing ${writers.length} conversations (each in order, all at once)`);
    written = await Promise.all(writers.map((w) => writeConversation(w, o.tokens.ingest)));
    o.log(
      `  written (${writers.map((w, k) => `${w.variant.key} T=${w.turns} ${written[k]!.writeSeconds.toFixed(0)} s`).join(", ")}); timing the pages`,
    );
    const page = (w: Writer, payloads: boolean) =>
      `/api/debug/turns?conv_id=${encodeURIComponent(w.convId)}&limit=${PAGE_LIMIT}${payloads ? "" : "&payload=none"}`;
    summary = await alternate(
      writers.map((w, k) => ({ server: w.server!, path: page(w, false), expectItems: Math.min(PAGE_LIMIT, written[k]!.snapshots) })),
      o.tokens.debug,
      o.warmup,
      o.requests,
    );
    const withPayloads = writers.filter((w) => w.variant.fullPage);
    full = await alternate(
      withPayloads.map((w) => ({ server: w.server!, path: page(w, true) })),
      o.tokens.debug,
      1,
      o.fullPageRequests,
    );
  } finally {
    for (const w of writers) if (w.server) await o.stop(w.server);
  }

  // The databases, closed: their bytes beyond the empty (migrated) database's.
  const points = writers.map((w, k) => {
    const file = d1File(w.dir);
    const { fileBytes, tables } = databaseBytes(file);
    const tableBytes = Object.fromEntries(
      Object.entries(tables)
        .map(([t, b]) => [t, b - (empty.tables[t] ?? 0)] as const)
        .filter(([, b]) => b !== 0),
    );
    const uniqueBlockBytes = Number(
      sqlite3(
        file,
        "SELECT coalesce(sum(length(CAST(payload_json AS BLOB)) + length(CAST(block_metadata_json AS BLOB))), 0) FROM blocks;",
      ).trim(),
    );
    const { writeSeconds: _, ...measured } = written[k]!;
    const dataBytes = fileBytes - empty.fileBytes;
    const withPayloads = writers.filter((x) => x.variant.fullPage).indexOf(w);
    const summaryPage = summary[k]!;
    return {
      ...measured,
      dataBytes,
      bytesPerSnapshot: dataBytes / measured.snapshots,
      uniqueBlockBytes,
      tableBytes,
      summaryPage: { bytes: summaryPage.bytes, items: summaryPage.items, medianMs: summaryPage.medianMs, p90Ms: summaryPage.p90Ms },
      fullPage:
        withPayloads < 0
          ? null
          : { bytes: full[withPayloads]!.bytes, items: full[withPayloads]!.items, medianMs: full[withPayloads]!.medianMs },
    };
  });
  // The short variant's longest conversation is kept for the deletion section.
  const keep = writers.findIndex((w) => w.variant.key === "short" && w.turns === Math.max(...o.turns));
  for (const [k, w] of writers.entries()) if (k !== keep) rmSync(w.dir, { recursive: true, force: true });

  type Point = (typeof points)[number];
  const variants = VARIANTS.map((variant) => {
    const list = points.filter((_, k) => writers[k]!.variant === variant);
    const [a, b] = [list[0]!, list.at(-1)!];
    const ratio = (f: (p: Point) => number) => (list.length > 1 ? f(b) / f(a) : null);
    const perSnapshot = (p: Point, t: string) => (p.tableBytes[t] ?? 0) / p.snapshots;
    const tables = [...TABLE_ORDER.filter((t) => t in b.tableBytes), ...Object.keys(b.tableBytes).filter((t) => !TABLE_ORDER.includes(t))];
    const [dominant, dominantBytes] = Object.entries(b.tableBytes).reduce((x, y) => (y[1] > x[1] ? y : x));
    const grower = tables.reduce(
      (x, t) => (perSnapshot(b, t) - perSnapshot(a, t) > perSnapshot(b, x) - perSnapshot(a, x) ? t : x),
      tables[0]!,
    );
    const [bytesRatio, deltaRatio, pageRatio] = [
      ratio((p) => p.bytesPerSnapshot),
      ratio((p) => p.deltaRequestBytes),
      ratio((p) => p.summaryPage.medianMs),
    ];
    const within = (r: number | null, target: number) => (r === null ? null : r <= target);
    return {
      key: variant.key,
      label: variant.label,
      title: variant.title,
      points: list.map(({ tableBytes: _, ...p }) => p),
      storage: tables.map((t) => ({
        table: t,
        perSnapshot: list.map((p) => perSnapshot(p, t)),
        share: ((b.tableBytes[t] ?? 0) / b.dataBytes) * 100,
      })),
      bytesRatio,
      deltaRatio,
      pageRatio,
      bytesMet: within(bytesRatio, TARGETS.growingBytesRatio),
      deltaMet: within(deltaRatio, TARGETS.growingDeltaRatio),
      pageMet: within(pageRatio, TARGETS.growingSummaryPageRatio),
      fullGrowth: b.fullRequestBytes / a.fullRequestBytes,
      dominant: { table: dominant, share: (dominantBytes / b.dataBytes) * 100 },
      grower: { table: grower, from: perSnapshot(a, grower), to: perSnapshot(b, grower) },
    };
  });
  const short = points.filter((_, k) => writers[k]!.variant.key === "short");
  return {
    figures: {
      turns: o.turns,
      clientChecked,
      requests: o.requests,
      warmup: o.warmup,
      fullPageRequests: o.fullPageRequests,
      pageLimit: PAGE_LIMIT,
      emptyFileBytes: empty.fileBytes,
      maxBlocksPerPage: o.maxBlocksPerPage,
      variants,
      fullPages: short.filter((p) => p.fullPage).map((p) => ({ turns: p.turns, ...p.fullPage! })),
      firstRelease: FIRST_RELEASE.map(({ turns, ...old }) => {
        const ours = short.find((p) => p.turns === turns);
        return {
          turns,
          old: { ...old, bytesPerSnapshot: old.dbBytes / (3 * turns) },
          now: ours
            ? {
                dataBytes: ours.dataBytes,
                bytesPerSnapshot: ours.bytesPerSnapshot,
                nodeBytes: ours.tableBytes.block_nodes ?? 0,
                uniqueBlockBytes: ours.uniqueBlockBytes,
                fullPage: ours.fullPage,
              }
            : null,
        };
      }),
    },
    /** The database the deletion section starts from. */
    kept: { persistTo: writers[keep]!.dir, convId: writers[keep]!.convId, turns: writers[keep]!.turns },
  };
}

export type GrowingFigures = Awaited<ReturnType<typeof measureGrowing>>["figures"];
