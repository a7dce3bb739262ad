/**
 * The D1 database of this Worker, opened from Node for the operator scripts (import:legacy,
 * db:check, db:convert) with wrangler's getPlatformProxy — the same binding the Worker gets, so the
 * scripts run the Worker's own store code (src/store) against it:
 *
 *  - local: the workerd SQLite that `wrangler dev` uses (`.wrangler/state`, or --persist-to DIR);
 *  - remote: wrangler's remote bindings (the d1_databases entry marked `remote = true` in a copy of
 *    wrangler.toml; needs `wrangler login` or CLOUDFLARE_API_TOKEN and the real database_id).
 *
 * Migrations are applied with `wrangler d1 migrations apply` (what deployments run).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, spawnWrangler } from "./wrangler-dev";

/** wrangler failed (bad credentials, unreachable API, a failing migration…): one line for the operator. */
export class WranglerError extends Error {
  override name = "WranglerError";
}

/** A D1 statement or batch failed (SQL error, limit, unreachable remote): one line naming the database. */
export class D1Error extends Error {
  override name = "D1Error";
}

export type D1Target = { remote: false; persistTo?: string } | { remote: true };

export function describeTarget(target: D1Target): string {
  if (target.remote) return "remote D1 (binding DB in wrangler.toml)";
  return `local D1 (${target.persistTo ? `--persist-to ${target.persistTo}` : ".wrangler/state"})`;
}

function targetArgs(target: D1Target): string[] {
  if (target.remote) return ["--remote"];
  return target.persistTo ? ["--local", "--persist-to", target.persistTo] : ["--local"];
}

/** The first line that says what went wrong, from wrangler's output. */
export function wranglerFailure(stdout: string, stderr: string): string {
  const plain = `${stderr}\n${stdout}`.replace(/\x1b\[[0-9;]*m/g, "");
  const lines = plain
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
  const marked = lines.find((l) => /\[ERROR\]/.test(l));
  if (marked) return marked.replace(/^.*\[ERROR\]\s*/, "");
  return lines.find((l) => !/^npm warn/i.test(l)) ?? "wrangler failed without a message";
}

/** `wrangler d1 migrations apply DB`: brings any database to the schema the scripts write. */
export function applyMigrations(target: D1Target): void {
  const result = spawnWrangler(["d1", "migrations", "apply", "DB", ...targetArgs(target)]);
  if (result.error) throw new WranglerError(`could not run wrangler: ${result.error.message}`);
  if (result.status !== 0) throw new WranglerError(wranglerFailure(result.stdout, result.stderr));
}

/** Runs one step against D1; a failure becomes a D1Error that says which step on which database. */
export async function d1Step<T>(target: D1Target, step: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof D1Error) throw error;
    throw new D1Error(`${step} on ${describeTarget(target)} failed: ${String((error as Error)?.message ?? error).split("\n")[0]}`);
  }
}

export interface OpenDatabase {
  db: D1Database;
  close(): Promise<void>;
}

/** Opens the Worker's DB binding for `target`. */
export async function openDatabase(target: D1Target): Promise<OpenDatabase> {
  let configPath = join(ROOT, "wrangler.toml");
  let scratch: string | null = null;
  if (target.remote) {
    // Remote bindings are chosen per binding in the configuration: a copy with the D1 one marked remote.
    scratch = mkdtempSync(join(tmpdir(), "turnstore-remote-"));
    configPath = join(scratch, "wrangler.toml");
    const config = readFileSync(join(ROOT, "wrangler.toml"), "utf8")
      .replace('migrations_dir = "drizzle"', `migrations_dir = ${JSON.stringify(join(ROOT, "drizzle"))}\nremote = true`)
      .replace('main = "src/index.ts"', `main = ${JSON.stringify(join(ROOT, "src/index.ts"))}`);
    writeFileSync(configPath, config);
  }
  // wrangler logs informational lines ("Using secrets defined in .dev.vars") to stdout, which is the
  // scripts' result (--json); warnings and errors still reach stderr.
  process.env.WRANGLER_LOG ??= "warn";
  try {
    // Loaded here, not at the top: wrangler is a large module, and --help, bad flags and unusable input
    // files are answered without it.
    const { getPlatformProxy } = await import("wrangler");
    const proxy = await getPlatformProxy<{ DB: D1Database }>({
      configPath,
      persist: target.remote ? false : { path: join(target.persistTo ?? join(ROOT, ".wrangler/state"), "v3") },
      remoteBindings: target.remote,
    });
    return {
      db: proxy.env.DB,
      close: async () => {
        await proxy.dispose();
        if (scratch) rmSync(scratch, { recursive: true, force: true });
      },
    };
  } catch (error) {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
    throw new WranglerError(`could not open ${describeTarget(target)}: ${(error as Error).message.split("\n")[0]}`);
  }
}

/** Opens the target, runs `use`, and closes it whatever happens. */
export async function withDatabase<T>(target: D1Target, use: (db: D1Database) => Promise<T>): Promise<T> {
  const open = await openDatabase(target);
  try {
    return await use(open.db);
  } finally {
    await open.close();
  }
}
