/** Bundle and start-up (issue 7 §5): `wrangler deploy --dry-run` by package, `wrangler check startup`, `wrangler dev`'s cold start. */
import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { startDev, wranglerSync } from "../tools/wrangler-dev";
import { copyDatabase } from "./databases";
import { median, sum } from "./stats";

type Metafile = { inputs: Record<string, { imports?: Array<{ path: string }> }> } & {
  outputs: Record<string, { bytes: number; inputs: Record<string, { bytesInOutput: number }> }>;
};

/** node_modules/@scope/pkg/… → @scope/pkg; src/… → our code. */
const owner = (input: string) =>
  input.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/)?.[1] ??
  (input.startsWith("src/") ? "src/ (Turnstore itself)" : "wrangler-injected shims");

/** The modules wrangler would upload (index.js and the additional modules beside it), raw and gzip (each compressed on its own). */
function dryRun(dir: string, minify: boolean) {
  mkdirSync(dir, { recursive: true });
  const args = ["--dry-run", "--outdir", dir, "--metafile", join(dir, "meta.json"), ...(minify ? ["--minify"] : [])];
  const printed = wranglerSync(["deploy", ...args]);
  const modules = readdirSync(dir)
    .filter((name) => name !== "meta.json" && !name.endsWith(".map") && !name.endsWith(".md"))
    .map((name) => ({ name, bytes: readFileSync(join(dir, name)) }));
  return {
    ...{ rawBytes: sum(modules.map((m) => m.bytes.length)), gzipBytes: sum(modules.map((m) => gzipSync(m.bytes).length)), modules },
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
    for (const to of imports.map(({ path }) => owner(path)).filter((to) => to !== owner(input))) {
      if (!importers.has(to)) importers.set(to, new Set());
      importers.get(to)!.add(input.startsWith("src/") ? input : owner(input));
    }
  }
  const shortName = (name: string) => name.replace(/^[0-9a-f]{40}-/, "");
  // Additional modules (text imports) are not in esbuild's output: one contributor each.
  for (const m of plain.modules) if (m.name !== "index.js") byOwner.set(`${shortName(m.name)} (additional module)`, m.bytes.length);
  const total = sum([...byOwner.values()]);
  const minified = options.minified ? dryRun(join(root, "bundle-minified"), true) : null;
  const modules = plain.modules.map((m) => ({ name: shortName(m.name), bytes: m.bytes.length }));
  return {
    ...{ rawBytes: plain.rawBytes, gzipBytes: plain.gzipBytes, modules, oneModule: plain.modules.length === 1 },
    wranglerReport: plain.printed,
    minified: minified && { rawBytes: minified.rawBytes, gzipBytes: minified.gzipBytes },
    /** Bench-only code in the production bundle: esbuild inputs under bench/, and uploaded modules containing the baseline's path. */
    benchOnly: [
      ...Object.keys(output.inputs).filter((input) => input.startsWith("bench/")),
      ...plain.modules.filter((m) => m.bytes.includes("/api/bench/baseline")).map((m) => `${m.name} (contains \`/api/bench/baseline\`)`),
    ],
    contributors: [...byOwner.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([name, bytes]) => ({ name, bytes, share: (bytes / total) * 100, importedBy: [...(importers.get(name) ?? [])].sort() })),
  };
}

/** CPU time of the Worker's global scope, from the profile `wrangler check startup` records. */
export function measureStartupCpu(root: string): { cpuMs: number; samples: number } {
  const file = join(root, "worker-startup.cpuprofile");
  wranglerSync(["check", "startup", "--outfile", file]);
  type Profile = { nodes: Array<{ id: number; callFrame: { functionName: string } }>; samples: number[]; timeDeltas: number[] };
  const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;
  const idle = new Set(profile.nodes.filter((n) => ["(idle)", "(root)", "(program)"].includes(n.callFrame.functionName)).map((n) => n.id));
  // A sample's delta is the time since the previous sample; the first one is the wait before profiling began.
  const busy = profile.samples.map((node, i) => (i === 0 || idle.has(node) ? null : profile.timeDeltas[i]!)).filter((d) => d !== null);
  return { cpuMs: sum(busy) / 1000, samples: busy.length };
}

/** Spawn of `wrangler dev` (bundling, workerd start) to the first 200 from /healthz, on a migrated copy. */
export async function measureDevColdStart(root: string, template: string, runs: number) {
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
