/**
 * SQL text for `wrangler d1 execute`: literals instead of bound parameters (wrangler cannot bind
 * from a file), statements kept under D1's 100 KB statement limit, and values too long for one
 * statement staged in pieces. Pure: no I/O.
 */

/** D1 refuses statements over 100,000 bytes; keep a margin for the statement around the rows. */
export const STATEMENT_BUDGET_BYTES = 90_000;

/**
 * Rows are packed into statements of about this size. Smaller than D1 allows on purpose: wrangler
 * splits a local --file with work that grows with the square of each statement's length (8 MB of
 * 90 KB statements took 20 s, of 10 KB ones under 5 s), and D1 gains nothing from longer ones.
 */
export const PACK_BUDGET_BYTES = 10_000;

/** D1 refuses strings and rows over 2,000,000 bytes. */
export const MAX_ROW_BYTES = 1_900_000;

/** Scratch table for values longer than one statement; created, filled and dropped by one import. */
export const PARTS_TABLE = "_turnstore_import_parts";

const utf8 = new TextEncoder();

export function byteLength(text: string): number {
  return utf8.encode(text).length;
}

export type SqlValue = string | number | null;

/**
 * A SQL literal. Strings are single-quoted with '' doubling. Two cases need care:
 * - NUL cannot travel inside quoted text, so such strings go as a hex blob cast to TEXT;
 * - wrangler rewrites a file containing "BEGIN TRANSACTION" (it strips the first "BEGIN
 *   TRANSACTION;" and "COMMIT;" anywhere, data included), so that phrase is split with ||.
 */
export function sqlLiteral(value: SqlValue): string {
  if (value === null) return "NULL";
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new Error(`cannot write ${value} as a SQL number`);
    return Number.isInteger(value) ? value.toFixed(0) : String(value);
  }
  if (value.includes("\u0000")) {
    return `CAST(X'${Buffer.from(value, "utf8").toString("hex")}' AS TEXT)`;
  }
  const body = value.replace(/'/g, "''").replace(/BEGIN TRANSACTION/gi, (m) => `${m.slice(0, 5)}' || '${m.slice(5)}`);
  return `'${body}'`;
}

/** Splits text into pieces whose literals stay within `maxLiteralBytes`, never inside a code point. */
export function splitForLiterals(text: string, maxLiteralBytes: number): string[] {
  const pieces: string[] = [];
  let current = "";
  let bytes = 2;
  for (const ch of text) {
    // Worst case per character: doubled quote, or hex (2 chars per byte) for a string with NUL.
    const cost = ch === "'" ? 2 : ch === "\u0000" ? 2 : byteLength(ch) * 2;
    if (current !== "" && bytes + cost > maxLiteralBytes) {
      pieces.push(current);
      current = "";
      bytes = 2;
    }
    current += ch;
    bytes += cost;
  }
  if (current !== "" || pieces.length === 0) pieces.push(current);
  return pieces;
}

export interface InsertSpec {
  table: string;
  columns: readonly string[];
  /** Appended after the VALUES list, e.g. "ON CONFLICT DO NOTHING". */
  conflict: string;
}

/**
 * Builds statements for many rows: multi-row INSERTs packed up to PACK_BUDGET_BYTES. A row whose
 * own INSERT would not fit has its long strings staged in PARTS_TABLE and reassembled by a
 * sub-select, so each statement stays under the limit however large the value (up to D1's row size).
 */
export class InsertWriter {
  readonly statements: string[] = [];
  private nextValueId = 1;
  private usedParts = false;

  constructor(
    private readonly budget = STATEMENT_BUDGET_BYTES,
    private readonly packBudget = PACK_BUDGET_BYTES,
  ) {}

  /** True once a value went through PARTS_TABLE: the plan must create and drop it. */
  get needsPartsTable(): boolean {
    return this.usedParts;
  }

  insert(spec: InsertSpec, rows: ReadonlyArray<readonly SqlValue[]>): void {
    const head = `INSERT INTO ${spec.table} (${spec.columns.join(", ")}) VALUES\n`;
    const tail = `\n${spec.conflict}`;
    const fixed = byteLength(head) + byteLength(tail);
    let tuples: string[] = [];
    let bytes = fixed;
    const flush = () => {
      if (tuples.length > 0) this.statements.push(head + tuples.join(",\n") + tail);
      tuples = [];
      bytes = fixed;
    };
    for (const row of rows) {
      const tuple = `(${row.map(sqlLiteral).join(", ")})`;
      const size = byteLength(tuple) + 2;
      if (fixed + size > this.budget) {
        flush();
        this.statements.push(head + this.stagedTuple(row, fixed) + tail);
        continue;
      }
      if (bytes + size > this.packBudget) flush();
      tuples.push(tuple);
      bytes += size;
    }
    flush();
  }

  /** The row's tuple with every long string replaced by a reassembly of staged pieces. */
  private stagedTuple(row: readonly SqlValue[], fixedBytes: number): string {
    const pieceBudget = this.budget - 200;
    const parts = row.map((value) => {
      const literal = sqlLiteral(value);
      if (typeof value !== "string" || byteLength(literal) < 1024) return literal;
      this.usedParts = true;
      const id = this.nextValueId++;
      splitForLiterals(value, pieceBudget).forEach((piece, index) => {
        this.statements.push(`INSERT INTO ${PARTS_TABLE} (value_id, part, text) VALUES (${id}, ${index}, ${sqlLiteral(piece)})`);
      });
      return `(SELECT group_concat(text, '' ORDER BY part) FROM ${PARTS_TABLE} WHERE value_id = ${id})`;
    });
    const tuple = `(${parts.join(", ")})`;
    if (fixedBytes + byteLength(tuple) > this.budget) {
      throw new Error("a row has too many long values to fit one statement even when staged");
    }
    return tuple;
  }
}

export const CREATE_PARTS_TABLE = [
  `CREATE TABLE IF NOT EXISTS ${PARTS_TABLE} (value_id INTEGER NOT NULL, part INTEGER NOT NULL, text TEXT NOT NULL, PRIMARY KEY (value_id, part))`,
  // Left over only by an interrupted import; its pieces must not mix with this one's.
  `DELETE FROM ${PARTS_TABLE}`,
];

export const DROP_PARTS_TABLE = `DROP TABLE IF EXISTS ${PARTS_TABLE}`;

/** Groups statements into chunks of at most `budget` bytes (statements joined by ";\n"). */
export function packStatements(statements: readonly string[], budget: number): Array<{ text: string; count: number }> {
  const chunks: Array<{ text: string; count: number }> = [];
  let current: string[] = [];
  let bytes = 0;
  const flush = () => {
    if (current.length > 0) chunks.push({ text: current.join(";\n") + ";\n", count: current.length });
    current = [];
    bytes = 0;
  };
  for (const statement of statements) {
    const size = byteLength(statement) + 2;
    if (current.length > 0 && bytes + size > budget) flush();
    current.push(statement);
    bytes += size;
  }
  flush();
  return chunks;
}
