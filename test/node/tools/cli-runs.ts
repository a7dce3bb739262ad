/**
 * The operator CLIs (import:legacy, db:check, db:convert) from the Node tests, two ways:
 *  - npmRun: as an operator runs them, `npm run -s <script> -- …` — npm, tools/run-ts.mjs and the script's own
 *    start-up included;
 *  - runMain: the script's exported main() in this process — the same flags, output and exit code,
 *    without the ~1–2 s of CPU that npm, starting the script and loading wrangler cost each run.
 * A test file runs each tool it covers through npm at least once; its further runs (other flags,
 * refusals) may go in-process.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { CliMain } from "../../../tools/cli";
import { quietEnv } from "../../../tools/quiet-env.mjs";
import { ROOT } from "../../../tools/wrangler-dev";

export type OperatorScript = "import:legacy" | "db:check" | "db:convert";

export interface CliRun {
  code: number | null;
  stdout: string;
  /** stderr's lines, npm's own warnings left out. */
  stderr: string[];
}

const lines = (text: string) => text.split("\n").filter((l) => l && !/^npm warn/i.test(l));

/**
 * An npm script's command as package.json spells it ("node tools/run-ts.mjs scripts/…"), as argv
 * with paths from ROOT: the command an operator's `npm run` starts, without npm's own start-up.
 */
export function scriptCommand(script: string): string[] {
  const scripts: Record<string, string> = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).scripts;
  const [program, ...args] = scripts[script]!.split(" ");
  if (program !== "node") throw new Error(`npm run ${script} is not a node command: ${scripts[script]}`);
  return [process.execPath, ...args.map((a) => (a.startsWith("-") ? a : join(ROOT, a)))];
}

/** `npm run -s <script> -- …` (db:migrate too: a plain Node script, no main() to call). */
export function npmRun(script: OperatorScript | "db:migrate", args: string[]): CliRun {
  const run = spawnSync("npm", ["run", "-s", script, "--", ...args], { cwd: ROOT, env: quietEnv, encoding: "utf8" });
  return { code: run.status, stdout: run.stdout, stderr: lines(run.stderr) };
}

const MAINS: Record<OperatorScript, () => Promise<{ main: CliMain }>> = {
  "import:legacy": () => import("../../../scripts/import-legacy"),
  "db:check": () => import("../../../scripts/db-check"),
  "db:convert": () => import("../../../scripts/db-convert"),
};

export async function runMain(script: OperatorScript, args: string[]): Promise<CliRun> {
  const { main } = await MAINS[script]();
  let stdout = "";
  let stderr = "";
  const code = await main(args, { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t), stderrIsTTY: false });
  return { code, stdout, stderr: lines(stderr) };
}
