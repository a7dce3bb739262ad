// The small scripts take their flags through node:util parseArgs in strict mode: --help describes
// them and does nothing, an unknown flag or stray argument is refused with exit code 2.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { scriptCommand } from "./cli-runs";

const ROOT = fileURLToPath(new URL("../../..", import.meta.url));

const scripts = ["dev", "build:viewer", "db:backfill-sql"].map((name) => ({
  name,
  command: scriptCommand(name),
  usage: `usage: npm run ${name}`,
}));

function run(command: string[], args: string[]) {
  return spawnSync(command[0]!, [...command.slice(1), ...args], { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
}

describe.each(scripts)("$name", ({ command, usage }) => {
  it("--help prints the usage and exits 0", () => {
    const result = run(command, ["--help"]);
    expect(result.status).toBe(0);
    expect(result.stdout.startsWith(usage)).toBe(true);
    expect(result.stdout).toContain("exit codes:");
  });

  it("an unknown flag is refused with exit code 2 and a pointer to --help", () => {
    const result = run(command, ["--no-such-flag"]);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain("Unknown option '--no-such-flag'");
    expect(result.stderr).toContain("(see --help)");
    expect(result.stdout).toBe("");
  });
});

describe("dev", () => {
  it("refuses a stray argument and a port that is not a port, before touching the database", () => {
    const stray = run(scripts[0]!.command, ["serve"]);
    expect(stray.status).toBe(2);
    expect(stray.stderr).toContain('unexpected argument "serve"');
    const port = run(scripts[0]!.command, ["--port", "80000"]);
    expect(port.status).toBe(2);
    expect(port.stderr).toContain("--port wants a port number");
  });
});

describe("db:backfill-sql --check", () => {
  it("passes while drizzle/0002_backfill.sql is what the generator writes, and writes nothing", () => {
    const before = readFileSync(`${ROOT}drizzle/0002_backfill.sql`, "utf8");
    const result = run(scripts[2]!.command, ["--check"]);
    expect(result.status).toBe(0);
    expect(result.stdout).toContain("up to date");
    expect(readFileSync(`${ROOT}drizzle/0002_backfill.sql`, "utf8")).toBe(before);
  });
});
