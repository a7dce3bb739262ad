/**
 * The D1 types src/store uses, for the Node-side bench that drives the store against local D1
 * (wrangler's getPlatformProxy). The Worker typecheck takes them from worker-configuration.d.ts,
 * which the Node typecheck cannot load: its runtime globals clash with Node's and the DOM's.
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
