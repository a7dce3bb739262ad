/**
 * `npm test` after Biome: the typecheck (tools/typecheck.mjs) and vitest side by side. vitest's
 * workers often wait — on wrangler dev, Chromium, a rate-limit window — and the typecheck's CPU
 * (~30 s from cold, ~10 s incrementally) fits in those gaps: its compilers run at a lower priority
 * (typecheck.mjs --background), so they take the cores vitest leaves idle rather than slowing it.
 * The typecheck's diagnostics print after vitest's report; the exit status is non-zero when either
 * fails. Arguments go to vitest.
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
