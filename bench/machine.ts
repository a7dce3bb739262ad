/** What the numbers were measured on: hardware, versions, and how busy the machine was. */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { ROOT } from "../tools/wrangler-dev";
import { requireSqlite3 } from "./databases";

const packageVersion = (name: string) => {
  const file = join(ROOT, "node_modules", name, "package.json");
  return existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as { version: string }).version : "unknown";
};

const run = (command: string, args: string[]) => {
  const result = spawnSync(command, args, { cwd: ROOT, encoding: "utf8" });
  return result.status === 0 ? result.stdout.trim() : "unknown";
};
export const loadAverage = () => os.loadavg().map((v) => Math.round(v * 100) / 100);
export function describeMachine() {
  const debian = existsSync("/etc/debian_version") ? ` (Debian ${readFileSync("/etc/debian_version", "utf8").trim()})` : "";
  // The report and the figures (written by the previous run) do not make the measured code uncommitted.
  const status = ["status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)docs/BENCHMARKS.md", ":(exclude)bench/results"];
  const startedAt = new Date().toISOString();
  return {
    ...{ cpus: os.availableParallelism(), cpuModel: os.cpus()[0]?.model ?? "unknown" },
    ...{ memoryGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10, os: `${os.type()} ${os.release()}${debian}`, node: process.version },
    ...{ wrangler: packageVersion("wrangler"), miniflare: packageVersion("miniflare") },
    ...{ workerd: run(join(ROOT, "node_modules", ".bin", "workerd"), ["--version"]), sqlite3Cli: requireSqlite3() },
    ...{ commit: run("git", ["rev-parse", "--short", "HEAD"]) + (run("git", status) ? " + uncommitted changes" : ""), startedAt },
    ...{ date: startedAt.slice(0, 10), loadAverageAtStart: loadAverage() },
  };
}
