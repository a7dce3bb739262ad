/**
 * Reads a SQLite file with sql.js (SQLite compiled to WebAssembly: no native build, same on every
 * machine). The whole file is loaded into memory, which suits turn databases up to a few hundred MB.
 */
import { readFileSync, statSync } from "node:fs";
import initSqlJs, { type Database, type SqlValue } from "sql.js";

/** An input the tool cannot use; the CLI prints the message as one line and exits with 2. */
export class InputError extends Error {
  override name = "InputError";
}

export type Row = Record<string, SqlValue>;

export interface SqliteFile {
  path: string;
  /** Table name → column names, in declaration order (sqlite_* internals left out). */
  tables: Map<string, string[]>;
  rows(sql: string): Row[];
  count(table: string): number;
  close(): void;
}

const SQLITE_HEADER = "SQLite format 3\u0000";

let sqlJs: ReturnType<typeof initSqlJs> | undefined;

export function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
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
      const info = db.exec(`SELECT name FROM pragma_table_info(${sqlString(String(name))})`);
      tables.set(String(name), (info[0]?.values ?? []).map(([column]) => String(column)));
    }
  } catch (error) {
    throw new InputError(`${role} ${path} cannot be read as SQLite: ${(error as Error).message}`);
  }
  return {
    path,
    tables,
    rows(sql) {
      const statement = db.prepare(sql);
      const out: Row[] = [];
      try {
        while (statement.step()) out.push(statement.getAsObject());
      } finally {
        statement.free();
      }
      return out;
    },
    count(table) {
      const result = db.exec(`SELECT count(*) FROM ${quoteIdentifier(table)}`);
      return Number(result[0]?.values[0]?.[0] ?? 0);
    },
    close() {
      db.close();
    },
  };
}

function sqlString(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}
