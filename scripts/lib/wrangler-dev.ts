/**
 * Starts `wrangler dev` for scripts and Node-side tests (bench, load test, browser test): local D1
 * under a chosen --persist-to folder, migrations applied first, loopback only. stop() kills the
 * wrangler process we started (its process group, so workerd goes too).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { quietEnv } from "./quiet-env.mjs";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const WRANGLER = fileURLToPath(new URL("../../node_modules/.bin/wrangler", import.meta.url));

export interface DevServer {
  url: string;
  port: number;
  stop(): Promise<void>;
}

export interface DevOptions {
  port: number;
  persistTo: string;
  vars?: Record<string, string>;
  /** Skip `wrangler d1 migrations apply` (the caller prepared the database). */
  skipMigrations?: boolean;
}

export function wranglerSync(args: string[], options: { input?: string } = {}) {
  const result = spawnSync(WRANGLER, args, { cwd: ROOT, env: quietEnv, encoding: "utf8", input: options.input, maxBuffer: 256 * 1024 * 1024 });
  if (result.status !== 0) {
    throw new Error(`wrangler ${args.join(" ")} failed (${result.status}):\n${result.stdout}\n${result.stderr}`);
  }
  return result.stdout;
}

export function applyMigrationsLocal(persistTo: string): void {
  wranglerSync(["d1", "migrations", "apply", "DB", "--local", "--persist-to", persistTo]);
}

export async function startDev(options: DevOptions): Promise<DevServer> {
  if (!options.skipMigrations) applyMigrationsLocal(options.persistTo);
  const vars = Object.entries(options.vars ?? {}).flatMap(([k, v]) => ["--var", `${k}:${v}`]);
  const child: ChildProcess = spawn(
    WRANGLER,
    ["dev", "--ip", "127.0.0.1", "--port", String(options.port), "--persist-to", options.persistTo, "--inspector-port", "0", ...vars],
    { cwd: ROOT, env: quietEnv, stdio: ["ignore", "pipe", "pipe"], detached: true },
  );
  let output = "";
  child.stdout?.on("data", (d) => (output += d));
  child.stderr?.on("data", (d) => (output += d));
  const url = `http://127.0.0.1:${options.port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited early:\n${output}`);
    try {
      const res = await fetch(`${url}/healthz`);
      if (res.status === 200) break;
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
    port: options.port,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      process.kill(-child.pid!, "SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (child.exitCode === null) process.kill(-child.pid!, "SIGKILL");
    },
  };
}
