/**
 * D1 through the wrangler CLI (`d1 migrations apply`, `d1 execute`), local or remote, no server.
 * Queries whose rows we need go through --command (remote answers them row by row); bulk writes go
 * through --file (a local file runs as one batch; remote files go through D1's import API).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, WRANGLER } from "../lib/wrangler-dev";
import { quietEnv } from "../lib/quiet-env.mjs";
import { packStatements } from "./sql-text";

export type D1Target = { remote: false; persistTo?: string } | { remote: true };

export type ResultRow = Record<string, unknown>;

/** wrangler failed (bad credentials, SQL error, unreachable API…): one line to show the operator. */
export class WranglerError extends Error {
  override name = "WranglerError";
}

/** A --command is one argv entry; Linux caps one at 128 KiB. */
const COMMAND_BUDGET_BYTES = 100_000;
/** Local files run as one batch in memory; remote files are uploaded. Either way, keep them modest. */
const FILE_BUDGET_BYTES = 8_000_000;

export function targetArgs(target: D1Target): string[] {
  if (target.remote) return ["--remote"];
  return target.persistTo ? ["--local", "--persist-to", target.persistTo] : ["--local"];
}

export function describeTarget(target: D1Target): string {
  if (target.remote) return "remote D1 (binding DB in wrangler.toml)";
  return `local D1 (${target.persistTo ? `--persist-to ${target.persistTo}` : ".wrangler/state"})`;
}

/** The first line that says what went wrong, from wrangler's JSON error or its ✘ [ERROR] output. */
export function wranglerFailure(stdout: string, stderr: string): string {
  try {
    const parsed = JSON.parse(stdout) as { error?: { text?: string } };
    if (parsed.error?.text) return parsed.error.text.split("\n")[0]!;
  } catch {
    // not JSON: fall through to the text output
  }
  // wrangler colours its errors even under NO_COLOR in some paths.
  const plain = `${stderr}\n${stdout}`.replace(/\x1b\[[0-9;]*m/g, "");
  const lines = plain.split("\n").map((l) => l.trim()).filter(Boolean);
  const marked = lines.find((l) => /\[ERROR\]/.test(l));
  if (marked) return marked.replace(/^.*\[ERROR\]\s*/, "");
  return lines.find((l) => !/^npm warn/i.test(l)) ?? "wrangler failed without a message";
}

function runWrangler(args: string[]): string {
  const result = spawnSync(WRANGLER, args, { cwd: ROOT, env: quietEnv, encoding: "utf8", maxBuffer: 1024 * 1024 * 1024 });
  if (result.error) throw new WranglerError(`could not run wrangler: ${result.error.message}`);
  if (result.status !== 0) throw new WranglerError(wranglerFailure(result.stdout, result.stderr));
  return result.stdout;
}

export function applyMigrations(target: D1Target): void {
  runWrangler(["d1", "migrations", "apply", "DB", ...targetArgs(target)]);
}

function parseResults(stdout: string): ResultRow[][] {
  const parsed = JSON.parse(stdout) as Array<{ results?: ResultRow[] }>;
  return parsed.map((r) => r.results ?? []);
}

/** Runs statements whose results we need; one result list per statement, in order. */
export function queryD1(target: D1Target, statements: readonly string[]): ResultRow[][] {
  const out: ResultRow[][] = [];
  for (const command of packStatements(statements, COMMAND_BUDGET_BYTES)) {
    out.push(...parseResults(runWrangler(["d1", "execute", "DB", ...targetArgs(target), "--json", "--command", command.text])));
  }
  return out;
}

export interface PlanResults {
  before: ResultRow[][];
  after: ResultRow[][];
  /** wrangler invocations made (for the summary). */
  calls: number;
}

/**
 * Runs `before` queries, the writes, then `after` queries. Locally everything travels in --file
 * batches (the queries ride in the first and last file, so a small import is one call); remotely
 * the queries go through --command, because D1's import API returns no rows.
 */
export function runPlan(
  target: D1Target,
  plan: { before: readonly string[]; writes: readonly string[]; after: readonly string[] },
): PlanResults {
  const workDir = mkdtempSync(join(tmpdir(), "turnstore-import-"));
  let calls = 0;
  try {
    const files = packStatements(plan.writes, FILE_BUDGET_BYTES);
    if (target.remote) {
      const before = queryD1(target, plan.before);
      calls += packStatements(plan.before, COMMAND_BUDGET_BYTES).length;
      files.forEach(({ text }, i) => {
        const path = join(workDir, `import-${i}.sql`);
        writeFileSync(path, text);
        runWrangler(["d1", "execute", "DB", ...targetArgs(target), "--json", "--file", path]);
        calls += 1;
      });
      const after = queryD1(target, plan.after);
      calls += packStatements(plan.after, COMMAND_BUDGET_BYTES).length;
      return { before, after, calls };
    }
    if (files.length === 0) files.push({ text: "", count: 0 });
    const head = packStatements(plan.before, Infinity)[0]?.text ?? "";
    const tail = packStatements(plan.after, Infinity)[0]?.text ?? "";
    let before: ResultRow[][] = [];
    let after: ResultRow[][] = [];
    files.forEach(({ text, count }, i) => {
      const first = i === 0;
      const last = i === files.length - 1;
      const content = (first ? head : "") + text + (last ? tail : "");
      const expected = (first ? plan.before.length : 0) + count + (last ? plan.after.length : 0);
      const path = join(workDir, `import-${i}.sql`);
      writeFileSync(path, content);
      const results = parseResults(runWrangler(["d1", "execute", "DB", ...targetArgs(target), "--json", "--file", path]));
      calls += 1;
      if (results.length !== expected) {
        // Our statement boundaries and wrangler's splitter disagree: results would be misread.
        throw new WranglerError(`wrangler ran ${results.length} statements from ${path}, expected ${expected}`);
      }
      if (first) before = results.slice(0, plan.before.length);
      if (last) after = results.slice(results.length - plan.after.length);
    });
    return { before, after, calls };
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}
