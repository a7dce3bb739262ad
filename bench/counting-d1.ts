/**
 * A D1 binding that records what the store sends: round trips (one per batch() or per statement run
 * alone) with their wall time as seen from Node (through wrangler's proxy), statements, and D1's own
 * meta for each (rows_read, rows_written, changes, duration). A batch D1 refuses (a unique key, a
 * write guard: the one-round-trip write's fallback) is a round trip too: its statements are recorded
 * as failed, without meta, and the error goes on to the caller.
 */

export interface StatementCost {
  sql: string;
  rowsRead: number;
  rowsWritten: number;
  /** Table rows inserted, updated or deleted (SQLite's changes(); index entries not counted). */
  changes: number;
  /** D1's own execution time of the statement (meta.duration), ms. */
  durationMs: number;
  /** Which round trip (0-based, since the last reset) carried it. */
  roundTrip: number;
  /** Its batch failed as a whole (rolled back; D1 returns no meta). */
  failed: boolean;
}

export interface D1Recorder {
  db: D1Database;
  roundTrips: number;
  /** Wall time of each round trip, ms, from Node: includes the proxy's hop to workerd and back. */
  roundTripMs: number[];
  statements: StatementCost[];
  reset(): void;
}

const SQL = Symbol("sql");
const INNER = Symbol("inner");

interface RecordedStatement extends D1PreparedStatement {
  [SQL]: string;
  [INNER]: D1PreparedStatement;
}

function cost(sql: string, result: D1Result | undefined, roundTrip: number, failed = false): StatementCost {
  return {
    sql: sql.trim(),
    roundTrip,
    failed,
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
    roundTripMs: [],
    statements: [],
    reset() {
      recorder.roundTrips = 0;
      recorder.roundTripMs = [];
      recorder.statements = [];
    },
  };
  /** Runs one round trip, timed (a failed one too); returns its index and result. */
  const trip = async <R>(send: () => Promise<R>, onFailure?: (index: number) => void): Promise<[number, R]> => {
    const index = recorder.roundTrips++;
    const started = performance.now();
    try {
      return [index, await send()];
    } catch (error) {
      onFailure?.(index);
      throw error;
    } finally {
      recorder.roundTripMs[index] = performance.now() - started;
    }
  };
  const wrap = (sql: string, statement: D1PreparedStatement): RecordedStatement => ({
    [SQL]: sql,
    [INNER]: statement,
    bind: (...values: unknown[]) => wrap(sql, statement.bind(...values)),
    first: async <T>(column?: string) => {
      const [index, result] = await trip(() => statement.first<T>(column));
      recorder.statements.push(cost(sql, undefined, index));
      return result;
    },
    all: async <T>() => {
      const [index, result] = await trip(() => statement.all<T>());
      recorder.statements.push(cost(sql, result as D1Result, index));
      return result;
    },
    run: async <T>() => {
      const [index, result] = await trip(() => statement.run<T>());
      recorder.statements.push(cost(sql, result as D1Result, index));
      return result;
    },
    raw: async <T>() => {
      const [index, result] = await trip(() => statement.raw<T>());
      recorder.statements.push(cost(sql, undefined, index));
      return result;
    },
  });
  recorder.db = {
    prepare: (sql: string) => wrap(sql, inner.prepare(sql)),
    batch: async <T>(list: D1PreparedStatement[]) => {
      const recorded = list as RecordedStatement[];
      const [index, results] = await trip(
        () => inner.batch<T>(recorded.map((s) => s[INNER])),
        (failedIndex) => recorded.forEach((s) => recorder.statements.push(cost(s[SQL], undefined, failedIndex, true))),
      );
      results.forEach((r, i) => recorder.statements.push(cost(recorded[i]![SQL], r as D1Result, index)));
      return results;
    },
    exec: (query: string) => inner.exec(query),
  };
  return recorder;
}

/**
 * A handle that answers each batch() with results recorded earlier, in order, without I/O: timing a
 * store function against it measures what the function does with D1's answers (building SQL,
 * turning rows into records), not the round trip or the proxy's synchronous prepare/bind calls.
 */
export function replayD1(batches: ReadonlyArray<D1Result[]>): Pick<D1Database, "prepare" | "batch"> {
  let next = 0;
  const statement: D1PreparedStatement = {
    bind: () => statement,
    first: () => Promise.reject(new Error("replayD1 answers batch() only")),
    all: () => Promise.reject(new Error("replayD1 answers batch() only")),
    run: () => Promise.reject(new Error("replayD1 answers batch() only")),
    raw: () => Promise.reject(new Error("replayD1 answers batch() only")),
  };
  return {
    prepare: () => statement,
    batch: async <T>() => {
      const results = batches[next++];
      if (!results) throw new Error("replayD1: no more recorded batches");
      return results as D1Result<T>[];
    },
  };
}

/** Wraps a handle so the results of every batch() are kept (for replayD1). */
export function capturingD1(inner: Pick<D1Database, "prepare" | "batch">): {
  db: Pick<D1Database, "prepare" | "batch">;
  batches: D1Result[][];
} {
  const batches: D1Result[][] = [];
  return {
    batches,
    db: {
      prepare: (sql: string) => inner.prepare(sql),
      batch: async <T>(list: D1PreparedStatement[]) => {
        const results = await inner.batch<T>(list);
        batches.push(results as D1Result[]);
        return results;
      },
    },
  };
}
