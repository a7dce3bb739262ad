/**
 * npm run example:legacy-db (examples/legacy-db.ts) through its command line: --help and a refused
 * flag, and the database it writes — the Go store's DDL with its foreign keys, the fixture's rows,
 * dated by --at — as a SQLite file and as SQL. The docs walk (test/node/docs/examples.test.ts) runs
 * MIGRATION.md's rehearsal on it; npm run docs:examples answers --help like every script.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import initSqlJs from "sql.js";
import { afterAll, describe, expect, it } from "vitest";
import { scriptCommand } from "./cli-runs";
import { GO_ERA_COUNTS, GO_STORE_DDL } from "../../fixtures/go-store";

const dir = mkdtempSync(join(tmpdir(), "turnstore-legacy-db-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The npm script's command, run in `dir` as npm runs it there (INIT_CWD: where the operator typed it). */
const run = (script: string, args: string[]) => {
  const [program, ...command] = scriptCommand(script);
  return spawnSync(program!, [...command, ...args], {
    cwd: dir,
    encoding: "utf8",
    timeout: 60_000,
    env: { ...process.env, INIT_CWD: dir },
  });
};

describe("npm run example:legacy-db", () => {
  it("--help prints the usage and exits 0; an unknown flag exits 2", () => {
    const help = run("example:legacy-db", ["--help"]);
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^usage: npm run example:legacy-db/);
    expect(help.stdout).toContain("exit codes:");
    const bad = run("example:legacy-db", ["--nope"]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain("Unknown option '--nope'");
  });

  it("writes the Go store's database, foreign keys included, dated by --at, as SQLite and as SQL", async () => {
    const at = 1_790_000_000_000;
    const result = run("example:legacy-db", ["--out", "turns.db", "--sql", "turns.sql", "--at", String(at)]);
    expect(result.stderr).toBe("");
    expect(result.stdout).toContain("wrote turns.db: the Go store's schema, 4 turns, 11 blocks, 16 turn_block_membership");
    const SQL = await initSqlJs();
    const db = new SQL.Database(readFileSync(join(dir, "turns.db")));
    const value = (sql: string) => db.exec(sql)[0]!.values[0]![0];
    expect({
      turns: value("SELECT count(*) FROM turns"),
      blocks: value("SELECT count(*) FROM blocks"),
      turn_block_membership: value("SELECT count(*) FROM turn_block_membership"),
    }).toEqual(GO_ERA_COUNTS);
    expect(value("SELECT max(updated_at_ms) FROM turns")).toBe(at);
    // The DDL as the Go store ran it: the membership's foreign keys to turns (cascading) and blocks.
    expect(value("SELECT sql FROM sqlite_master WHERE name = 'turn_block_membership'")).toContain(
      "REFERENCES turns(conv_id, session_id, turn_id) ON DELETE CASCADE",
    );
    expect(db.exec("PRAGMA foreign_key_check")).toEqual([]);
    db.close();
    const script = readFileSync(join(dir, "turns.sql"), "utf8");
    for (const ddl of GO_STORE_DDL) expect(script).toContain(ddl);
  });
});

describe("npm run docs:examples", () => {
  it("--help prints the usage and exits 0 without walking", () => {
    const help = run("docs:examples", ["--help"]);
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^usage: npm run docs:examples/);
    expect(help.stdout).toContain("exit codes:");
  });
});
