/**
 * The Worker runtime's names that the debug route files mention (api-types.ts derives the response
 * types from those files, so this program checks them too). The Worker program checks them against
 * the real declarations; here those cannot come along (worker-configuration.d.ts declares
 * HTMLRewriter's Element, Response, etc., which clash with the DOM's), so the names only need to exist.
 * If the route files start to mention another Worker type, add it here.
 */
type Env = Record<string, any>;
type D1Database = any;
type D1Result<T = unknown> = { results: T[] } & Record<string, any>;
type RateLimit = { limit(options: { key: string }): Promise<{ success: boolean }> };
