/**
 * Runs wrangler for the scripts and Node-side tests: the one place that spawns it (spawnWrangler,
 * wranglerSync; tools/d1.ts builds on them), and `wrangler dev` (startDev: bench, load test,
 * browser test) with local D1 under a chosen --persist-to folder, migrations applied first, loopback
 * only. stop() kills the wrangler process we started (its process group, so workerd goes too).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { quietEnv } from "./quiet-env.mjs";

export const ROOT = fileURLToPath(new URL("..", import.meta.url));
export const WRANGLER = fileURLToPath(new URL("../node_modules/.bin/wrangler", import.meta.url));

export interface DevServer {
  url: string;
  port: number;
  /** The wrangler process; it leads the process group of everything it started (workerd among them). */
  pid: number;
  /** Settles with wrangler's exit code when it exits (stopped, or on its own). */
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

export interface DevOptions {
  /** Port on 127.0.0.1; omitted: a free one (the machine may be running other engineers' servers). */
  port?: number;
  persistTo: string;
  /** Worker entry, relative to the repository root (wrangler dev's positional argument); omitted: wrangler.toml's `main`. */
  entry?: string;
  /** Another Worker's wrangler config, relative to the repository root (e.g. the webchat example's backend); omitted: wrangler.toml. */
  config?: string;
  vars?: Record<string, string>;
  /** More `wrangler dev` flags, after the others (e.g. `--test-scheduled`). */
  args?: string[];
  /** Skip `wrangler d1 migrations apply` (the caller prepared the database). */
  skipMigrations?: boolean;
  /**
   * Start it as the README does, `npm run dev` (scripts/dev.mjs: .dev.vars when missing, the
   * migrations, then wrangler dev with the flags above): only for wrangler.toml's Worker (no `entry`,
   * no `config`).
   */
  npmRunDev?: boolean;
  /** Called with every line wrangler dev prints on stdout (the Worker's console.log lines among them). */
  onLine?: (line: string) => void;
}

/** Runs wrangler to the end in the repository, with the quiet environment; the result as spawnSync gives it. */
export function spawnWrangler(args: string[], options: { input?: string } = {}) {
  return spawnSync(WRANGLER, args, { cwd: ROOT, env: quietEnv, encoding: "utf8", input: options.input, maxBuffer: 256 * 1024 * 1024 });
}

/** Runs wrangler; its stdout, or an Error with all it printed. */
export function wranglerSync(args: string[], options: { input?: string } = {}) {
  const result = spawnWrangler(args, options);
  if (result.status !== 0) {
    throw new Error(`wrangler ${args.join(" ")} failed (${result.status}):\n${result.stdout}\n${result.stderr}`);
  }
  return result.stdout;
}

/**
 * `wrangler d1 migrations apply DB --local` into `persistTo`. A folder without a database yet gets a
 * copy of one this checkout migrated before from the same drizzle/ files and wrangler.toml (kept in
 * node_modules/.cache/turnstore/): a fresh migration costs wrangler ~6 s of CPU, and the tools'
 * tests start a dozen of them. The first one migrates for real and keeps the result; a test process
 * that finds another one doing so waits for it rather than migrating too (the slow files start
 * together on a fresh clone). The tests whose subject is the migrations run wrangler themselves.
 */
export function applyMigrationsLocal(persistTo: string): void {
  const cached = join(ROOT, "node_modules", ".cache", "turnstore", `migrated-d1-${migrationsKey()}`);
  const fresh = !existsSync(join(persistTo, "v3", "d1"));
  const lock = `${cached}.lock`;
  if (fresh) waitWhileLocked(lock);
  if (fresh && existsSync(cached)) {
    cpSync(cached, persistTo, { recursive: true });
    return;
  }
  const building = fresh && takeLock(lock);
  try {
    wranglerSync(["d1", "migrations", "apply", "DB", "--local", "--persist-to", persistTo]);
    if (!fresh || existsSync(cached)) return;
    // Copied aside, then renamed into place: another test process may be doing the same.
    const staging = `${cached}.${process.pid}`;
    cpSync(persistTo, staging, { recursive: true });
    try {
      renameSync(staging, cached);
    } catch {
      rmSync(staging, { recursive: true, force: true });
    }
  } finally {
    if (building) rmSync(lock, { recursive: true, force: true });
  }
}

/** A directory made atomically, holding the owner's pid; false when another process holds it. */
function takeLock(lock: string): boolean {
  try {
    mkdirSync(dirname(lock), { recursive: true });
    mkdirSync(lock);
  } catch {
    return false;
  }
  writeFileSync(join(lock, "pid"), String(process.pid));
  return true;
}

/** Blocks while a live process holds `lock` (at most two minutes: a fresh migration takes seconds). */
function waitWhileLocked(lock: string): void {
  const deadline = Date.now() + 120_000;
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  while (existsSync(lock) && Date.now() < deadline) {
    let owner = 0;
    try {
      owner = Number(readFileSync(join(lock, "pid"), "utf8"));
    } catch {
      // not written yet, or the lock is gone
    }
    if (owner > 0 && !alive(owner)) {
      rmSync(lock, { recursive: true, force: true }); // its owner died
      return;
    }
    Atomics.wait(sleeper, 0, 0, 200); // a synchronous sleep: applyMigrationsLocal is synchronous
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** What a migrated local DB depends on: the migration files and the D1 binding's configuration. */
function migrationsKey(): string {
  const hash = createHash("sha256").update(readFileSync(join(ROOT, "wrangler.toml")));
  const drizzle = join(ROOT, "drizzle");
  for (const name of readdirSync(drizzle)
    .filter((n) => n.endsWith(".sql"))
    .sort())
    hash.update(name).update(readFileSync(join(drizzle, name)));
  return hash.digest("hex").slice(0, 16);
}

/** A port nothing listens on right now (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

export async function startDev(options: DevOptions): Promise<DevServer> {
  if (!options.skipMigrations) applyMigrationsLocal(options.persistTo);
  const port = options.port ?? (await freePort());
  const vars = Object.entries(options.vars ?? {}).flatMap(([k, v]) => ["--var", `${k}:${v}`]);
  const where = ["--port", String(port), "--persist-to", options.persistTo];
  const more = ["--inspector-port", "0", ...vars, ...(options.args ?? [])];
  if (options.npmRunDev && (options.entry || options.config)) throw new Error("startDev: npmRunDev serves wrangler.toml's Worker only");
  const [command, args]: [string, string[]] = options.npmRunDev
    ? ["npm", ["run", "-s", "dev", "--", ...where, "--", ...more]]
    : [
        WRANGLER,
        [
          "dev",
          ...(options.entry ? [options.entry] : []),
          ...(options.config ? ["--config", options.config] : []),
          "--ip",
          "127.0.0.1",
          ...where,
          ...more,
        ],
      ];
  const child: ChildProcess = spawn(command, args, { cwd: ROOT, env: quietEnv, stdio: ["ignore", "pipe", "pipe"], detached: true });
  // The tail of its output, for error messages (a long run logs one line per request).
  let output = "";
  const keep = (d: Buffer) => {
    output = (output + d.toString()).slice(-65_536);
  };
  let partial = "";
  child.stdout?.on("data", (d: Buffer) => {
    keep(d);
    if (!options.onLine) return;
    const lines = (partial + d.toString()).split("\n");
    partial = lines.pop()!;
    for (const line of lines) options.onLine(line);
  });
  child.stderr?.on("data", keep);
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited early:\n${output}`);
    try {
      // Only once wrangler says it listens there: another process on the same port must not pass for ours.
      if (output.includes(`Ready on ${url}`) && (await fetch(`${url}/healthz`)).status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      process.kill(-child.pid!, "SIGTERM");
      throw new Error(`wrangler dev did not answer /healthz within 60 s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    url,
    port,
    pid: child.pid!,
    exited,
    stop: async () => {
      if (child.exitCode !== null) return;
      process.kill(-child.pid!, "SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (child.exitCode === null) process.kill(-child.pid!, "SIGKILL");
    },
  };
}
