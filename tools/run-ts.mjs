/**
 * Runs one of this repository's TypeScript programs, as the npm scripts do:
 * `node tools/run-ts.mjs scripts/db-check.ts --local`. esbuild bundles the program's own modules into
 * one file under node_modules/.cache/turnstore/run/ (packages stay external: Node loads them as
 * usual), and the bundle is reused until one of its sources changes.
 *
 * Why not tsx, which ran them before: tsx compiles file by file through Node's module hooks, which
 * Node 20 runs on a separate thread — ~0.6 s of CPU for `db:check --help` (0.1 s bundled) and ~1.3 s
 * more for a check of a local D1. The tests run these tools dozens of times. (The bench keeps tsx:
 * it imports Worker modules by computed paths, which a bundle cannot follow.)
 *
 * The program sees itself as it would under tsx: `import.meta.url` of each module is its source
 * file's URL, and process.argv[1] the program's path, so `runIfEntry` and paths resolved against
 * the module keep working; stack traces point into the TypeScript (source maps).
 */
import { mkdirSync, readFileSync, realpathSync, renameSync, statSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname, extname, join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const CACHE = join(ROOT, "node_modules/.cache/turnstore/run");
const LAUNCHER = fileURLToPath(import.meta.url);

const [script, ...args] = process.argv.slice(2);
if (!script) {
  console.error("usage: node tools/run-ts.mjs PROGRAM.ts [ARGS…]");
  process.exit(2);
}
const source = realpathSync(script);
const name = relative(ROOT, source)
  .replace(/[/\\]/g, "_")
  .replace(/\.[cm]?tsx?$/, "");
const bundle = join(CACHE, `${name}.mjs`);
const manifest = join(CACHE, `${name}.inputs.json`);

/** Each source file of the bundle (and this launcher) with the mtime and size it was bundled from. */
const stamp = (file) => {
  const s = statSync(file, { throwIfNoEntry: false });
  return s ? [s.mtimeMs, s.size] : null;
};

function isFresh() {
  try {
    const inputs = JSON.parse(readFileSync(manifest, "utf8"));
    return Object.entries(inputs).every(([file, was]) => {
      const now = stamp(file);
      return now !== null && now[0] === was[0] && now[1] === was[1];
    });
  } catch {
    return false;
  }
}

const LOADERS = { ".ts": "ts", ".mts": "ts", ".cts": "ts", ".tsx": "tsx", ".js": "js", ".mjs": "js", ".cjs": "js", ".jsx": "jsx" };

/** Each module keeps its own import.meta.url: the URL of its source file, not of the bundle. */
const sourceUrls = {
  name: "source-urls",
  setup(build) {
    build.onLoad({ filter: /\.[cm]?[jt]sx?$/ }, async ({ path }) => {
      if (path.includes("/node_modules/")) return undefined;
      const text = await readFile(path, "utf8");
      if (!text.includes("import.meta.url")) return undefined;
      return {
        contents: text.replaceAll("import.meta.url", JSON.stringify(pathToFileURL(path).href)),
        loader: LOADERS[extname(path)],
        resolveDir: dirname(path),
      };
    });
  },
};

async function rebuild() {
  const { build } = await import("esbuild");
  const started = Date.now();
  mkdirSync(CACHE, { recursive: true });
  // Built beside the bundle and renamed over it: a program started meanwhile reads the old one or the new one, never half of one.
  const temporary = `${bundle}.${process.pid}.tmp.mjs`;
  const result = await build({
    entryPoints: [source],
    absWorkingDir: ROOT,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    packages: "external",
    outfile: temporary,
    sourcemap: "inline",
    sourcesContent: false,
    metafile: true,
    logLevel: "error",
    plugins: [sourceUrls],
  });
  const inputs = Object.fromEntries(
    [LAUNCHER, ...Object.keys(result.metafile.inputs).map((file) => join(ROOT, file))].map((file) => [file, stamp(file)]),
  );
  renameSync(temporary, bundle);
  // A source saved while esbuild read it may not be in the bundle: leave the manifest stale, to bundle again next time.
  if (Object.values(inputs).some((s) => s === null || s[0] >= started)) return;
  writeFileSync(`${manifest}.${process.pid}.tmp`, JSON.stringify(inputs));
  renameSync(`${manifest}.${process.pid}.tmp`, manifest);
}

if (!isFresh()) await rebuild();
process.setSourceMapsEnabled(true);
process.argv = [process.argv[0], source, ...args];
await import(pathToFileURL(bundle).href);
