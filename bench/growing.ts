/** A growing conversation (issue 13): T turns × 3 phases, in its own D1 and `wrangler dev`, written as the client posts it. */
import { rmSync } from "node:fs";
import type { DevServer } from "../tools/wrangler-dev";
import { checkAgainstClient, postedConversation } from "./conversation";
import { copyDatabase, d1File, sqlite3 } from "./databases";
import { alternate, type Bench, sleep, writeLogOf } from "./http";
import { sum } from "./stats";
import { TARGETS } from "./targets";

const VARIANTS = [
  { key: "short", label: "short texts", title: "Short texts", toolResultChars: undefined, fullPage: true },
  { key: "tool4k", label: "4 KB tool results", title: "4 KB tool results", toolResultChars: 4096, fullPage: false },
];
const CLIENT_CHECK_SNAPSHOTS = 60; // checked against the real client before each variant is written
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
  const sql =
    "SELECT coalesce(m.tbl_name, s.name), sum(s.pgsize) FROM dbstat AS s LEFT JOIN sqlite_master AS m ON m.name = s.name GROUP BY 1;";
  const rows = sqlite3(file, sql).trim().split("\n");
  const tables = Object.fromEntries(rows.map((line) => line.split("|")).flatMap(([name, bytes]) => (name ? [[name, Number(bytes)]] : [])));
  return { fileBytes: pageCount! * pageSize!, tables };
}

/** A conversation, its database and server, and the rows_written of each of its write log lines. */
type Writer = {
  variant: (typeof VARIANTS)[number];
  turns: number;
  convId: string;
  dir: string;
  server: DevServer | null;
  logged: number[];
};

async function writeConversation(w: Writer, token: string) {
  const started = performance.now();
  const bytes: Array<{ full: number; delta: number }> = [];
  let blocks = 0;
  for await (const s of postedConversation({ convId: w.convId, turns: w.turns, toolResultChars: w.variant.toolResultChars })) {
    const headers = { authorization: `Bearer ${token}`, "content-type": "application/json" };
    const res = await fetch(`${w.server!.url}/api/turns`, { method: "POST", headers, body: s.body });
    const text = await res.text();
    if (res.status !== 201) throw new Error(`${w.convId} snapshot ${s.index} (${s.sent}): ${res.status} ${text.slice(0, 300)}`);
    bytes.push({ full: s.fullBytes, delta: s.deltaBytes });
    blocks = s.blockCount;
  }
  const writeSeconds = (performance.now() - started) / 1000;
  // The log lines trail the responses a little.
  for (let i = 0; i < 100 && w.logged.length < bytes.length; i++) await sleep(100);
  if (w.logged.length !== bytes.length) throw new Error(`${w.convId}: ${bytes.length} snapshots but ${w.logged.length} write log lines`);
  const mean = (list: number[]) => sum(list) / list.length;
  return {
    turns: w.turns,
    snapshots: bytes.length,
    blocks,
    // Means over the snapshots, and over the last turn's three: what one more costs at this length.
    ...{ fullRequestBytes: mean(bytes.map((b) => b.full)), deltaRequestBytes: mean(bytes.map((b) => b.delta)) },
    rowsWritten: mean(w.logged),
    ...{ lastTurn: { fullRequestBytes: mean(bytes.slice(-3).map((b) => b.full)), rowsWritten: mean(w.logged.slice(-3)) }, writeSeconds },
  };
}

/** maxBlocksPerPage: of a page with payloads (worker-limits.ts). */
type GrowingOptions = { turns: number[]; requests: number; fullPageRequests: number; warmup: number; maxBlocksPerPage: number };
export async function measureGrowing(b: Bench, o: GrowingOptions) {
  const empty = databaseBytes(d1File(b.migrated));
  let clientChecked = 0;
  for (const { key, toolResultChars } of VARIANTS)
    clientChecked += await checkAgainstClient({ convId: `check-${key}`, turns: 30, toolResultChars }, CLIENT_CHECK_SNAPSHOTS);
  const writers: Writer[] = VARIANTS.flatMap((variant) =>
    o.turns.map((turns) => {
      const [name, server, logged] = [`${variant.key}-t${turns}`, null, []];
      return { variant, turns, convId: `grow-${name}`, dir: copyDatabase(b.migrated, b.dirFor(`growing-${name}`)), server, logged };
    }),
  );
  let written: Array<Awaited<ReturnType<typeof writeConversation>>>;
  let summary: Awaited<ReturnType<typeof alternate>>;
  let full: Awaited<ReturnType<typeof alternate>>;
  try {
    for (const w of writers) {
      const onLine = (line: string) => {
        const rows = writeLogOf(line)?.rows_written;
        if (typeof rows === "number") w.logged.push(rows);
      };
      w.server = await b.serve(w.dir, { onLine });
    }
    b.log(`  ${writers.length} servers up; writing ${writers.length} conversations (each in order, all at once)`);
    written = await Promise.all(writers.map((w) => writeConversation(w, b.tokens.ingest)));
    const times = writers.map((w, k) => `${w.variant.key} T=${w.turns} ${written[k]!.writeSeconds.toFixed(0)} s`);
    b.log(`  written (${times.join(", ")}); timing the pages`);
    const page = (w: Writer, payloads: boolean) =>
      `/api/debug/turns?conv_id=${encodeURIComponent(w.convId)}&limit=${PAGE_LIMIT}${payloads ? "" : "&payload=none"}`;
    const expectItems = (k: number) => Math.min(PAGE_LIMIT, written[k]!.snapshots);
    const summaries = writers.map((w, k) => ({ server: w.server!, path: page(w, false), expectItems: expectItems(k) }));
    summary = await alternate(summaries, b.tokens.debug, o.warmup, o.requests);
    const withPayloads = writers.filter((w) => w.variant.fullPage).map((w) => ({ server: w.server!, path: page(w, true) }));
    full = await alternate(withPayloads, b.tokens.debug, 1, o.fullPageRequests);
  } finally {
    for (const w of writers) if (w.server) await b.stop(w.server);
  }

  // The databases, closed: their bytes beyond the empty (migrated) database's.
  const points = writers.map((w, k) => {
    const file = d1File(w.dir);
    const { fileBytes, tables } = databaseBytes(file);
    const grown = Object.entries(tables).map(([t, bytes]) => [t, bytes - (empty.tables[t] ?? 0)] as const);
    const tableBytes: Record<string, number> = Object.fromEntries(grown.filter(([, bytes]) => bytes !== 0));
    const blockBytes =
      "SELECT coalesce(sum(length(CAST(payload_json AS BLOB)) + length(CAST(block_metadata_json AS BLOB))), 0) FROM blocks;";
    const { writeSeconds: _, ...measured } = written[k]!;
    const dataBytes = fileBytes - empty.fileBytes;
    const f = full[writers.filter((x) => x.variant.fullPage).indexOf(w)];
    const { bytes, items, medianMs, p90Ms } = summary[k]!;
    return {
      ...{ ...measured, dataBytes, bytesPerSnapshot: dataBytes / measured.snapshots },
      ...{ uniqueBlockBytes: Number(sqlite3(file, blockBytes).trim()), tableBytes, summaryPage: { bytes, items, medianMs, p90Ms } },
      fullPage: f ? { bytes: f.bytes, items: f.items, medianMs: f.medianMs } : null,
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
    const growth = (t: string) => perSnapshot(b, t) - perSnapshot(a, t);
    const tables = [...TABLE_ORDER.filter((t) => t in b.tableBytes), ...Object.keys(b.tableBytes).filter((t) => !TABLE_ORDER.includes(t))];
    const [dominant, dominantBytes] = Object.entries(b.tableBytes).reduce((x, y) => (y[1] > x[1] ? y : x));
    const grower = tables.reduce((x, t) => (growth(t) > growth(x) ? t : x), tables[0]!);
    const [bytesRatio, deltaRatio] = [ratio((p) => p.bytesPerSnapshot), ratio((p) => p.deltaRequestBytes)];
    const pageRatio = ratio((p) => p.summaryPage.medianMs);
    const within = (r: number | null, target: number) => (r === null ? null : r <= target);
    const share = (t: string) => ((b.tableBytes[t] ?? 0) / b.dataBytes) * 100;
    return {
      ...{ key: variant.key, label: variant.label, title: variant.title, points: list.map(({ tableBytes: _, ...p }) => p) },
      storage: tables.map((t) => ({ table: t, perSnapshot: list.map((p) => perSnapshot(p, t)), share: share(t) })),
      ...{ bytesRatio, deltaRatio, pageRatio, bytesMet: within(bytesRatio, TARGETS.growingBytesRatio) },
      ...{ deltaMet: within(deltaRatio, TARGETS.growingDeltaRatio), pageMet: within(pageRatio, TARGETS.growingSummaryPageRatio) },
      fullGrowth: b.fullRequestBytes / a.fullRequestBytes,
      dominant: { table: dominant, share: (dominantBytes / b.dataBytes) * 100 },
      grower: { table: grower, from: perSnapshot(a, grower), to: perSnapshot(b, grower) },
    };
  });
  const short = points.filter((_, k) => writers[k]!.variant.key === "short");
  const { requests, warmup, fullPageRequests, maxBlocksPerPage } = o;
  return {
    figures: {
      ...{ turns: o.turns, clientChecked, requests, warmup, fullPageRequests, pageLimit: PAGE_LIMIT, emptyFileBytes: empty.fileBytes },
      ...{ maxBlocksPerPage, variants },
      fullPages: short.filter((p) => p.fullPage).map((p) => ({ turns: p.turns, ...p.fullPage! })),
      firstRelease: FIRST_RELEASE.map(({ turns, ...old }) => {
        const ours = short.find((p) => p.turns === turns);
        const { dataBytes, bytesPerSnapshot, uniqueBlockBytes, fullPage } = ours ?? {};
        const now = ours ? { dataBytes, bytesPerSnapshot, nodeBytes: ours.tableBytes.block_nodes ?? 0, uniqueBlockBytes, fullPage } : null;
        return { turns, old: { ...old, bytesPerSnapshot: old.dbBytes / (3 * turns) }, now };
      }),
    },
    /** The database the deletion section starts from. */
    kept: { persistTo: writers[keep]!.dir, convId: writers[keep]!.convId, turns: writers[keep]!.turns },
  };
}

export type GrowingFigures = Awaited<ReturnType<typeof measureGrowing>>["figures"];
