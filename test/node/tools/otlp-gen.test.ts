// The generated OTLP message types (src/otlp/gen/) are what the pinned protos (src/otlp/proto/)
// generate: npm run gen:otlp -- --check regenerates offline into a temporary folder and compares.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { quietEnv } from "../../../tools/quiet-env.mjs";

const ROOT = fileURLToPath(new URL("../../..", import.meta.url));
const run = (...args: string[]) =>
  spawnSync(process.execPath, [`${ROOT}scripts/gen-otlp.mjs`, ...args], { cwd: ROOT, env: quietEnv, encoding: "utf8", timeout: 60_000 });

describe("gen:otlp", () => {
  it("--check: src/otlp/gen/ is exactly what the pinned protos generate", () => {
    const result = run("--check");
    expect(result.stderr).toBe("");
    expect(result.stdout).toContain("src/otlp/gen/ is up to date (4 files)");
    expect(result.status).toBe(0);
  });

  it("--help prints the usage and exits 0; an unknown flag exits 2", () => {
    const help = run("--help");
    expect(help.status).toBe(0);
    expect(help.stdout.startsWith("usage: npm run gen:otlp")).toBe(true);
    expect(help.stdout).toContain("exit codes:");
    const bad = run("--no-such-flag");
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain("(see --help)");
  });
});
