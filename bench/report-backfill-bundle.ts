/** Report sections 6 (backfill at scale) and 7 (bundle and start-up). */
import { probedPaths } from "../src/db/backfill-sql";
import { INFERENCE_PROBE, RUNTIME_PROBE } from "../src/turn/attribution";
import { CHUNK_BUDGET_SECONDS, D1_STATEMENT_LIMIT_SECONDS } from "./backfill";
import type { BenchResults } from "./index";
import { BLOCKS_PER_LEGACY_SNAPSHOT, TURNS_PER_CONVERSATION } from "./legacy-database";
import { kib, mib, notMeasured, num, size, table } from "./report-format";

/** Why a package is in the bundle (shown for those that are). */
const WHY: Record<string, string> = {
  zod: "`@hono/zod-openapi` validates every request with it and builds the OpenAPI document from the same schemas; its chainable API cannot be tree-shaken, and `@hono/zod-openapi` needs that API (not the smaller `zod/mini`).",
  yaml: "reads the Go implementation's YAML payloads (`src/turn/yaml.ts`; the debug routes' YAML is written by our own emitter there).",
  "drizzle-orm":
    "imported by `src/db/schema.ts` and the query builder in `src/store/conversations.ts`; the snapshot reads and writes use plain SQL, so writing the conversation queries in plain SQL too would take it out of the bundle (the schema stays the source of the migrations either way).",
  hono: "the router and middleware.",
  "viewer.js.txt (additional module)":
    "the debug viewer's browser code (`src/viewer/client/`), bundled by esbuild and imported as text; uploaded as a module of its own.",
  "src/ (Turnstore itself)": "the application.",
};

/** How long the scheduled conversion of `unconverted` legacy snapshots takes, from its budgets. */
function conversionPace(r: BenchResults, unconverted: number): string {
  const l = r.limits;
  if (!l || unconverted === 0) return "";
  const perRun = l.conversionChunksPerRun * l.conversionChunkSnapshots;
  const runs = Math.ceil(unconverted / perRun);
  return ` — at most ${num(perRun)} per scheduled run (${l.conversionChunksPerRun} chunks of ${l.conversionChunkSnapshots}), so ${num(runs)} runs${
    l.cronMinutes ? `, about ${num((runs * l.cronMinutes) / 60 / 24, 1)} days at one run every ${l.cronMinutes} minutes` : ""
  } for this database`;
}

export function backfillSection(r: BenchResults): string {
  const b = r.backfill;
  if (!b) return `## 6. Backfill at scale\n\n${notMeasured(r, "backfill")}\n`;
  const statements = b.statements
    ? table(
        ["Migration", "Statement", "seconds", `vs ${D1_STATEMENT_LIMIT_SECONDS} s limit`],
        b.statements.map((st) => [
          st.migration,
          st.label.replace(/\|/g, "\\|"),
          num(st.seconds, 2),
          st.seconds >= D1_STATEMENT_LIMIT_SECONDS ? "**over**" : st.seconds >= CHUNK_BUDGET_SECONDS ? "under, < 3× margin" : "ok",
        ]),
      )
    : "_Per-statement times are measured in the full run only._";
  const heavy = b.heaviest;
  const chunk = b.chunk;
  const over = heavy ? heavy.seconds >= D1_STATEMENT_LIMIT_SECONDS : false;
  const tight = heavy ? heavy.seconds >= CHUNK_BUDGET_SECONDS : false;
  return `## 6. Backfill at scale

**Method.** A legacy database in the pre-cutover layout (\`drizzle/0000_baseline.sql\`, with
\`updated_at_ms\`, no \`d1_migrations\` table — "loaded as-is"), generated in bulk SQL: ${num(b.legacyRows.turns)} turns in
conversations of ${TURNS_PER_CONVERSATION}, one snapshot of ${BLOCKS_PER_LEGACY_SNAPSHOT} blocks each (${num(b.legacyRows.turn_block_membership)} membership rows, ${num(b.legacyRows.blocks)} blocks),
${mib(b.legacyFileBytes)}, generated in ${num(b.generateSeconds, 1)} s. Metadata shapes are mixed: half the turns carry the
canonical object with the other keys a producer writes, the other half cycle through all cases of
\`test/fixtures/attribution-cases.json\` (plain strings, numbers, nested objects, nulls, arrays,
malformed JSON, empty text).

- \`wrangler d1 migrations apply DB --local\` over the whole chain (${b.migrations[0]!.slice(0, 4)} → ${b.migrations[b.migrations.length - 1]!.slice(0, 4)}): **${num(b.chainWallSeconds, 1)} s** wall,
  wrangler's own work included (a \`SELECT 1\` alone through \`d1 execute\` takes ${num(b.wranglerOverheadSeconds, 1)} s, and
  \`migrations apply\` runs one such execution per migration file).
- After the chain: ${num(b.after.turns)} turns, ${num(b.after.turn_snapshots)} snapshots, ${num(b.after.conversations)} conversations; ${num(b.missingRuntimeOrInference)} turns keep an empty
  runtime or inference (the playbook's \`missing_runtime_or_inference\` query) — the fixture cases
  whose metadata yields nothing, as the extraction rule requires.
- ${num(b.unconverted)} snapshots are left in the first release's layout (\`block_refs_json\`, no path yet); they read
  as before, and the scheduled handler converts them to block paths${conversionPace(r, b.unconverted)}.${
    b.statements
      ? `\n- The same statements, run afterwards on a copy one migration file at a time (table below), spend ${num(
          b.statements.reduce((a, st) => a + st.seconds, 0),
          1,
        )} s in SQL.`
      : ""
  }

Each statement's own time inside workerd's SQLite — D1's engine, which runs the backfill's
aggregate \`ORDER BY\` that Debian's sqlite3 ${r.machine.sqlite3Cli} cannot — from \`meta.duration\` of the same statements
run one file per migration through \`wrangler d1 execute --local --file … --json\` on a copy:

${statements}

${
  heavy
    ? `**Result.** The heaviest statement is \`${heavy.label}\` at **${num(heavy.seconds, 1)} s** for ${size(b.turns)} turns${
        over
          ? ` — over D1's ${D1_STATEMENT_LIMIT_SECONDS} s statement limit: as written, this backfill would fail on a remote database of this size.`
          : tight
            ? ` — under D1's ${D1_STATEMENT_LIMIT_SECONDS} s statement limit, but with less than a 3× margin on this machine; production hardware and a busy database may be slower.`
            : ` — well under D1's ${D1_STATEMENT_LIMIT_SECONDS} s statement limit.`
      } The extraction walks the rule's key tree per turn and stops at the first value it finds: two JSON lookups for canonical metadata, at most ${probedPaths(RUNTIME_PROBE).length} paths for the runtime and ${probedPaths(INFERENCE_PROBE).length} for the inference when nothing is found. Worker CPU limits do not apply: migrations run in the database, where the query duration limit is what counts. Applied remotely, wrangler sends each migration file as one request; whether D1 then holds each statement or the whole file to ${D1_STATEMENT_LIMIT_SECONDS} s is not something a local run can show — in the second case all of 0002 (${num(
        b.statements!.filter((st) => st.migration === "0002_backfill.sql").reduce((a, st) => a + st.seconds, 0),
        1,
      )} s here) must fit, which makes chunking across several migration files the safe shape.`
    : ""
}
${
  chunk
    ? `
**Chunking, with the numbers that decide it.** The runtime \`UPDATE\` restricted to a rowid range of
${num(chunk.rows)} turns took ${num(chunk.seconds, 2)} s (${num(chunk.rowsPerSecond)} turns/s). To keep every statement under ${CHUNK_BUDGET_SECONDS} s (a third of
the limit), a chunk is at most **${num(chunk.rowsPerChunk)} turns**: ${chunk.chunks} statement${chunk.chunks === 1 ? "" : "s"} per column for ${size(b.turns)} turns. ${
        over || tight
          ? `The fix: run each \`UPDATE turns\` once per rowid range (\`… AND turns.rowid BETWEEN lo AND hi\`)
and the membership-to-snapshot \`INSERT\` once per range of \`conv_id\` — more, smaller statements, each
still a no-op when applied again because it only fills what is empty. A static migration cannot
know the table's size, so either \`src/db/backfill-sql.ts\` emits ranges up to a generous bound plus a
final open range, or the backfill becomes a command that loops over chunks until a statement
changes nothing. Not done here (the generator is not part of this benchmark's change); this is the
measured case for it.`
          : "At this size one statement per column is within budget, so the backfill needs no chunking yet; the rate above says where it would start to."
      }
`
    : ""
}`;
}

export function bundleSection(r: BenchResults): string {
  const bundle = r.bundle;
  if (!bundle) return `## 7. Bundle and start-up\n\n${notMeasured(r, "bundle")}\n`;
  const contributors = table(
    ["Package", "bytes in bundle", "share", "why it is there (imported by)"],
    bundle.contributors.map((c) => [c.name, kib(c.bytes), `${num(c.share * 100, 1)} %`, c.importedBy.join(", ") || "—"]),
  );
  return `## 7. Bundle and start-up

\`wrangler deploy --dry-run --outdir … --metafile …\`: **${kib(bundle.rawBytes)}** raw, **${kib(bundle.gzipBytes)}** gzip, in ${bundle.modules.length} uploaded module${bundle.modules.length === 1 ? "" : "s"}
(${bundle.modules.map((m) => `\`${m.name.replace(/^[0-9a-f]{40}-/, "")}\` ${kib(m.bytes)}`).join(", ")}; each compressed on its own; wrangler printed
"${bundle.wranglerReport}").${
    bundle.minifiedRawBytes
      ? ` \`wrangler.toml\` does not minify; with \`--minify\` it would be ${kib(bundle.minifiedRawBytes)} raw,
${kib(bundle.minifiedGzipBytes)} gzip.`
      : ""
  } Cloudflare's script size limits apply to the compressed size (3 MiB on the Free plan).

**No bench-only code.** ${
    bundle.benchOnly.inputs.length === 0 && bundle.benchOnly.modulesWithBaselinePath.length === 0
      ? "The bundle has no input under `bench/` (esbuild's metafile) and no uploaded module contains the text `/api/bench/baseline`: the benchmark baseline route lives only in the bench's own entry, `bench/worker.ts`."
      : `**Bench-only code is in the production bundle:** ${[...bundle.benchOnly.inputs, ...bundle.benchOnly.modulesWithBaselinePath.map((m) => `${m} (contains \`/api/bench/baseline\`)`)].join(", ")}.`
  }

${contributors}

${bundle.contributors
  .filter((c) => WHY[c.name])
  .map((c) => `- **${c.name}** (${num(c.share * 100, 0)} %): ${WHY[c.name]}`)
  .join("\n")}

Start-up: ${
    r.startupCpu
      ? `the Worker's global scope takes **${num(r.startupCpu.cpuMs, 0)} ms** of CPU (\`wrangler check startup\`: a CPU profile of the Worker starting in local workerd, ${r.startupCpu.samples} samples) — building the routers and zod schemas; Cloudflare limits start-up time, and measures it on its own CPUs.`
      : "global-scope CPU is measured in the full run (`wrangler check startup`)."
  } ${
    r.devColdStart
      ? `\`wrangler dev\` from spawn to the first 200 from \`/healthz\`: **${num(r.devColdStart.medianMs / 1000, 1)} s** median (${r.devColdStart.samplesMs.map((x) => num(x / 1000, 1)).join(", ")} s; polled every 250 ms) — wrangler's own bundling and workerd start, which a deployed Worker does not pay.`
      : ""
  }
`;
}
