/**
 * `npm run typecheck`: the four TypeScript programs — the Worker and its tests (tsconfig.json), the
 * Node side (tsconfig.node.json), the viewer's browser code (tsconfig.viewer.json) and the webchat
 * example — checked side by side. Prints each program's diagnostics in that order; exits non-zero
 * when any has errors. With --background it runs at a lower priority (npm test runs it beside vitest:
 * tools/run-tests.mjs), and so do the compilers it starts.
 *
 * The compiler is TypeScript 7, the native one (devDependency "typescript-native"): on this 2-core
 * machine it checks the four programs in ~10 s of CPU from cold and ~2 s incrementally, where
 * TypeScript 5.9's compiler took ~30–40 s and ~11 s. TypeScript 5.9 ("typescript") stays for what
 * needs its JavaScript API (test/node/rules/source-size.test.ts) and as the consumer's compiler in
 * test/node/tools/package.test.ts. Incremental: tsc keeps what it learnt in
 * node_modules/.cache/turnstore/tsc/ and checks again only what changed since.
 */
import { spawn } from "node:child_process";
import { setPriority } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const TSC = fileURLToPath(new URL("../node_modules/typescript-native/bin/tsc", import.meta.url));
// What tsc learnt last time (incremental): an unchanged program is checked again in under a second.
const CACHE = fileURLToPath(new URL("../node_modules/.cache/turnstore/tsc/", import.meta.url));
const PROJECTS = ["tsconfig.json", "tsconfig.node.json", "tsconfig.viewer.json", "examples/webchat/tsconfig.json"];
// Set before any compiler starts: each inherits it (the native compiler runs as a child of its launcher).
if (process.argv.includes("--background")) setPriority(15);

function check(project) {
  return new Promise((resolve) => {
    const buildInfo = join(CACHE, `${project.replaceAll("/", "_")}.tsbuildinfo`);
    const args = [TSC, "--noEmit", "-p", project, "--incremental", "--tsBuildInfoFile", buildInfo];
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    child.on("error", (error) => resolve({ project, code: 1, output: `could not run tsc: ${error.message}\n` }));
    child.on("close", (code) => resolve({ project, code: code ?? 1, output }));
  });
}

let failed = false;
for (const { project, code, output } of await Promise.all(PROJECTS.map(check))) {
  if (output) process.stdout.write(output);
  if (code !== 0) {
    failed = true;
    console.error(`typecheck: ${project} has errors (tsc exited ${code})`);
  }
}
process.exit(failed ? 1 : 0);
