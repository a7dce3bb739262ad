/**
 * npm run db:convert -- [--local [--persist-to DIR] | --remote] [--config FILE] [--json] [--progress]
 *
 * Finishes the conversion of an upgraded database's legacy snapshots (the first release's
 * block_refs_json rows, and those the backfill carried over from turn_block_membership) to block
 * paths now, with the Worker's own store code (convertAllLegacySnapshots) through the D1 bindings —
 * every database wrangler.toml binds, each in its own chunks — instead of waiting for the Cron
 * Trigger, which does the same in the background. Re-runnable: a converted snapshot is never converted again.
 */
import { lastAppliedMigration } from "../src/store/health";
import { convertAllLegacySnapshots } from "./legacy/legacy-rows";
import { helpText, parseFlags, type CliOutput, operatorMain, runIfEntry, TARGET_HELP, TARGET_OPTIONS, targetFrom } from "../tools/cli";
import { createProgress } from "../tools/progress";
import { D1Error, d1Step, describeTarget, withDatabases } from "../tools/d1";
import { latestMigration } from "../tools/migrations";

const HELP = helpText({
  usage: "npm run db:convert -- [--local [--persist-to DIR] | --remote] [--config FILE] [--json] [--progress]",
  about:
    "Converts every legacy snapshot of an upgraded D1 database — of every database the configuration binds — to block\n" +
    "paths now (the Worker's Cron Trigger does it in the background, a few chunks per run) and prints how many it\n" +
    "converted. Run the migrations first (`npm run db:migrate`); running it again converts nothing more.",
  options: [
    ...TARGET_HELP.slice(0, 5),
    ["--progress", "progress on stderr even when stderr is not a terminal; on a terminal it is always shown"],
    ...TARGET_HELP.slice(5),
  ],
  exitCodes: [
    [0, "every legacy snapshot is converted"],
    [1, "a database is not at the current migration, or D1 could not be reached or failed"],
    [2, "bad flags"],
  ],
});

const LATEST_MIGRATION = latestMigration();

async function convert(argv: string[], out: CliOutput): Promise<number> {
  const flags = parseFlags(argv, { ...TARGET_OPTIONS, progress: { type: "boolean" } });
  if (flags.help) {
    out.stdout(HELP);
    return 0;
  }
  const target = targetFrom(flags);
  const progress = createProgress({ enabled: flags.progress === true || out.stderrIsTTY });
  const databases = await withDatabases(target, async (open) => {
    const many = open.bindings.length > 1;
    // Every database at the current migration before any is converted.
    for (const binding of open.bindings) {
      const applied = await lastAppliedMigration(open.db(binding)).catch(() => null);
      if (applied === LATEST_MIGRATION) continue;
      const run = many ? "npm run db:migrate" : "npx wrangler d1 migrations apply DB";
      throw new D1Error(
        `${describeTarget(target)}${many ? ` ${binding}` : ""} is at ${applied ?? "no recorded migration"}, not ${LATEST_MIGRATION}: run \`${run}\` first`,
      );
    }
    const converted: Array<{ binding: string; converted: number }> = [];
    for (const binding of open.bindings) {
      progress.step(`legacy snapshots → block paths${many ? ` on ${binding}` : ""}`, null, "snapshots");
      const count = await d1Step(target, `the conversion to block paths${many ? ` on ${binding}` : ""}`, () =>
        convertAllLegacySnapshots(open.db(binding), (n) => progress.update(n)),
      );
      progress.end();
      converted.push({ binding, converted: count });
    }
    return converted;
  });
  const converted = databases.reduce((sum, d) => sum + d.converted, 0);
  const each = databases.length > 1 ? databases : null;
  out.stdout(
    flags.json
      ? `${JSON.stringify({ ok: true, target: describeTarget(target), converted, ...(each ? { databases: each } : {}) })}\n`
      : `converted ${converted} legacy snapshot(s) to block paths on ${describeTarget(target)}${each ? ` (${each.map((d) => `${d.binding} ${d.converted}`).join(", ")})` : ""}; none remain\n`,
  );
  return 0;
}

export const main = operatorMain(convert);

await runIfEntry(import.meta.url, main);
