/** What the numbers were measured on: hardware, versions, and how busy the machine was. */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { ROOT } from "../tools/wrangler-dev";
import { requireSqlite3 } from "./databases";

export interface Machine {
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  os: string;
  node: string;
  wrangler: string;
  miniflare: string;
  workerd: string;
  sqlite3Cli: string;
  commit: string;
  loadAverageAtStart: [number, number, number];
  startedAt: string;
}

function packageVersion(name: string): string {
  const file = join(ROOT, "node_modules", name, "package.json");
  return existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as { version: string }).version : "unknown";
}

function run(command: string, args: string[]): string {
  const result = spawnSync(command, args, { cwd: ROOT, encoding: "utf8" });
  return result.status === 0 ? result.stdout.trim() : "unknown";
}

export function loadAverage(): [number, number, number] {
  const [a, b, c] = os.loadavg();
  return [a!, b!, c!].map((v) => Math.round(v * 100) / 100) as [number, number, number];
}

export function describeMachine(): Machine {
  const debian = existsSync("/etc/debian_version") ? ` (Debian ${readFileSync("/etc/debian_version", "utf8").trim()})` : "";
  // The report itself (written by the previous run) does not make the measured code uncommitted.
  const dirty = run("git", ["status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)docs/BENCHMARKS.md"])
    ? " + uncommitted changes"
    : "";
  return {
    cpus: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model ?? "unknown",
    memoryGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    os: `${os.type()} ${os.release()}${debian}`,
    node: process.version,
    wrangler: packageVersion("wrangler"),
    miniflare: packageVersion("miniflare"),
    workerd: run(join(ROOT, "node_modules", ".bin", "workerd"), ["--version"]),
    sqlite3Cli: requireSqlite3(),
    commit: run("git", ["rev-parse", "--short", "HEAD"]) + dirty,
    loadAverageAtStart: loadAverage(),
    startedAt: new Date().toISOString(),
  };
}
