#!/usr/bin/env node
// npm run gen:otlp: regenerates the OTLP message types (src/otlp/gen/) from the pinned protos in
// src/otlp/proto/ with buf and protoc-gen-es (both devDependencies; no network). --check generates
// into a temporary folder and fails when the committed code differs.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { quietEnv } from "../tools/quiet-env.mjs";

const HELP = `usage: npm run gen:otlp -- [--check]

Regenerates src/otlp/gen/ (protobuf-es message types for POST /v1/traces) from the OTLP protos
pinned in src/otlp/proto/ (see its README for the release), with the template src/otlp/buf.gen.yaml.
Runs offline: buf and protoc-gen-es come from node_modules.

options:
  --check      generate into a temporary folder and compare with src/otlp/gen/; writes nothing
  -h, --help   print this help and exit

exit codes:
  0  generated (or, with --check, up to date)
  1  buf failed, or --check found src/otlp/gen/ out of date
  2  unknown flag or stray argument`;

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const BUF = join(ROOT, "node_modules", ".bin", "buf");
const TEMPLATE = "src/otlp/buf.gen.yaml";
const GENERATED = join(ROOT, "src", "otlp", "gen");

let values;
try {
  ({ values } = parseArgs({ options: { check: { type: "boolean" }, help: { type: "boolean", short: "h" } }, strict: true }));
} catch (error) {
  process.stderr.write(`gen:otlp: ${String(error.message).split("\n")[0]} (see --help)\n`);
  process.exit(2);
}
if (values.help) {
  process.stdout.write(`${HELP}\n`);
  process.exit(0);
}

/** Files under `dir`, as paths relative to it, sorted. */
function files(dir) {
  const out = [];
  const walk = (d) => {
    for (const name of readdirSync(d)) {
      const path = join(d, name);
      if (statSync(path).isDirectory()) walk(path);
      else out.push(relative(dir, path));
    }
  };
  walk(dir);
  return out.sort();
}

function generate(outputBase) {
  const args = ["generate", "--template", TEMPLATE, ...(outputBase ? ["--output", outputBase] : [])];
  const result = spawnSync(BUF, args, { cwd: ROOT, env: quietEnv, encoding: "utf8" });
  if (result.status !== 0) {
    process.stderr.write(`gen:otlp: buf ${args.join(" ")} failed (${result.status}):\n${result.stdout}${result.stderr}`);
    process.exit(1);
  }
}

if (!values.check) {
  generate(null);
  process.stdout.write(`gen:otlp: wrote ${files(GENERATED).length} files to src/otlp/gen/\n`);
  process.exit(0);
}

const scratch = mkdtempSync(join(tmpdir(), "turnstore-gen-otlp-"));
try {
  generate(scratch);
  const fresh = join(scratch, "src", "otlp", "gen");
  const want = files(fresh);
  const have = files(GENERATED);
  const stale = [...new Set([...want, ...have])].filter(
    (f) => !want.includes(f) || !have.includes(f) || readFileSync(join(fresh, f), "utf8") !== readFileSync(join(GENERATED, f), "utf8"),
  );
  if (stale.length > 0) {
    process.stderr.write(`gen:otlp: src/otlp/gen/ is out of date (${stale.join(", ")}); run npm run gen:otlp\n`);
    process.exit(1);
  }
  process.stdout.write(`gen:otlp: src/otlp/gen/ is up to date (${want.length} files)\n`);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
