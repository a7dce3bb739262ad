// The D1 databases of this Worker as a wrangler configuration binds them (CONTRACT §6.4: DB holds the
// directory, any other binding more conversations), read with wrangler's own configuration reader.
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { quietEnv } from "./quiet-env.mjs";

/**
 * wrangler's module, loaded when first needed: it is large (~0.5 s of CPU to load), and a script's
 * --help or a refused flag does without it. Required rather than imported: under tsx (the bench
 * runs with it) the ES import of its bundle is twice as slow.
 */
export function loadWrangler() {
  return createRequire(import.meta.url)("wrangler");
}

const root = fileURLToPath(new URL("..", import.meta.url));
const wrangler = fileURLToPath(new URL("../node_modules/.bin/wrangler", import.meta.url));

/** The repository's wrangler.toml: the configuration the scripts use unless given --config. */
export const DEFAULT_CONFIG = `${root}wrangler.toml`;

/** Every [[d1_databases]] binding of a wrangler configuration (default: wrangler.toml), DB first. */
export function d1Bindings(config = DEFAULT_CONFIG) {
  const read = loadWrangler().unstable_readConfig({ config }, { hideWarnings: true });
  const bindings = read.d1_databases.map((d) => d.binding);
  return ["DB", ...bindings.filter((b) => b !== "DB")];
}

/**
 * `wrangler d1 migrations apply` for each database, with `targetArgs` (--local [--persist-to DIR] or
 * --remote) and, with `options.config`, that wrangler configuration instead of wrangler.toml. Stops at
 * the first failure; returns wrangler's exit status (0: all applied).
 */
export function migrateAll(targetArgs, options = {}) {
  const configArgs = options.config ? ["--config", options.config] : [];
  for (const binding of d1Bindings(options.config)) {
    if (!options.quiet) console.log(`migrating ${binding} (${targetArgs.join(" ")})`);
    const result = spawnSync(wrangler, ["d1", "migrations", "apply", binding, ...targetArgs, ...configArgs], {
      cwd: root,
      env: quietEnv,
      stdio: options.quiet ? "pipe" : "inherit",
      encoding: "utf8",
      maxBuffer: 256 * 1024 * 1024,
    });
    if (result.status !== 0) return { status: result.status ?? 1, binding, stdout: result.stdout ?? "", stderr: result.stderr ?? "" };
  }
  return { status: 0 };
}
