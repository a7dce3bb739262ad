/**
 * Reads a SQLite file with sql.js (SQLite compiled to WebAssembly: no native build, same on every
 * machine). The whole file is loaded into memory, which suits turn databases up to a few hundred MB.
 * Every failure names the file: a damaged page reads "<path>: database disk image is malformed".
 */
import { readFileSync, statSync } from "node:fs";
import initSqlJs, { type Database, type SqlValue } from "sql.js";
import { InputError } from "./cli";

export type Row = Record<string, SqlValue>;

export interface SqliteFile {
  path: string;
  /** Table name → column names, in declaration order (sqlite_* internals left out). */
  tables: Map<string, string[]>;
  /** Rows one at a time (a statement stepped as the caller asks). */
  each(sql: string): Generator<Row>;
  rows(sql: string): Row[];
  count(table: string): number;
  close(): void;
}

const SQLITE_HEADER = "SQLite format 3\u0000";
const MALFORMED = "database disk image is malformed";

let sqlJs: ReturnType<typeof initSqlJs> | undefined;

/** An identifier for SQL run on the source file (never on D1). */
export function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** SQLite's own error about the file, as "<path>: <message>" (exit code 2: the input is unusable). */
function fileError(path: string, error: unknown): InputError {
  return new InputError(`${path}: ${(error as Error)?.message ?? String(error)}`);
}

export async function openSqliteFile(path: string, role: string): Promise<SqliteFile> {
  let bytes: Buffer;
  try {
    if (!statSync(path).isFile()) throw new InputError(`${role} ${path} is not a file`);
    bytes = readFileSync(path);
  } catch (error) {
    if (error instanceof InputError) throw error;
    throw new InputError(`cannot read ${role} ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  if (bytes.length < 100 || bytes.subarray(0, 16).toString("latin1") !== SQLITE_HEADER) {
    throw new InputError(`${role} ${path} is not a SQLite database (no "SQLite format 3" header)`);
  }
  sqlJs ??= initSqlJs();
  const SQL = await sqlJs;
  let db: Database;
  const tables = new Map<string, string[]>();
  try {
    db = new SQL.Database(bytes);
    const names = db.exec(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name`);
    for (const [name] of names[0]?.values ?? []) {
      const info = db.exec(`SELECT name FROM pragma_table_info(?)`, [String(name)]);
      tables.set(
        String(name),
        (info[0]?.values ?? []).map(([column]) => String(column)),
      );
    }
    // Every page read once, before anything is written anywhere: a damaged file is refused whole
    // instead of failing half-way through an import.
    const problems = (db.exec("PRAGMA quick_check")[0]?.values ?? [])
      .flatMap(([text]) => String(text).split("\n"))
      .filter((line) => line !== "ok" && !line.startsWith("***"));
    if (problems.length > 0) {
      const detail = problems.find((line) => line !== MALFORMED);
      throw new InputError(`${path}: ${MALFORMED}${detail ? ` (quick_check: ${detail})` : ""}`);
    }
  } catch (error) {
    if (error instanceof InputError) throw error;
    throw fileError(path, error);
  }
  function* each(sql: string): Generator<Row> {
    let statement: ReturnType<typeof db.prepare>;
    try {
      statement = db.prepare(sql);
    } catch (error) {
      throw fileError(path, error);
    }
    try {
      for (;;) {
        let row: Row;
        try {
          if (!statement.step()) return;
          row = statement.getAsObject();
        } catch (error) {
          throw fileError(path, error);
        }
        yield row;
      }
    } finally {
      statement.free();
    }
  }
  return {
    path,
    tables,
    each,
    rows: (sql) => [...each(sql)],
    count(table) {
      try {
        const result = db.exec(`SELECT count(*) FROM ${quoteIdentifier(table)}`);
        return Number(result[0]?.values[0]?.[0] ?? 0);
      } catch (error) {
        throw fileError(path, error);
      }
    },
    close() {
      db.close();
    },
  };
}
