/**
 * npm run db:convert -- [--local [--persist-to DIR] | --remote] [--json] [--progress]
 *
 * Finishes the conversion of an upgraded database's legacy snapshots (the first release's
 * block_refs_json rows, and those the backfill carried over from turn_block_membership) to block
 * paths now, with the Worker's own store code (convertAllLegacySnapshots) through the DB binding —
 * instead of waiting for the Cron Trigger, which does the same in bounded chunks in the background.
 * Re-runnable: a converted snapshot is never converted again.
 */
import { lastAppliedMigration } from "../src/store/health";
import { convertAllLegacySnapshots } from "./legacy/legacy-rows";
import { helpText, parseFlags, runCli, TARGET_HELP, TARGET_OPTIONS, targetFrom } from "../tools/cli";
import { createProgress } from "../tools/progress";
import { D1Error, d1Step, describeTarget, withDatabase } from "../tools/d1";
import { latestMigration } from "../tools/migrations";

const HELP = helpText({
  usage: "npm run db:convert -- [--local [--persist-to DIR] | --remote] [--json] [--progress]",
  about:
    "Converts every legacy snapshot of an upgraded D1 database to block paths now (the Worker's Cron Trigger does it in\n" +
    "the background, a few chunks per run) and prints how many it converted. Run the migrations first\n" +
    "(`npx wrangler d1 migrations apply DB`); running it again converts nothing more.",
  options: [
    ...TARGET_HELP.slice(0, 4),
    ["--progress", "progress on stderr even when stderr is not a terminal; on a terminal it is always shown"],
    ...TARGET_HELP.slice(4),
  ],
  exitCodes: [
    [0, "every legacy snapshot is converted"],
    [1, "the database is not at the current migration, or D1 could not be reached or failed"],
    [2, "bad flags"],
  ],
});

const LATEST_MIGRATION = latestMigration();

const argv = process.argv.slice(2);
await runCli(argv.includes("--json"), async () => {
  const flags = parseFlags(argv, { ...TARGET_OPTIONS, progress: { type: "boolean" } });
  if (flags.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const target = targetFrom(flags);
  const progress = createProgress({ enabled: flags.progress === true || process.stderr.isTTY === true });
  const converted = await withDatabase(target, async (db) => {
    const applied = await lastAppliedMigration(db).catch(() => null);
    if (applied !== LATEST_MIGRATION) {
      throw new D1Error(
        `${describeTarget(target)} is at ${applied ?? "no recorded migration"}, not ${LATEST_MIGRATION}: run \`npx wrangler d1 migrations apply DB\` first`,
      );
    }
    progress.step("legacy snapshots → block paths", null, "snapshots");
    const count = await d1Step(target, "the conversion to block paths", () => convertAllLegacySnapshots(db, (n) => progress.update(n)));
    progress.end();
    return count;
  });
  process.stdout.write(
    flags.json
      ? `${JSON.stringify({ ok: true, target: describeTarget(target), converted })}\n`
      : `converted ${converted} legacy snapshot(s) to block paths on ${describeTarget(target)}; none remain\n`,
  );
  return 0;
});
