/** A D1 binding recording round trips (a batch, or a statement alone; a refused batch too), statements with D1's meta, results. */

export interface StatementCost {
  sql: string;
  rowsRead: number;
  rowsWritten: number;
  /** SQLite's changes() (table rows, no index entries); D1's meta.duration; the round trip (0-based) that carried it. */
  changes: number;
  durationMs: number;
  roundTrip: number;
  /** Its batch failed as a whole (rolled back; D1 returns no meta). */
  failed: boolean;
}

export interface D1Recorder {
  db: D1Database;
  roundTrips: number;
  /** Wall time of each round trip, ms, from Node (with the proxy's hop to workerd); each batch()'s results. */
  roundTripMs: number[];
  statements: StatementCost[];
  batches: D1Result[][];
  reset(): void;
}

const SQL = Symbol("sql");
const INNER = Symbol("inner");
type RecordedStatement = D1PreparedStatement & { [SQL]: string; [INNER]: D1PreparedStatement };
const cost = (sql: string, result: D1Result | undefined, roundTrip: number, failed = false): StatementCost => ({
  ...{ sql: sql.trim(), roundTrip, failed, rowsRead: result?.meta?.rows_read ?? 0, rowsWritten: result?.meta?.rows_written ?? 0 },
  ...{ changes: result?.meta?.changes ?? 0, durationMs: result?.meta?.duration ?? 0 },
});

export function recordingD1(inner: Pick<D1Database, "prepare" | "batch">): D1Recorder {
  const recorder: D1Recorder = {
    ...{ db: undefined as unknown as D1Database, roundTrips: 0, roundTripMs: [], statements: [], batches: [] },
    reset() {
      [recorder.roundTrips, recorder.roundTripMs, recorder.statements, recorder.batches] = [0, [], [], []];
    },
  };
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
  const alone =
    <K extends "first" | "all" | "run" | "raw">(sql: string, statement: D1PreparedStatement, method: K, withMeta: boolean) =>
    async (...args: unknown[]) => {
      const [index, result] = await trip(() => (statement[method] as (...a: unknown[]) => Promise<unknown>)(...args));
      recorder.statements.push(cost(sql, withMeta ? (result as D1Result) : undefined, index));
      return result;
    };
  const wrap = (sql: string, statement: D1PreparedStatement): RecordedStatement => {
    const [first, all, run, raw] = (["first", "all", "run", "raw"] as const).map((k) =>
      alone(sql, statement, k, k === "all" || k === "run"),
    );
    const bind = (...values: unknown[]) => wrap(sql, statement.bind(...values));
    return { [SQL]: sql, [INNER]: statement, bind, first, all, run, raw } as unknown as RecordedStatement;
  };
  recorder.db = {
    prepare: (sql: string) => wrap(sql, inner.prepare(sql)),
    batch: async <T>(list: D1PreparedStatement[]) => {
      const recorded = list as RecordedStatement[];
      const [index, results] = await trip(
        () => inner.batch<T>(recorded.map((s) => s[INNER])),
        (failedIndex) => recorded.forEach((s) => recorder.statements.push(cost(s[SQL], undefined, failedIndex, true))),
      );
      results.forEach((r, i) => recorder.statements.push(cost(recorded[i]![SQL], r as D1Result, index)));
      recorder.batches.push(results as D1Result[]);
      return results;
    },
    exec: (query: string) => (inner as D1Database).exec(query),
  } as unknown as D1Database;
  return recorder;
}

/** A handle answering each batch() with recorded results, without I/O: what a store function does with D1's answers. */
export function replayD1(batches: ReadonlyArray<D1Result[]>): Pick<D1Database, "prepare" | "batch"> {
  let next = 0;
  const refuse = () => Promise.reject(new Error("replayD1 answers batch() only"));
  const statement = { bind: () => statement, first: refuse, all: refuse, run: refuse, raw: refuse } as unknown as D1PreparedStatement;
  return {
    prepare: () => statement,
    batch: async <T>() => {
      const results = batches[next++];
      if (!results) throw new Error("replayD1: no more recorded batches");
      return results as D1Result<T>[];
    },
  };
}
