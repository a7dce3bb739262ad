/**
 * `npm run typecheck`: the four TypeScript programs — the Worker and its tests (tsconfig.json), the
 * Node side (tsconfig.node.json), the viewer's browser code (tsconfig.viewer.json) and the webchat
 * example — checked side by side rather than one after another. Prints each program's diagnostics
 * in that order; exits non-zero when any has errors. With --background the compilers run at a lower
 * priority (npm test runs them beside vitest: tools/run-tests.mjs). Incremental: tsc keeps what it
 * learnt in node_modules/.cache/turnstore/tsc/ and checks again only what changed since.
 */
import { spawn } from "node:child_process";
import { setPriority } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const TSC = fileURLToPath(new URL("../node_modules/typescript/bin/tsc", import.meta.url));
// What tsc learnt last time (incremental): an unchanged program is checked again in about a second.
const CACHE = fileURLToPath(new URL("../node_modules/.cache/turnstore/tsc/", import.meta.url));
const PROJECTS = ["tsconfig.json", "tsconfig.node.json", "tsconfig.viewer.json", "examples/webchat/tsconfig.json"];
const background = process.argv.includes("--background");

function check(project) {
  return new Promise((resolve) => {
    const buildInfo = join(CACHE, `${project.replaceAll("/", "_")}.tsbuildinfo`);
    const args = [TSC, "--noEmit", "-p", project, "--incremental", "--tsBuildInfoFile", buildInfo];
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    if (background && child.pid) setPriority(child.pid, 15);
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
