// Types for d1-bindings.mjs (plain JS so `node scripts/db-migrate.mjs` and `scripts/dev.mjs` can import it without tsx).
export declare const DEFAULT_CONFIG: string;
export declare function loadWrangler(): typeof import("wrangler");
export declare function d1Bindings(config?: string): string[];
export declare function migrateAll(
  targetArgs: string[],
  options?: { quiet?: boolean; config?: string },
): { status: 0 } | { status: number; binding: string; stdout: string; stderr: string };
