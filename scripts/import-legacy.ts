/**
 * npm run import:legacy -- --turns path/to/turns.db [--timeline path/to/timeline.db]
 *   [--local [--persist-to DIR] | --remote] [--config FILE] [--dry-run] [--json] [--progress]
 *
 * Loads a Go-era turn database (layouts A, B, C and geppetto's G; see scripts/legacy/layout.ts) and
 * optionally the timeline.db conversation index into D1 through the Worker's own store code, and
 * verifies the result (scripts/legacy/run-import.ts).
 */
import {
  helpText,
  operatorPath,
  parseFlags,
  type CliOutput,
  operatorMain,
  runIfEntry,
  TARGET_HELP,
  TARGET_OPTIONS,
  targetFrom,
  UsageError,
} from "../tools/cli";
import { exitCodeFor, formatSummary } from "./legacy/import-summary";
import { createProgress } from "../tools/progress";
import { runImport } from "./legacy/run-import";

const USAGE = `npm run import:legacy -- --turns path/to/turns.db [--timeline path/to/timeline.db]
         [--local [--persist-to DIR] | --remote] [--config FILE] [--dry-run] [--json] [--progress]`;

const HELP = helpText({
  usage: USAGE,
  about:
    "Imports a turn database of the Go implementation (layouts A, B, C) or of geppetto (geppetto_turns), and optionally\n" +
    "its timeline.db conversation index, into D1 through the Worker's own store code; running it again changes nothing.\n" +
    "With several conversation databases, each conversation goes wholly to the database the Worker places it in.\n" +
    "Relative paths are taken from the directory npm was started in. See docs/MIGRATION.md.",
  options: [
    ["--turns FILE", "the turn database to import (required)"],
    ["--timeline FILE", "timeline.db: conversation pointers merged by the pointer rule (newest evidence wins)"],
    ...TARGET_HELP.slice(0, 4),
    ["--dry-run", "read and check everything, touch no D1 (no migrations either)"],
    ...TARGET_HELP.slice(4, 5),
    ["--progress", "progress (rows, percent, rate) on stderr even when stderr is not a terminal; on a terminal it is always shown"],
    ...TARGET_HELP.slice(5),
  ],
  exitCodes: [
    [0, "everything imported"],
    [3, "imported, except the rows listed (fix them and run again: only what is missing is added)"],
    [1, "D1 or wrangler failed, or the verification failed (run the same command again after fixing the cause)"],
    [2, "bad flags, or a file that cannot be used: unreadable, not SQLite, damaged, or of an unknown layout (nothing written)"],
  ],
});

async function importLegacy(argv: string[], out: CliOutput): Promise<number> {
  const flags = parseFlags(argv, {
    ...TARGET_OPTIONS,
    turns: { type: "string" },
    timeline: { type: "string" },
    "dry-run": { type: "boolean" },
    progress: { type: "boolean" },
  });
  if (flags.help) {
    out.stdout(HELP);
    return 0;
  }
  if (!flags.turns) throw new UsageError(`--turns is required\nusage: ${USAGE}`);
  const summary = await runImport({
    turns: operatorPath(flags.turns),
    timeline: flags.timeline === undefined ? undefined : operatorPath(flags.timeline),
    target: targetFrom(flags),
    dryRun: flags["dry-run"] ?? false,
    progress: createProgress({ enabled: flags.progress === true || out.stderrIsTTY }),
  });
  out.stdout(flags.json ? `${JSON.stringify(summary, null, 2)}\n` : `${formatSummary(summary)}\n`);
  return exitCodeFor(summary);
}

export const main = operatorMain(importLegacy);

await runIfEntry(import.meta.url, main);
