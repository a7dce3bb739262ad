/**
 * Bundle and start-up (issue 7 §5): the Worker as `wrangler deploy --dry-run` would upload it (raw
 * and gzip), which packages its bytes come from (esbuild's metafile), its global-scope start-up CPU
 * (`wrangler check startup`, a CPU profile of the Worker starting in local workerd), and the cold
 * start of `wrangler dev` until the first 200 from /healthz. It also checks that no bench-only code
 * (bench/, the benchmark baseline route) is in the production bundle.
 */
import { mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { startDev, wranglerSync } from "../tools/wrangler-dev";
import { copyDatabase } from "./databases";
import { median } from "./stats";

export interface BundleContributor {
  name: string;
  bytes: number;
  share: number;
  /** Files of other owners that import it directly: why it is in the bundle. */
  importedBy: string[];
}

export interface BundleResult {
  /** All uploaded modules (index.js and additional modules), raw and gzip (each module compressed on its own). */
  rawBytes: number;
  gzipBytes: number;
  modules: Array<{ name: string; bytes: number }>;
  /** What wrangler itself printed ("Total Upload: … / gzip: …"), in KiB. */
  wranglerReport: string;
  minifiedRawBytes: number | null;
  minifiedGzipBytes: number | null;
  contributors: BundleContributor[];
  /** Bench-only code in the production bundle: esbuild inputs under bench/, and uploaded modules containing the baseline's path. Both should be empty. */
  benchOnly: { inputs: string[]; modulesWithBaselinePath: string[] };
}

/** Code only the bench entry (bench/worker.ts) may contain. */
const BENCH_ONLY_DIR = "bench/";
const BASELINE_PATH_TEXT = "/api/bench/baseline";

interface Metafile {
  inputs: Record<string, { imports?: Array<{ path: string }> }>;
  outputs: Record<string, { bytes: number; inputs: Record<string, { bytesInOutput: number }> }>;
}

/** node_modules/@scope/pkg/… → @scope/pkg; src/… → our code. */
function owner(input: string): string {
  const match = input.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/);
  if (match) return match[1]!;
  if (input.startsWith("src/")) return `src/ (Turnstore itself)`;
  return "wrangler-injected shims";
}

/** The modules wrangler would upload: index.js and the additional modules beside it (the viewer's bundle as text). */
function uploadedModules(dir: string): Array<{ name: string; bytes: Buffer }> {
  return readdirSync(dir)
    .filter((name) => name !== "meta.json" && !name.endsWith(".map") && !name.endsWith(".md"))
    .map((name) => ({ name, bytes: readFileSync(join(dir, name)) }));
}

function dryRun(
  dir: string,
  minify: boolean,
): {
  raw: number;
  gzip: number;
  modules: Array<{ name: string; bytes: number }>;
  withBaselinePath: string[];
  printed: string;
  metafile: Metafile;
} {
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
  const modules = uploadedModules(dir);
  return {
    raw: modules.reduce((n, m) => n + m.bytes.length, 0),
    gzip: modules.reduce((n, m) => n + gzipSync(m.bytes).length, 0),
    modules: modules.map((m) => ({ name: m.name, bytes: m.bytes.length })),
    withBaselinePath: modules.filter((m) => m.bytes.includes(BASELINE_PATH_TEXT)).map((m) => m.name),
    printed: printed.match(/Total Upload: [^\n]+/)?.[0] ?? "",
    metafile: JSON.parse(readFileSync(join(dir, "meta.json"), "utf8")) as Metafile,
  };
}

export function measureBundle(root: string, options: { minified: boolean }): BundleResult {
  const plain = dryRun(join(root, "bundle"), false);
  const output = Object.entries(plain.metafile.outputs).find(([name]) => name.endsWith("index.js"))![1];
  const byOwner = new Map<string, number>();
  for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
    byOwner.set(owner(input), (byOwner.get(owner(input)) ?? 0) + bytesInOutput);
  }
  const importers = new Map<string, Set<string>>();
  for (const [input, { imports = [] }] of Object.entries(plain.metafile.inputs)) {
    for (const { path } of imports) {
      if (owner(path) === owner(input)) continue;
      if (!importers.has(owner(path))) importers.set(owner(path), new Set());
      importers.get(owner(path))!.add(input.startsWith("src/") ? input : owner(input));
    }
  }
  // Additional modules (text imports) are not in esbuild's output: one contributor each.
  for (const m of plain.modules)
    if (m.name !== "index.js") byOwner.set(`${m.name.replace(/^[0-9a-f]{40}-/, "")} (additional module)`, m.bytes);
  const total = [...byOwner.values()].reduce((a, b) => a + b, 0);
  const contributors = [...byOwner.entries()]
    .map(([name, bytes]) => ({ name, bytes, share: bytes / total, importedBy: [...(importers.get(name) ?? [])].sort() }))
    .sort((a, b) => b.bytes - a.bytes);
  const minified = options.minified ? dryRun(join(root, "bundle-minified"), true) : null;
  return {
    rawBytes: plain.raw,
    gzipBytes: plain.gzip,
    modules: plain.modules,
    wranglerReport: plain.printed,
    minifiedRawBytes: minified ? minified.raw : null,
    minifiedGzipBytes: minified ? minified.gzip : null,
    contributors,
    benchOnly: {
      inputs: Object.keys(output.inputs).filter((input) => input.startsWith(BENCH_ONLY_DIR)),
      modulesWithBaselinePath: plain.withBaselinePath,
    },
  };
}

interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string } }>;
  samples: number[];
  timeDeltas: number[];
}

/** CPU time of the Worker's global scope, from the profile `wrangler check startup` records. */
export function measureStartupCpu(root: string): { cpuMs: number; samples: number } {
  const file = join(root, "worker-startup.cpuprofile");
  wranglerSync(["check", "startup", "--outfile", file]);
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const idle = new Set(profile.nodes.filter((n) => ["(idle)", "(root)", "(program)"].includes(n.callFrame.functionName)).map((n) => n.id));
  let micros = 0;
  let samples = 0;
  // A sample's delta is the time since the previous sample; the first one is the wait before profiling began.
  profile.samples.forEach((node, i) => {
    if (i === 0 || idle.has(node)) return;
    micros += profile.timeDeltas[i]!;
    samples += 1;
  });
  return { cpuMs: micros / 1000, samples };
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

export function fileSize(path: string): number {
  return statSync(path).size;
}
