// Types for package-entries.mjs (plain JS so `npm install` can run scripts/build-package.mjs with node alone).
export declare const PACKAGE_ENTRIES: { client: string; tokens: string };
export declare function bundleEntries(root: string, outdir: string): Promise<void>;
