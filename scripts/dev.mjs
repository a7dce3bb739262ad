#!/usr/bin/env node
// npm run dev: create .dev.vars from the example when missing, apply the D1 migrations to the local
// database (.wrangler/), then serve the Worker on http://127.0.0.1:8787. wrangler dev first runs the
// [build] of wrangler.toml (scripts/build-viewer.mjs: the debug viewer's browser bundle) and runs it
// again when a file under src/ changes.
import { spawn } from "node:child_process";
import { copyFileSync, existsSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { migrateAll } from "../tools/d1-bindings.mjs";
import { quietEnv } from "../tools/quiet-env.mjs";

const HELP = `usage: npm run dev -- [--port N] [--persist-to DIR] [--test-scheduled] [-- <more wrangler dev flags>]

Serves the Worker with a local D1 on http://127.0.0.1:8787: creates .dev.vars from .dev.vars.example
when it is missing, applies the migrations in drizzle/ to the local database, then runs wrangler dev
(which builds the viewer bundle first and again when src/ changes). Stop it with Ctrl-C.

options:
  --port N            listen on port N instead of 8787
  --persist-to DIR    keep the local D1 (and the other local state) under DIR instead of .wrangler/state
  --test-scheduled    expose GET /__scheduled to run the Cron Trigger's scheduled handler by hand
  -h, --help          print this help and exit
  -- FLAGS            everything after a second -- goes to wrangler dev unchanged
                      (e.g. npm run dev -- -- --inspector-port 9230)

exit codes:
  0  stopped normally (or --help)
  2  unknown or malformed flag
  *  wrangler's exit code (migrations or wrangler dev failed)
`;

const argv = process.argv.slice(2);
const split = argv.indexOf("--");
const passThrough = split === -1 ? [] : argv.slice(split + 1);
let values, positionals;
try {
  ({ values, positionals } = parseArgs({
    args: split === -1 ? argv : argv.slice(0, split),
    options: {
      port: { type: "string" },
      "persist-to": { type: "string" },
      "test-scheduled": { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
    allowPositionals: true,
  }));
} catch (error) {
  console.error(`npm run dev: ${error.message.split("\n")[0].split(". To specify")[0]} (see --help)`);
  process.exit(2);
}
if (values.help) {
  process.stdout.write(HELP);
  process.exit(0);
}
if (positionals.length > 0) {
  console.error(`npm run dev: unexpected argument ${JSON.stringify(positionals[0])} (see --help)`);
  process.exit(2);
}
const port = values.port ?? "8787";
if (!/^[0-9]{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
  console.error(`npm run dev: --port wants a port number from 1 to 65535, got ${JSON.stringify(port)}`);
  process.exit(2);
}
if (values["persist-to"] === "") {
  console.error("npm run dev: --persist-to needs a directory");
  process.exit(2);
}

const root = fileURLToPath(new URL("..", import.meta.url));
const wrangler = fileURLToPath(new URL("../node_modules/.bin/wrangler", import.meta.url));
// npm run moves to the package root; a relative directory means the one npm was started from.
const persist =
  values["persist-to"] === undefined ? [] : ["--persist-to", resolve(process.env.INIT_CWD ?? process.cwd(), values["persist-to"])];

if (!existsSync(`${root}/.dev.vars`)) {
  copyFileSync(`${root}/.dev.vars.example`, `${root}/.dev.vars`);
  console.log("created .dev.vars from .dev.vars.example");
}

// Every database wrangler.toml binds (DB, and any extra conversation database).
const migrate = migrateAll(["--local", ...persist]);
if (migrate.status !== 0) process.exit(migrate.status);

const devArgs = [
  "dev",
  "--ip",
  "127.0.0.1",
  "--port",
  port,
  ...persist,
  ...(values["test-scheduled"] ? ["--test-scheduled"] : []),
  ...passThrough,
];
const dev = spawn(wrangler, devArgs, { cwd: root, env: quietEnv, stdio: "inherit" });
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => dev.kill(signal));
dev.on("exit", (code) => process.exit(code ?? 0));
