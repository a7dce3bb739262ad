/**
 * Row types in D1's column names, derived from the Drizzle schema: `Columns<typeof turns.$inferSelect>`
 * is a turns row as a raw SQL statement returns it (snake_case), so a renamed or retyped column is a
 * type error wherever rows are read or written.
 */
type SnakeCase<S extends string> = S extends `${infer Head}${infer Tail}`
  ? `${Head extends Lowercase<Head> ? Head : `_${Lowercase<Head>}`}${SnakeCase<Tail>}`
  : S;

export type Columns<T> = { [K in keyof T as SnakeCase<K & string>]: T[K] };
