/**
 * npm run example:legacy-db — a small turn database written the way the Go store writes one, to
 * rehearse an upgrade locally before touching production (docs/MIGRATION.md): `wrangler d1
 * migrations apply`, the backfill, `npm run db:check` and `npm run import:legacy`.
 *
 * The schema is the Go store's own DDL and its rows are the statements the Go store runs for each
 * snapshot, both from the fixture the migration and import tests use (test/fixtures/go-store.ts,
 * pinocchio's turn_store_sqlite.go verbatim), with SQLite's foreign keys on as the Go store opens it:
 * three conversations, one switching runtime (inventory → planner), blocks shared across turns and
 * conversations, a turn deleted afterwards (its membership gone by cascade) and one turn whose
 * metadata is malformed. The fixture's times are moved so its newest snapshot is an hour old (or
 * `--at`): recent enough that a local RETENTION_DAYS keeps them.
 */
import { writeFileSync } from "node:fs";
import initSqlJs from "sql.js";
import {
  GO_ERA_AFTERWARDS,
  GO_ERA_SNAPSHOTS,
  GO_STORE_DDL,
  goStoreSave,
  inlineParameters,
  type Statement,
} from "../test/fixtures/go-store";
import { operatorPath, parseCommandLine, positiveIntegerProblem } from "../tools/cli";

const USAGE = `usage: npm run example:legacy-db -- [--out FILE] [--sql FILE] [--at MS]

Writes a SQLite turn database as the Go store writes it (its DDL, foreign keys on, three
conversations with a runtime switch and shared blocks) for rehearsing docs/MIGRATION.md locally.
Relative paths are taken from the directory npm was started in. An existing file is replaced.

options:
  --out FILE   the SQLite file to write (default legacy.db); for npm run import:legacy --turns FILE
  --sql FILE   also write the same database as SQL statements, for
               npx wrangler d1 execute DB --local --persist-to DIR --file FILE (then migrations apply)
  --at MS      the time of the newest snapshot, in ms since the epoch (default: an hour ago)
  -h, --help   print this help and exit

exit codes:
  0  written
  1  the file could not be written
  2  unknown or malformed flag
`;

const flags = parseCommandLine(
  "example:legacy-db",
  USAGE,
  { out: { type: "string" }, sql: { type: "string" }, at: { type: "string" }, help: { type: "boolean", short: "h" } },
  (v) => (v.out === "" || v.sql === "" ? "--out and --sql need a file name" : positiveIntegerProblem("at", v.at)),
);

/** The Go-era snapshots, moved so the newest one is at `at`. */
async function statements(at: number): Promise<Statement[]> {
  const newest = Math.max(...GO_ERA_SNAPSHOTS.map((s) => s.createdAtMs));
  const saves = await Promise.all(GO_ERA_SNAPSHOTS.map((s) => goStoreSave({ ...s, createdAtMs: s.createdAtMs - newest + at })));
  return [...GO_STORE_DDL.map((sql) => ({ sql, params: [] })), ...saves.flat(), ...GO_ERA_AFTERWARDS];
}

const at = flags.at === undefined ? Date.now() - 3_600_000 : Number(flags.at);
const all = await statements(at);
const out = operatorPath(flags.out ?? "legacy.db");
try {
  const SQL = await initSqlJs();
  const db = new SQL.Database();
  // As the Go store opens it (_foreign_keys=on): every save and the cascade run under the foreign keys.
  db.run("PRAGMA foreign_keys = ON");
  for (const { sql, params } of all) db.run(sql, params);
  const counts = ["turns", "blocks", "turn_block_membership"].map((t) => `${db.exec(`SELECT count(*) FROM ${t}`)[0]!.values[0]![0]} ${t}`);
  writeFileSync(out, db.export());
  db.close();
  console.log(`wrote ${flags.out ?? "legacy.db"}: the Go store's schema, ${counts.join(", ")}`);
  if (flags.sql !== undefined) {
    writeFileSync(operatorPath(flags.sql), `${all.map(inlineParameters).join("\n")}\n`);
    console.log(`wrote ${flags.sql}: the same as SQL, for wrangler d1 execute --file`);
  }
} catch (error) {
  console.error(`example:legacy-db: ${(error as Error).message}`);
  process.exit(1);
}
