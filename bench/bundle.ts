/**
 * Bundle and start-up (issue 7 §5): the Worker as `wrangler deploy --dry-run` would upload it (raw
 * and gzip), which packages its bytes come from (esbuild's metafile), its global-scope start-up CPU
 * (`wrangler check startup`, a CPU profile of the Worker starting in local workerd), and the cold
 * start of `wrangler dev` until the first 200 from /healthz. It also checks that no bench-only code
 * (bench/, the benchmark baseline route) is in the production bundle.
 */
import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { startDev, wranglerSync } from "../tools/wrangler-dev";
import { copyDatabase } from "./databases";
import { median, sum } from "./stats";

/** Why a package is in the bundle (said for those that are). */
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

interface Metafile {
  inputs: Record<string, { imports?: Array<{ path: string }> }>;
  outputs: Record<string, { bytes: number; inputs: Record<string, { bytesInOutput: number }> }>;
}

/** node_modules/@scope/pkg/… → @scope/pkg; src/… → our code. */
function owner(input: string): string {
  const match = input.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/);
  if (match) return match[1]!;
  return input.startsWith("src/") ? "src/ (Turnstore itself)" : "wrangler-injected shims";
}

/** The modules wrangler would upload (index.js and the additional modules beside it), raw and gzip (each compressed on its own). */
function dryRun(dir: string, minify: boolean) {
  mkdirSync(dir, { recursive: true });
  const printed = wranglerSync([
    "deploy",
    "--dry-run",
    "--outdir",
    dir,
    "--metafile",
    join(dir, "meta.json"),
    ...(minify ? ["--minify"] : []),
  ]);
  const modules = readdirSync(dir)
    .filter((name) => name !== "meta.json" && !name.endsWith(".map") && !name.endsWith(".md"))
    .map((name) => ({ name, bytes: readFileSync(join(dir, name)) }));
  return {
    rawBytes: sum(modules.map((m) => m.bytes.length)),
    gzipBytes: sum(modules.map((m) => gzipSync(m.bytes).length)),
    modules,
    printed: printed.match(/Total Upload: [^\n]+/)?.[0] ?? "",
    metafile: JSON.parse(readFileSync(join(dir, "meta.json"), "utf8")) as Metafile,
  };
}

export function measureBundle(root: string, options: { minified: boolean }) {
  const plain = dryRun(join(root, "bundle"), false);
  const output = Object.entries(plain.metafile.outputs).find(([name]) => name.endsWith("index.js"))![1];
  const byOwner = new Map<string, number>();
  for (const [input, { bytesInOutput }] of Object.entries(output.inputs))
    byOwner.set(owner(input), (byOwner.get(owner(input)) ?? 0) + bytesInOutput);
  const importers = new Map<string, Set<string>>();
  for (const [input, { imports = [] }] of Object.entries(plain.metafile.inputs)) {
    for (const { path } of imports) {
      if (owner(path) === owner(input)) continue;
      if (!importers.has(owner(path))) importers.set(owner(path), new Set());
      importers.get(owner(path))!.add(input.startsWith("src/") ? input : owner(input));
    }
  }
  const shortName = (name: string) => name.replace(/^[0-9a-f]{40}-/, "");
  // Additional modules (text imports) are not in esbuild's output: one contributor each.
  for (const m of plain.modules) if (m.name !== "index.js") byOwner.set(`${shortName(m.name)} (additional module)`, m.bytes.length);
  const total = sum([...byOwner.values()]);
  const minified = options.minified ? dryRun(join(root, "bundle-minified"), true) : null;
  return {
    rawBytes: plain.rawBytes,
    gzipBytes: plain.gzipBytes,
    modules: plain.modules.map((m) => ({ name: shortName(m.name), bytes: m.bytes.length })),
    oneModule: plain.modules.length === 1,
    wranglerReport: plain.printed,
    minified: minified && { rawBytes: minified.rawBytes, gzipBytes: minified.gzipBytes },
    /** Bench-only code in the production bundle: esbuild inputs under bench/, and uploaded modules containing the baseline's path. */
    benchOnly: [
      ...Object.keys(output.inputs).filter((input) => input.startsWith("bench/")),
      ...plain.modules.filter((m) => m.bytes.includes("/api/bench/baseline")).map((m) => `${m.name} (contains \`/api/bench/baseline\`)`),
    ],
    contributors: [...byOwner.entries()]
      .map(([name, bytes]) => ({
        name,
        bytes,
        share: (bytes / total) * 100,
        importedBy: [...(importers.get(name) ?? [])].sort(),
        why: WHY[name] ?? null,
      }))
      .sort((a, b) => b.bytes - a.bytes),
  };
}

/** CPU time of the Worker's global scope, from the profile `wrangler check startup` records. */
export function measureStartupCpu(root: string): { cpuMs: number; samples: number } {
  const file = join(root, "worker-startup.cpuprofile");
  wranglerSync(["check", "startup", "--outfile", file]);
  const profile = JSON.parse(readFileSync(file, "utf8")) as {
    nodes: Array<{ id: number; callFrame: { functionName: string } }>;
    samples: number[];
    timeDeltas: number[];
  };
  const idle = new Set(profile.nodes.filter((n) => ["(idle)", "(root)", "(program)"].includes(n.callFrame.functionName)).map((n) => n.id));
  // A sample's delta is the time since the previous sample; the first one is the wait before profiling began.
  const busy = profile.samples.map((node, i) => (i === 0 || idle.has(node) ? null : profile.timeDeltas[i]!)).filter((d) => d !== null);
  return { cpuMs: sum(busy) / 1000, samples: busy.length };
}

/** Spawn of `wrangler dev` (bundling, workerd start) to the first 200 from /healthz, on a migrated copy. */
export async function measureDevColdStart(
  root: string,
  template: string,
  runs: number,
): Promise<{ medianMs: number; samplesMs: number[] }> {
  const samplesMs: number[] = [];
  for (let i = 0; i < runs; i++) {
    const dir = copyDatabase(template, join(root, `cold-start-${i}`));
    const started = performance.now();
    const server = await startDev({ persistTo: dir, skipMigrations: true });
    samplesMs.push(performance.now() - started);
    await server.stop();
  }
  return { medianMs: median(samplesMs), samplesMs };
}

export type BundleFigures = ReturnType<typeof measureBundle>;
