// The package entries other projects import (package.json "exports"), bundled by esbuild:
//   turnstore/client → <outdir>/client.js (src/client/turnstore-client.ts)
//   turnstore/tokens → <outdir>/tokens.js (src/tokens/conversation-token.ts)
// Node cannot import .ts, so each entry is one ES module with nothing left to resolve: it runs in
// browsers, Node 20+ and Workers alike. scripts/build-package.mjs writes them to lib/ (with tsc's
// declarations); the docs walk (tools/doc-examples.ts) writes its own copy next to the examples.
import { build } from "esbuild";

export const PACKAGE_ENTRIES = {
  client: "src/client/turnstore-client.ts",
  tokens: "src/tokens/conversation-token.ts",
};

/** Bundles the entries of the repository at `root` into `outdir` (absolute, or relative to `root`). */
export async function bundleEntries(root, outdir) {
  await build({
    absWorkingDir: root,
    entryPoints: PACKAGE_ENTRIES,
    outdir,
    bundle: true,
    format: "esm",
    // No platform's built-ins: Web Crypto, fetch and TextEncoder are globals everywhere it runs.
    platform: "neutral",
    mainFields: ["module", "main"],
    target: "es2022",
    legalComments: "none",
    banner: { js: "// Turnstore: built from src/ by scripts/build-package.mjs. Do not edit." },
    logLevel: "warning",
  });
}
