// npm run example:webchat and the package build answer --help without doing anything, and refuse
// unknown or malformed flags with exit code 2 before starting anything.
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { ROOT } from "../../../tools/wrangler-dev";
import { scriptCommand } from "./cli-runs";

const run = (command: string[], args: string[]) =>
  spawnSync(command[0]!, [...command.slice(1), ...args], { cwd: ROOT, encoding: "utf8", timeout: 60_000 });

describe("example:webchat", () => {
  const command = scriptCommand("example:webchat");

  it("--help prints the usage and exits 0", () => {
    const result = run(command, ["--help"]);
    expect(result.status).toBe(0);
    expect(result.stdout.startsWith("usage: npm run example:webchat")).toBe(true);
    expect(result.stdout).toContain("exit codes:");
    expect(result.stdout).not.toContain("Starting");
  });

  it.each([
    [["--no-such-flag"], "Unknown option '--no-such-flag'"],
    [["--token-source", "cookie"], '--token-source must be api or offline, got "cookie"'],
    [["--token-ttl", "0"], "--token-ttl must be an integer 1..86400"],
    [["--port", "80000"], "--port must be an integer 1..65535"],
  ])("refuses %j with exit code 2", (args, message) => {
    const result = run(command, args);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(message);
    expect(result.stdout).toBe("");
  });
});

describe("build:package", () => {
  const command = scriptCommand("build:package");

  it("--help prints the usage and exits 0; an unknown flag exits 2", () => {
    const help = run(command, ["--help"]);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain("exit codes:");
    const unknown = run(command, ["--no-such-flag"]);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain("(see --help)");
  });
});
