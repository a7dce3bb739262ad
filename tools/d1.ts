/**
 * The D1 databases of this Worker, opened from Node for the operator scripts (import:legacy,
 * db:check, db:convert) with wrangler's getPlatformProxy — the same bindings the Worker gets, so the
 * scripts run the Worker's own store code (src/store) against them:
 *
 *  - local: the workerd SQLite that `wrangler dev` uses (`.wrangler/state`, or --persist-to DIR);
 *  - remote: wrangler's remote bindings (every d1_databases entry marked `remote = true` in a copy of
 *    the configuration; needs `wrangler login` or CLOUDFLARE_API_TOKEN and the real database_ids).
 *
 * Which bindings there are, which hold conversations and which take new ones (CONTRACT §6.4): the
 * configuration's d1_databases and its CONVERSATION_DATABASES / OPEN_DATABASES vars, read by the
 * Worker's own rule (readDatabaseConfig of src/turn/placement.ts) — wrangler.toml, or the file of --config.
 *
 * Migrations are applied with `wrangler d1 migrations apply` (what deployments run), to every database.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import type { getPlatformProxy } from "wrangler";
import { type DatabaseConfig, DIRECTORY_BINDING, readDatabaseConfig } from "../src/turn/placement";
import { d1Bindings, DEFAULT_CONFIG, loadWrangler } from "./d1-bindings.mjs";
import { migrationFiles } from "./migrations";
import { ROOT, spawnWrangler } from "./wrangler-dev";

/** wrangler failed (bad credentials, unreachable API, a failing migration…): one line for the operator. */
export class WranglerError extends Error {
  override name = "WranglerError";
}

/** A D1 statement or batch failed (SQL error, limit, unreachable remote): one line naming the database. */
export class D1Error extends Error {
  override name = "D1Error";
}

/** Where the databases are; `config`: a wrangler configuration other than wrangler.toml (--config). */
export type D1Target = ({ remote: false; persistTo?: string } | { remote: true }) & { config?: string };

/** The wrangler configuration of a target. */
export const configOf = (target: D1Target): string => target.config ?? DEFAULT_CONFIG;

export function describeTarget(target: D1Target): string {
  const config = target.config ? `, --config ${target.config}` : "";
  if (target.remote) return `remote D1 (${target.config ? `the D1 bindings of ${target.config}` : "binding DB in wrangler.toml"})`;
  return `local D1 (${target.persistTo ? `--persist-to ${target.persistTo}` : ".wrangler/state"}${config})`;
}

/** Where wrangler keeps a local target's state (its D1 databases under d1/): what --persist-to names, in v3/. */
const localState = (target: D1Target & { remote: false }) => join(target.persistTo ?? join(ROOT, ".wrangler/state"), "v3");

function targetArgs(target: D1Target): string[] {
  const config = target.config ? ["--config", target.config] : [];
  if (target.remote) return ["--remote", ...config];
  return [...(target.persistTo ? ["--local", "--persist-to", target.persistTo] : ["--local"]), ...config];
}

/** The D1 bindings of the target's configuration, DB first (wrangler's own reader). */
function bindingsOf(target: D1Target): string[] {
  try {
    return d1Bindings(configOf(target));
  } catch (error) {
    throw new WranglerError(`could not read ${configOf(target)}: ${(error as Error).message.split("\n")[0]}`);
  }
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

/** `wrangler d1 migrations apply` for every D1 binding (DB first): brings each to the schema the scripts write. */
function applyMigrations(target: D1Target): void {
  const bindings = bindingsOf(target);
  for (const binding of bindings) {
    const result = spawnWrangler(["d1", "migrations", "apply", binding, ...targetArgs(target)]);
    if (result.error) throw new WranglerError(`could not run wrangler: ${result.error.message}`);
    const failure = () => wranglerFailure(result.stdout, result.stderr);
    if (result.status !== 0) throw new WranglerError(bindings.length > 1 ? `${binding}: ${failure()}` : failure());
  }
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

/** Every D1 database of a configuration, open. */
export interface OpenDatabases {
  /** Every d1_databases binding, DB first. */
  bindings: string[];
  /** Which hold conversations, which take new ones: as the Worker reads CONVERSATION_DATABASES and OPEN_DATABASES. */
  config: DatabaseConfig;
  /** Only DB holds conversations: the directory is never used (as in the Worker). */
  single: boolean;
  db(binding: string): D1Database;
  close(): Promise<void>;
}

/** For remote bindings: a copy of the configuration with every D1 binding marked remote, its paths absolute. */
function remoteConfig(configPath: string, scratch: string): string {
  const base = dirname(configPath);
  const text = readFileSync(configPath, "utf8")
    .replace(/^(\s*database_id\s*=.*)$/gm, "$1\nremote = true")
    .replace(
      /^(\s*(?:main|migrations_dir)\s*=\s*)"([^"]*)"/gm,
      (_, key: string, path: string) => `${key}${JSON.stringify(resolve(base, path))}`,
    );
  const copy = join(scratch, "wrangler.toml");
  writeFileSync(copy, text);
  return copy;
}

/** Opens every D1 binding of the target's configuration. */
async function openDatabases(target: D1Target): Promise<OpenDatabases> {
  let configPath = configOf(target);
  const bindings = bindingsOf(target);
  // Remote bindings are chosen per binding in the configuration: a copy with the D1 ones marked remote.
  const scratch = target.remote ? mkdtempSync(join(tmpdir(), "turnstore-remote-")) : null;
  if (scratch) configPath = remoteConfig(configPath, scratch);
  // wrangler logs informational lines ("Using secrets defined in .dev.vars") to stdout, which is the
  // scripts' result (--json); warnings and errors still reach stderr.
  process.env.WRANGLER_LOG ??= "warn";
  const cleanUp = () => scratch && rmSync(scratch, { recursive: true, force: true });
  let proxy: Awaited<ReturnType<typeof getPlatformProxy<Record<string, D1Database>>>>;
  try {
    proxy = await loadWrangler().getPlatformProxy<Record<string, D1Database>>({
      configPath,
      persist: target.remote ? false : { path: localState(target) },
      remoteBindings: target.remote,
    });
  } catch (error) {
    cleanUp();
    throw new WranglerError(`could not open ${describeTarget(target)}: ${(error as Error).message.split("\n")[0]}`);
  }
  const close = async () => {
    await proxy.dispose();
    cleanUp();
  };
  const read = readDatabaseConfig(proxy.env as Record<string, unknown>, (binding) => bindings.includes(binding));
  if ("problem" in read) {
    await close();
    throw new WranglerError(`${configOf(target)}: ${read.problem}`);
  }
  const { config } = read;
  return {
    bindings,
    config,
    single: config.conversation.length === 1 && config.conversation[0] === DIRECTORY_BINDING,
    db: (binding) => proxy.env[binding]!,
    close,
  };
}

/** Whether every database of `open` has applied every migration file (d1_migrations, as wrangler records them). */
async function migrationsCurrent(open: OpenDatabases): Promise<boolean> {
  const wanted = migrationFiles();
  for (const binding of open.bindings) {
    const applied = await open
      .db(binding)
      .prepare("SELECT name FROM d1_migrations")
      .all<{ name: string }>()
      .then((r) => new Set(r.results.map((m) => m.name)))
      .catch(() => new Set<string>()); // no d1_migrations table: never migrated
    if (wanted.some((name) => !applied.has(name))) return false;
  }
  return true;
}

/**
 * Opens every database of the target at the schema the scripts write (any D1 — empty, at an older
 * migration, or current): `wrangler d1 migrations apply` first, except for local databases that have
 * applied every migration already — there it would do nothing, for ~1.5 s of CPU per database. (A
 * remote target always runs it: opening remote bindings twice costs more than asking wrangler.)
 */
export async function openMigrated(target: D1Target): Promise<OpenDatabases> {
  if (!target.remote && existsSync(join(localState(target), "d1"))) {
    const open = await openDatabases(target);
    if (await migrationsCurrent(open)) return open;
    await open.close();
  }
  applyMigrations(target);
  return openDatabases(target);
}

/** Opens the Worker's DB binding for `target`. */
export async function openDatabase(target: D1Target): Promise<OpenDatabase> {
  const open = await openDatabases(target);
  return { db: open.db(DIRECTORY_BINDING), close: open.close };
}

/** Opens the target, runs `use`, and closes it whatever happens. */
export async function withDatabase<T>(target: D1Target, use: (db: D1Database) => Promise<T>): Promise<T> {
  return withDatabases(target, (open) => use(open.db(DIRECTORY_BINDING)));
}

/** Opens every database of the target, runs `use`, and closes them whatever happens. */
export async function withDatabases<T>(target: D1Target, use: (open: OpenDatabases) => Promise<T>): Promise<T> {
  const open = await openDatabases(target);
  try {
    return await use(open);
  } finally {
    await open.close();
  }
}
