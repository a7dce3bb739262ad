#!/usr/bin/env node
// Builds the chat page into dist/, which the backend Worker serves as static assets: esbuild bundles
// page/main.ts (and the Turnstore client it imports) into dist/app.js; index.html and style.css are
// copied. wrangler runs this as the [build] of wrangler.toml before `wrangler dev` and `wrangler deploy`.
// Types are checked by `npm run typecheck` (examples/webchat/tsconfig.json); esbuild only strips them.
import { copyFileSync, mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const here = fileURLToPath(new URL(".", import.meta.url));

await build({
  absWorkingDir: here,
  entryPoints: ["page/main.ts"],
  outfile: "dist/app.js",
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  // In your project `turnstore/client` is the installed package (README, "Use it from your app");
  // here it is this repository's source, so the example always runs the current client.
  alias: { "turnstore/client": "../../src/client/turnstore-client.ts" },
  logLevel: "warning",
});
mkdirSync(`${here}dist`, { recursive: true });
for (const file of ["index.html", "style.css"]) copyFileSync(`${here}page/${file}`, `${here}dist/${file}`);
