/**
 * Row types in D1's column names, derived from the Drizzle schema: `Columns<typeof turns.$inferSelect>`
 * is a turns row as a raw SQL statement returns it (snake_case), so a renamed or retyped column is a
 * type error wherever rows are read or written. `fromColumns` maps such a row to the schema's own
 * (camelCase) shape by the schema's column names — the one snake→camel mapper.
 *
 * Raw SQL (instead of Drizzle's query builder) is used where a statement reads its rows from one JSON
 * parameter through json_each (so a request's statement count is constant whatever it carries), for
 * recursive path walks and window functions, and where a statement must share a D1 batch with those.
 */
import { getTableColumns, type Table } from "drizzle-orm";
import type { blocks } from "../db/schema";
import type { StoredBlockRow } from "../turn/block-hash";

type SnakeCase<S extends string> = S extends `${infer Head}${infer Tail}`
  ? `${Head extends Lowercase<Head> ? Head : `_${Lowercase<Head>}`}${SnakeCase<Tail>}`
  : S;

export type Columns<T> = { [K in keyof T as SnakeCase<K & string>]: T[K] };

/** Every property may be null (the columns of an outer join's optional side). */
export type Nullable<T> = { [K in keyof T]: T[K] | null };

/** A raw row of `table` (its D1 column names) in the schema's shape. */
export function fromColumns<T extends Table>(table: T, row: Columns<T["$inferSelect"]>): T["$inferSelect"] {
  const raw = row as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [key, column] of Object.entries(getTableColumns(table))) out[key] = raw[column.name];
  return out as T["$inferSelect"];
}

/**
 * The hash rule reads stored blocks through its own row type (src/turn/block-hash.ts: rules import
 * nothing from the schema); this fails to compile if the schema's blocks columns stop matching it.
 */
type Assert<T extends true> = T;
export type StoredBlockRowMatchesSchema = Assert<Columns<typeof blocks.$inferSelect> extends StoredBlockRow ? true : false>;
