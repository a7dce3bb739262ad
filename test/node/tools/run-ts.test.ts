/**
 * tools/run-ts.mjs, which the npm scripts run their TypeScript programs with: the program sees its
 * own paths and arguments, a changed source is bundled again before the next run (never a stale
 * bundle), and a stack trace names the TypeScript line. Run from a copy of the launcher in a temp
 * folder, with esbuild linked into its node_modules, so no file of the repository changes.
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { ROOT } from "../../../tools/wrangler-dev";

const dir = mkdtempSync(join(tmpdir(), "turnstore-run-ts-"));
mkdirSync(join(dir, "tools"));
mkdirSync(join(dir, "lib"));
copyFileSync(join(ROOT, "tools/run-ts.mjs"), join(dir, "tools/run-ts.mjs"));
mkdirSync(join(dir, "node_modules"));
symlinkSync(join(ROOT, "node_modules/esbuild"), join(dir, "node_modules/esbuild"));
const program = "program.ts";
const bundle = join(dir, "node_modules/.cache/turnstore/run/program.mjs");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const run = (...args: string[]) =>
  spawnSync(process.execPath, [join(dir, "tools/run-ts.mjs"), program, ...args], { cwd: dir, encoding: "utf8", timeout: 60_000 });

describe("tools/run-ts.mjs", () => {
  it("runs a program with its arguments; each module's import.meta.url is its source file's; the exit code is the program's", () => {
    writeFileSync(join(dir, "lib/answer.ts"), 'export const answer = (): string => "first";\nexport const here = import.meta.url;\n');
    writeFileSync(
      join(dir, program),
      [
        'import { answer, here } from "./lib/answer";',
        "const code: number = 3;",
        "console.log(JSON.stringify({ answer: answer(), here, me: import.meta.url, argv: process.argv.slice(1) }));",
        "process.exit(code);",
      ].join("\n"),
    );
    const result = run("--flag", "value");
    expect(result.stderr).toBe("");
    expect(result.status).toBe(3);
    expect(JSON.parse(result.stdout)).toEqual({
      answer: "first",
      here: pathToFileURL(join(dir, "lib/answer.ts")).href,
      me: pathToFileURL(join(dir, program)).href,
      argv: [join(dir, program), "--flag", "value"],
    });
  });

  it("bundles again when a source it imports changed, and only then", () => {
    const built = statSync(bundle).mtimeMs;
    expect(JSON.parse(run().stdout).answer).toBe("first");
    expect(statSync(bundle).mtimeMs).toBe(built);
    writeFileSync(join(dir, "lib/answer.ts"), 'export const answer = (): string => "second, edited";\nexport const here = "";\n');
    expect(JSON.parse(run().stdout).answer).toBe("second, edited");
  });

  it("points a stack trace at the TypeScript source", () => {
    writeFileSync(join(dir, program), 'const fail = (why: string): never => {\n  throw new Error(why);\n};\nfail("on purpose");\n');
    const result = run();
    expect(result.status).toBe(1);
    expect(result.stderr).toContain("Error: on purpose");
    expect(result.stderr).toContain(`${join(dir, program)}:2:9`);
  });
});
