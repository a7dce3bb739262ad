/**
 * `npm test` after Biome: the typecheck (tools/typecheck.mjs) and vitest side by side. Its compilers
 * run at a lower priority (typecheck.mjs --background), so vitest's files get the cores first and the
 * typecheck takes what they leave — the gaps while workers wait on wrangler dev, Chromium or a rate
 * window. Its CPU still counts, on a run that keeps two cores busy almost throughout: ~10 s from cold,
 * ~2 s incrementally (TypeScript 7's native compiler; TypeScript 5.9's took ~30–40 s and ~11 s). The
 * typecheck's diagnostics print after vitest's report; the exit status is non-zero when either fails.
 * Arguments go to vitest.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const VITEST = fileURLToPath(new URL("../node_modules/vitest/vitest.mjs", import.meta.url));

const exitCode = (child) => new Promise((resolve) => child.on("close", (code) => resolve(code ?? 1)));

const typecheck = spawn(process.execPath, [fileURLToPath(new URL("typecheck.mjs", import.meta.url)), "--background"], {
  cwd: ROOT,
  stdio: ["ignore", "pipe", "pipe"],
});
let diagnostics = "";
typecheck.stdout.on("data", (d) => (diagnostics += d));
typecheck.stderr.on("data", (d) => (diagnostics += d));
const typechecked = exitCode(typecheck);

const vitest = spawn(process.execPath, [VITEST, "run", ...process.argv.slice(2)], { cwd: ROOT, stdio: "inherit" });
const tested = await exitCode(vitest);

const checked = await typechecked;
if (diagnostics) process.stdout.write(diagnostics);
console.log(checked === 0 ? "typecheck: no errors" : "typecheck: FAILED (see above)");
process.exit(tested !== 0 ? tested : checked);
