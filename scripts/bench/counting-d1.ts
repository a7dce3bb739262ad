/**
 * A D1 binding that records what the store sends: round trips (one per batch() or per statement run
 * alone), statements, and D1's own meta for each (rows_read, rows_written, changes).
 */

export interface StatementCost {
  sql: string;
  rowsRead: number;
  rowsWritten: number;
  /** Table rows inserted, updated or deleted (SQLite's changes(); index entries not counted). */
  changes: number;
  /** D1's own execution time of the statement (meta.duration), ms. */
  durationMs: number;
}

export interface D1Recorder {
  db: D1Database;
  roundTrips: number;
  statements: StatementCost[];
  reset(): void;
}

const SQL = Symbol("sql");
const INNER = Symbol("inner");

interface RecordedStatement extends D1PreparedStatement {
  [SQL]: string;
  [INNER]: D1PreparedStatement;
}

function cost(sql: string, result: D1Result | undefined): StatementCost {
  return {
    sql: sql.trim().split("\n")[0]!.slice(0, 80),
    rowsRead: result?.meta?.rows_read ?? 0,
    rowsWritten: result?.meta?.rows_written ?? 0,
    changes: result?.meta?.changes ?? 0,
    durationMs: result?.meta?.duration ?? 0,
  };
}

export function recordingD1(inner: D1Database): D1Recorder {
  const recorder: D1Recorder = {
    db: undefined as unknown as D1Database,
    roundTrips: 0,
    statements: [],
    reset() {
      recorder.roundTrips = 0;
      recorder.statements = [];
    },
  };
  const wrap = (sql: string, statement: D1PreparedStatement): RecordedStatement => ({
    [SQL]: sql,
    [INNER]: statement,
    bind: (...values: unknown[]) => wrap(sql, statement.bind(...values)),
    first: async <T>(column?: string) => {
      recorder.roundTrips += 1;
      recorder.statements.push(cost(sql, undefined));
      return statement.first<T>(column);
    },
    all: async <T>() => {
      recorder.roundTrips += 1;
      const result = await statement.all<T>();
      recorder.statements.push(cost(sql, result as D1Result));
      return result;
    },
    run: async <T>() => {
      recorder.roundTrips += 1;
      const result = await statement.run<T>();
      recorder.statements.push(cost(sql, result as D1Result));
      return result;
    },
    raw: async <T>() => {
      recorder.roundTrips += 1;
      recorder.statements.push(cost(sql, undefined));
      return statement.raw<T>();
    },
  });
  recorder.db = {
    prepare: (sql: string) => wrap(sql, inner.prepare(sql)),
    batch: async <T>(list: D1PreparedStatement[]) => {
      recorder.roundTrips += 1;
      const recorded = list as RecordedStatement[];
      const results = await inner.batch<T>(recorded.map((s) => s[INNER]));
      results.forEach((r, i) => recorder.statements.push(cost(recorded[i]![SQL], r as D1Result)));
      return results;
    },
    exec: (query: string) => inner.exec(query),
  };
  return recorder;
}
