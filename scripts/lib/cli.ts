/**
 * Command-line options for the bench and the load test: node:util parseArgs in strict mode, one
 * usage text that --help prints (exit 0, nothing run), and a refused flag or value printed with a
 * pointer to --help (exit 2). The import tool has its own flag handling (scripts/legacy/cli-flags.ts).
 */
import { parseArgs, type ParseArgsConfig } from "node:util";

/** Exit code for a refused command line. */
export const USAGE_EXIT_CODE = 2;

export type OptionsConfig = NonNullable<ParseArgsConfig["options"]>;
export type OptionValues<O extends OptionsConfig> = ReturnType<typeof parseArgs<{ options: O; strict: true; allowPositionals: false }>>["values"];

/**
 * Parses process.argv (after the script name) against `options` (which must declare `help`). On --help
 * prints `usage` and exits 0; on an unknown flag, a missing value or a bad one (`check` returns a
 * message) prints it and exits 2.
 */
export function parseCommandLine<O extends OptionsConfig>(
  script: string,
  usage: string,
  options: O,
  check: (values: OptionValues<O>) => string | null = () => null,
  argv: string[] = process.argv.slice(2),
): OptionValues<O> {
  let values: OptionValues<O>;
  try {
    values = parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values as OptionValues<O>;
  } catch (error) {
    refuse(script, (error as Error).message.split("\n")[0]!);
  }
  if ((values as { help?: boolean }).help) {
    process.stdout.write(usage.endsWith("\n") ? usage : `${usage}\n`);
    process.exit(0);
  }
  const problem = check(values);
  if (problem) refuse(script, problem);
  return values;
}

/** `script` is the package.json script name: messages read "bench: …", the hint "npm run bench -- --help". */
function refuse(script: string, message: string): never {
  process.stderr.write(`${script}: ${message}\nTry 'npm run ${script} -- --help' for the options.\n`);
  process.exit(USAGE_EXIT_CODE);
}

/** A flag's value as a positive integer, or a message saying what is allowed. */
export function positiveIntegerProblem(name: string, raw: string | undefined, max = Number.MAX_SAFE_INTEGER): string | null {
  if (raw === undefined) return null;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n) || n <= 0 || n > max) return `--${name} must be an integer 1..${max}, got ${JSON.stringify(raw)}`;
  return null;
}
