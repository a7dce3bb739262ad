#!/usr/bin/env node
// Builds the package entries other projects import (package.json "exports"):
//   turnstore/client → lib/client.js (src/client/turnstore-client.ts)
//   turnstore/tokens → lib/tokens.js (src/tokens/conversation-token.ts)
// Node cannot import .ts, so each entry is bundled by esbuild into one ES module (no runtime
// dependencies to resolve: it runs in browsers, Node 20+ and Workers alike), and tsc (TypeScript 7,
// the native compiler: a fifth of a second where TypeScript 5.9 took two) writes the declarations
// under lib/types/. lib/ is not committed: npm runs this as `prepare` on `npm install`
// in this repository, on `npm pack`, and when another project installs Turnstore by path or git URL.
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { bundleEntries } from "../tools/package-entries.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));

export async function buildPackage() {
  rmSync(`${root}lib`, { recursive: true, force: true });
  await bundleEntries(root, "lib");
  execFileSync(process.execPath, [`${root}node_modules/typescript-native/bin/tsc`, "-p", `${root}tsconfig.package.json`], {
    cwd: root,
    stdio: "inherit",
  });
  // The sources import each other without extensions (moduleResolution "bundler"); a consumer on
  // "nodenext" needs them in the declarations: "./turn" → "./turn.js" (which TypeScript reads as ./turn.d.ts).
  for (const file of readdirSync(`${root}lib/types`, { recursive: true })) {
    if (!file.endsWith(".d.ts")) continue;
    const path = `${root}lib/types/${file}`;
    const text = readFileSync(path, "utf8").replace(/((?:from |import\()")(\.{1,2}\/[^"]+?)(?<!\.js)"/g, '$1$2.js"');
    writeFileSync(path, text);
  }
}

const HELP = `usage: node scripts/build-package.mjs [--help]

Builds lib/ (gitignored): the package entries turnstore/client and turnstore/tokens as bundled ES
modules (esbuild) with their declarations (tsc, lib/types/). npm runs it as "prepare".

options:
  -h, --help   print this help and exit

exit codes:
  0  built
  1  esbuild or tsc failed (the errors are printed)
  2  unknown flag or argument
`;

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  let values;
  try {
    ({ values } = parseArgs({ args: process.argv.slice(2), options: { help: { type: "boolean", short: "h" } }, strict: true }));
  } catch (error) {
    console.error(`build-package: ${error.message.split("\n")[0].split(". To specify")[0]} (see --help)`);
    process.exit(2);
  }
  if (values.help) {
    process.stdout.write(HELP);
    process.exit(0);
  }
  try {
    await buildPackage();
  } catch {
    process.exit(1);
  }
  console.log("package: lib/client.js, lib/tokens.js and lib/types/ built");
}
