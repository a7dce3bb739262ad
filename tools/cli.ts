/**
 * The one command-line layer of the TypeScript scripts (bench, loadtest, import:legacy, db:check,
 * db:convert): node:util parseArgs in strict mode (an unknown flag, a missing value or a stray
 * argument is refused with exit code 2), help text, and the failures a script reports with fixed
 * exit codes. scripts/dev.mjs and scripts/build-viewer.mjs are plain JavaScript (no tools/run-ts.mjs) and
 * keep their own small parseArgs calls.
 *
 * Two presentations over the same parser:
 *  - parseCommandLine (bench, loadtest): the usage text as written; a refused command line prints
 *    "<script>: <problem>" and a pointer to --help, exit 2;
 *  - parseFlags + helpText + operatorMain (the operator CLIs, which also speak --json): a refused
 *    command line is a UsageError, which it prints as one line (and a JSON object with
 *    --json), exit 2; the D1 target flags (--local [--persist-to DIR] | --remote) are shared. Each
 *    exports its `main(argv, out)` (runIfEntry runs it as the program), so tests can run it in-process.
 */
import { realpathSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { D1Error, WranglerError, type D1Target } from "./d1";

/** Exit code for a refused command line (and, for the operator CLIs, an unusable input). */
export const USAGE_EXIT_CODE = 2;

// ---- Failures the scripts tell apart.

/** An input the tool cannot use (a file it cannot read, an unknown layout): one line, exit 2. */
export class InputError extends Error {
  override name = "InputError";
}

/** Bad flags: exit code 2, like an unusable input file. */
export class UsageError extends InputError {
  override name = "UsageError";
}

// ---- Parsing.

export type OptionsConfig = NonNullable<ParseArgsConfig["options"]>;
export type OptionValues<O extends OptionsConfig> = ReturnType<
  typeof parseArgs<{ options: O; strict: true; allowPositionals: false }>
>["values"];

/** The flags of `argv` against `options`, strictly; a refused command line throws UsageError with parseArgs' first line. */
function strictValues<O extends OptionsConfig>(argv: string[], options: O): OptionValues<O> {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values as OptionValues<O>;
  } catch (error) {
    throw new UsageError((error as Error).message.split("\n")[0]!);
  }
}

/** For the operator CLIs: the flags, or a UsageError "… (see --help)" for cliExitCode to report. */
export function parseFlags<O extends OptionsConfig>(argv: string[], options: O): OptionValues<O> {
  try {
    return strictValues(argv, options);
  } catch (error) {
    throw new UsageError(`${(error as Error).message} (see --help)`);
  }
}

/**
 * For bench and loadtest: parses process.argv (after the script name) against `options` (which must
 * declare `help`). On --help prints `usage` and exits 0; on an unknown flag, a missing value or a bad
 * one (`check` returns a message) prints it and exits 2.
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
    values = strictValues(argv, options);
  } catch (error) {
    refuse(script, (error as Error).message);
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
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n) || n <= 0 || n > max)
    return `--${name} must be an integer 1..${max}, got ${JSON.stringify(raw)}`;
  return null;
}

// ---- The operator CLIs: help text, the D1 target, failures as one line.

export const TARGET_OPTIONS = {
  local: { type: "boolean" },
  "persist-to": { type: "string" },
  remote: { type: "boolean" },
  config: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const satisfies OptionsConfig;

/** --help lines for TARGET_OPTIONS, in the order the scripts list them. */
export const TARGET_HELP: Array<[string, string]> = [
  ["--local", "the local D1 that `npm run dev` uses (.wrangler/state); the default"],
  ["--persist-to DIR", "with --local: the local D1 under DIR instead (as `wrangler dev --persist-to DIR`)"],
  [
    "--remote",
    "the remote D1 databases of wrangler.toml (DB and every other D1 binding), through wrangler's remote bindings (needs `wrangler login` or CLOUDFLARE_API_TOKEN, and the real database_ids)",
  ],
  [
    "--config FILE",
    "another wrangler configuration: its D1 bindings and its CONVERSATION_DATABASES / OPEN_DATABASES vars (default: wrangler.toml)",
  ],
  ["--json", "print the result as one JSON object on stdout (add -s to npm run to keep npm's banner out)"],
  ["-h, --help", "print this help and exit 0 without doing anything"],
];

export interface HelpSpec {
  usage: string;
  about: string;
  options: Array<[string, string]>;
  exitCodes: Array<[number, string]>;
}

export function helpText(spec: HelpSpec): string {
  const width = Math.max(...spec.options.map(([flag]) => flag.length)) + 2;
  return [
    `usage: ${spec.usage}`,
    "",
    spec.about,
    "",
    "options:",
    ...spec.options.map(([flag, text]) => `  ${flag.padEnd(width)}${text}`),
    "",
    "exit codes:",
    ...spec.exitCodes.map(([code, text]) => `  ${code}  ${text}`),
    "",
  ].join("\n");
}

/**
 * A path as the operator typed it: \`npm run\` moves to the package root, so a relative path is
 * resolved against the directory npm was started from (INIT_CWD).
 */
export function operatorPath(path: string): string {
  return resolve(process.env.INIT_CWD ?? process.cwd(), path);
}

export function targetFrom(values: { local?: boolean; remote?: boolean; "persist-to"?: string; config?: string }): D1Target {
  if (values.remote && values.local) throw new UsageError("give --local or --remote, not both");
  if (values.remote && values["persist-to"] !== undefined) throw new UsageError("--persist-to only applies to --local");
  if (values["persist-to"] === "") throw new UsageError("--persist-to needs a directory");
  if (values.config === "") throw new UsageError("--config needs a file");
  const config = values.config === undefined ? {} : { config: operatorPath(values.config) };
  // --local is the default, as for wrangler itself.
  const persistTo = values["persist-to"];
  return values.remote
    ? { remote: true, ...config }
    : { remote: false, persistTo: persistTo === undefined ? undefined : operatorPath(persistTo), ...config };
}

/** Where an operator CLI writes: the process's streams, or (a test running its main in-process) strings. */
export interface CliOutput {
  stdout(text: string): void;
  stderr(text: string): void;
  /** Whether stderr is a terminal (progress is shown there without --progress). */
  stderrIsTTY: boolean;
}

const PROCESS_OUTPUT: CliOutput = {
  stdout: (text) => void process.stdout.write(text),
  stderr: (text) => void process.stderr.write(text),
  stderrIsTTY: process.stderr.isTTY === true,
};

/** An operator CLI: its command line (after the script name) in, its exit code out (operatorMain). */
export type CliMain = (argv: string[], out?: CliOutput) => Promise<number>;

/**
 * Runs a CLI body and turns failures into one line on stderr (and a JSON object on stdout with
 * --json): 2 for bad flags or input (a file named in the message), 1 for wrangler/D1 failures or
 * anything unexpected. Returns the exit code.
 */
async function cliExitCode(argv: string[], out: CliOutput, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (error) {
    const message = error instanceof Error ? error.message.split("\n")[0]! : String(error);
    const kind =
      error instanceof UsageError
        ? "USAGE"
        : error instanceof InputError
          ? "INPUT"
          : error instanceof WranglerError
            ? "WRANGLER"
            : error instanceof D1Error
              ? "D1"
              : "INTERNAL";
    const prefix = error instanceof WranglerError ? "wrangler: " : kind === "INTERNAL" ? "internal error: " : "";
    if (argv.includes("--json")) out.stdout(`${JSON.stringify({ ok: false, error: { code: kind, message } })}\n`);
    out.stderr(`error: ${prefix}${message}\n`);
    return error instanceof InputError ? USAGE_EXIT_CODE : 1;
  }
}

/**
 * An operator CLI's main from its body: it writes to `out` (the process's streams, unless a test
 * passes its own), and cliExitCode reports its failures.
 */
export function operatorMain(body: (argv: string[], out: CliOutput) => Promise<number>): CliMain {
  return (argv, out = PROCESS_OUTPUT) => cliExitCode(argv, out, () => body(argv, out));
}

/**
 * A script's entry: when the module is the program node runs (not imported, as a test imports its
 * main), runs `main` on the command line and exits with its code.
 */
export async function runIfEntry(moduleUrl: string, main: CliMain): Promise<void> {
  const entry = process.argv[1];
  if (!entry || pathToFileURL(realpathSync(entry)).href !== moduleUrl) return;
  process.exit(await main(process.argv.slice(2), PROCESS_OUTPUT));
}
