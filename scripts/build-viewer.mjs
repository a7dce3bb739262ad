#!/usr/bin/env node
// Bundles the viewer's browser code (TypeScript under src/viewer/client/, entry main.ts) with esbuild
// into dist/viewer/viewer.js.txt. The Worker imports that file as text (wrangler's default rule for
// *.txt; the name also keeps TypeScript from resolving it as a JavaScript module) and serves it at
// /debug/assets/viewer.js behind the same 404 gate and CSP as the pages.
//
// Runs as wrangler's [build] command (so `npm run dev`, `wrangler dev` and `wrangler deploy` always
// serve fresh code, and `wrangler dev` rebuilds on changes under src/), from vitest.config.ts before
// the tests, and by hand: `node scripts/build-viewer.mjs`. Types are checked by `npm run typecheck`
// (tsconfig.viewer.json); esbuild only strips them.
import { build } from "esbuild";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const root = fileURLToPath(new URL("..", import.meta.url));
export const VIEWER_ENTRY = `${root}src/viewer/client/main.ts`;
export const VIEWER_BUNDLE = `${root}dist/viewer/viewer.js.txt`;

/** Builds the bundle; writes it only when it changed, and atomically (a running wrangler dev or test may read it). */
export async function buildViewer() {
  const result = await build({
    entryPoints: [VIEWER_ENTRY],
    outfile: `${root}dist/viewer/viewer.js`,
    bundle: true,
    write: false,
    format: "iife",
    platform: "browser",
    target: "es2022",
    charset: "utf8",
    legalComments: "none",
    // Readable in the browser's devtools; the bundle is small and served only to debug users.
    minify: false,
    tsconfig: `${root}tsconfig.viewer.json`,
    banner: { js: "// Turnstore debug viewer: built from src/viewer/client/ by scripts/build-viewer.mjs. Do not edit." },
    logLevel: "warning",
  });
  const text = result.outputFiles[0].text;
  let current = null;
  try {
    current = readFileSync(VIEWER_BUNDLE, "utf8");
  } catch {
    // first build
  }
  if (current === text) return { path: VIEWER_BUNDLE, bytes: Buffer.byteLength(text), changed: false };
  mkdirSync(dirname(VIEWER_BUNDLE), { recursive: true });
  const temporary = `${VIEWER_BUNDLE}.${process.pid}.tmp`;
  writeFileSync(temporary, text);
  renameSync(temporary, VIEWER_BUNDLE);
  return { path: VIEWER_BUNDLE, bytes: Buffer.byteLength(text), changed: true };
}

const HELP = `usage: npm run build:viewer [-- --help]

Bundles the debug viewer's browser code (src/viewer/client/main.ts and what it imports) with esbuild
into dist/viewer/viewer.js.txt, which the Worker serves at /debug/assets/viewer.js. Writes the file
only when its content changed. wrangler dev, wrangler deploy and npm test run this on their own.

options:
  -h, --help   print this help and exit

exit codes:
  0  built (or unchanged)
  1  esbuild failed (the errors are printed)
  2  unknown flag or argument
`;

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  let values;
  try {
    ({ values } = parseArgs({
      args: process.argv.slice(2),
      options: { help: { type: "boolean", short: "h" } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    console.error(`build:viewer: ${error.message.split("\n")[0].split(". To specify")[0]} (see --help)`);
    process.exit(2);
  }
  if (values.help) {
    process.stdout.write(HELP);
    process.exit(0);
  }
  const { bytes, changed } = await buildViewer();
  console.log(`viewer: dist/viewer/viewer.js.txt ${changed ? "built" : "unchanged"} (${(bytes / 1024).toFixed(1)} KiB)`);
}
