/**
 * The D1 types the Node-side scripts and the src/store code they run use (tools/d1.ts, the
 * bench, the import tool), for tsconfig.node.json — a hand-kept subset of the declarations
 * `wrangler types` writes into worker-configuration.d.ts (D1Meta, D1Result, D1PreparedStatement,
 * D1Database), which the Worker typecheck uses.
 *
 * Why not those generated types: worker-configuration.d.ts is one global script file that declares
 * the whole Workers runtime (Request, Response, crypto, caches, …), which clashes with Node's and
 * the DOM's globals in tsconfig.node.json, and a script file's declarations cannot be imported one by
 * one; @cloudflare/workers-types (importable per compatibility date) is not installed — it is only an
 * optional peer dependency of wrangler here. With it as a devDependency, this file could become
 * `import type { D1Database, … } from "@cloudflare/workers-types"` re-declared as globals.
 */
interface D1Meta {
  duration: number;
  changes: number;
  last_row_id: number;
  changed_db: boolean;
  size_after: number;
  rows_read: number;
  rows_written: number;
  [key: string]: unknown;
}

interface D1Result<T = unknown> {
  results: T[];
  success: true;
  meta: D1Meta;
}

interface D1PreparedStatement {
  bind(...values: unknown[]): D1PreparedStatement;
  first<T = unknown>(column?: string): Promise<T | null>;
  all<T = unknown>(): Promise<D1Result<T>>;
  run<T = unknown>(): Promise<D1Result<T>>;
  raw<T = unknown[]>(): Promise<T[]>;
}

interface D1Database {
  prepare(query: string): D1PreparedStatement;
  batch<T = unknown>(statements: D1PreparedStatement[]): Promise<D1Result<T>[]>;
  exec(query: string): Promise<unknown>;
}
