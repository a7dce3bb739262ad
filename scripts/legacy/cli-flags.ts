/**
 * The one flag parser of the operator CLIs (import:legacy, db:check, db:convert): node:util's
 * parseArgs in strict mode (an unknown flag is refused), the D1 target (--local [--persist-to DIR] |
 * --remote), --json, --help text, and one-line failures with fixed exit codes.
 */
import { resolve } from "node:path";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { D1Error, WranglerError, type D1Target } from "../lib/d1";
import { InputError } from "./sqlite-file";

/** Bad flags: exit code 2, like an unusable input file. */
export class UsageError extends InputError {
  override name = "UsageError";
}

export const TARGET_OPTIONS = {
  local: { type: "boolean" },
  "persist-to": { type: "string" },
  remote: { type: "boolean" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const satisfies ParseArgsConfig["options"];

/** --help lines for TARGET_OPTIONS, in the order the scripts list them. */
export const TARGET_HELP: Array<[string, string]> = [
  ["--local", "the local D1 that `npm run dev` uses (.wrangler/state); the default"],
  ["--persist-to DIR", "with --local: the local D1 under DIR instead (as `wrangler dev --persist-to DIR`)"],
  ["--remote", "the remote D1 of the DB binding in wrangler.toml, through wrangler's remote bindings (needs `wrangler login` or CLOUDFLARE_API_TOKEN, and the real database_id)"],
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

export function parseFlags<O extends NonNullable<ParseArgsConfig["options"]>>(argv: string[], options: O) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    throw new UsageError(`${(error as Error).message.split("\n")[0]!} (see --help)`);
  }
}

/**
 * A path as the operator typed it: \`npm run\` moves to the package root, so a relative path is
 * resolved against the directory npm was started from (INIT_CWD).
 */
export function operatorPath(path: string): string {
  return resolve(process.env.INIT_CWD ?? process.cwd(), path);
}

export function targetFrom(values: { local?: boolean; remote?: boolean; "persist-to"?: string }): D1Target {
  if (values.remote && values.local) throw new UsageError("give --local or --remote, not both");
  if (values.remote && values["persist-to"] !== undefined) throw new UsageError("--persist-to only applies to --local");
  if (values["persist-to"] === "") throw new UsageError("--persist-to needs a directory");
  // --local is the default, as for wrangler itself.
  const persistTo = values["persist-to"];
  return values.remote ? { remote: true } : { remote: false, persistTo: persistTo === undefined ? undefined : operatorPath(persistTo) };
}

/**
 * Runs a CLI body and turns failures into one line on stderr (and a JSON object on stdout with
 * --json): 2 for bad flags or input (a file named in the message), 1 for wrangler/D1 failures or
 * anything unexpected.
 */
export async function runCli(json: boolean, body: () => Promise<number>): Promise<never> {
  let code: number;
  try {
    code = await body();
  } catch (error) {
    const message = error instanceof Error ? error.message.split("\n")[0]! : String(error);
    code = error instanceof InputError ? 2 : 1;
    const kind =
      error instanceof UsageError ? "USAGE"
      : error instanceof InputError ? "INPUT"
      : error instanceof WranglerError ? "WRANGLER"
      : error instanceof D1Error ? "D1"
      : "INTERNAL";
    const prefix = error instanceof WranglerError ? "wrangler: " : kind === "INTERNAL" ? "internal error: " : "";
    if (json) process.stdout.write(`${JSON.stringify({ ok: false, error: { code: kind, message } })}\n`);
    process.stderr.write(`error: ${prefix}${message}\n`);
  }
  process.exit(code);
}
