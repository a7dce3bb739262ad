#!/usr/bin/env node
// npm run dev: create .dev.vars from the example when missing, apply the D1 migrations to the local
// database (.wrangler/), then serve the Worker on http://127.0.0.1:8787. wrangler dev first runs the
// [build] of wrangler.toml (scripts/build-viewer.mjs: the debug viewer's browser bundle) and runs it
// again when a file under src/ changes.
import { spawnSync, spawn } from "node:child_process";
import { copyFileSync, existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { quietEnv } from "./lib/quiet-env.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));
const wrangler = fileURLToPath(new URL("../node_modules/.bin/wrangler", import.meta.url));
const extra = process.argv.slice(2); // e.g. --persist-to DIR, --port N

if (!existsSync(`${root}/.dev.vars`)) {
  copyFileSync(`${root}/.dev.vars.example`, `${root}/.dev.vars`);
  console.log("created .dev.vars from .dev.vars.example");
}

const persist = extra.includes("--persist-to") ? ["--persist-to", extra[extra.indexOf("--persist-to") + 1]] : [];
const migrate = spawnSync(wrangler, ["d1", "migrations", "apply", "DB", "--local", ...persist], {
  cwd: root,
  env: quietEnv,
  stdio: "inherit",
});
if (migrate.status !== 0) process.exit(migrate.status ?? 1);

const dev = spawn(wrangler, ["dev", "--ip", "127.0.0.1", "--port", "8787", ...extra], { cwd: root, env: quietEnv, stdio: "inherit" });
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => dev.kill(signal));
dev.on("exit", (code) => process.exit(code ?? 0));
