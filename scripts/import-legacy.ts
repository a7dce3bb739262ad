/**
 * npm run import:legacy -- --turns path/to/turns.db [--timeline path/to/timeline.db]
 *   [--local [--persist-to DIR] | --remote] [--dry-run] [--json]
 *
 * Loads a Go-era turn database (layouts A, B, C; see scripts/legacy/layout.ts) and optionally the
 * timeline.db conversation index into D1, runs the backfill, and verifies the result.
 * Exit codes: 0 imported; 3 imported except the rows listed; 1 D1/wrangler failure or failed
 * verification; 2 bad flags, unreadable file, not SQLite, or unknown layout.
 */
import { formatSummary, exitCodeFor } from "./legacy/import-summary";
import { operatorPath, parseFlags, runCli, TARGET_OPTIONS, targetFrom, UsageError } from "./legacy/cli-flags";
import { runImport } from "./legacy/run-import";

const USAGE = `usage: npm run import:legacy -- --turns path/to/turns.db [--timeline path/to/timeline.db]
       [--local [--persist-to DIR] | --remote] [--dry-run] [--json]`;

const argv = process.argv.slice(2);
await runCli(argv.includes("--json"), async () => {
  const flags = parseFlags(argv, {
    ...TARGET_OPTIONS,
    turns: { type: "string" },
    timeline: { type: "string" },
    "dry-run": { type: "boolean" },
  });
  if (flags.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (!flags.turns) throw new UsageError(`--turns is required\n${USAGE}`);
  const summary = await runImport({
    turns: operatorPath(flags.turns),
    timeline: flags.timeline === undefined ? undefined : operatorPath(flags.timeline),
    target: targetFrom(flags),
    dryRun: flags["dry-run"] ?? false,
  });
  process.stdout.write(flags.json ? `${JSON.stringify(summary, null, 2)}\n` : `${formatSummary(summary)}\n`);
  return exitCodeFor(summary);
});
