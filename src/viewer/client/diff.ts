/**
 * The turn page's line diff of two YAML payloads, side by side. The edit script comes from jsdiff
 * (npm "diff", Myers' algorithm: a shortest edit script, so as many lines as possible are kept); this
 * module turns it into numbered rows, pairs removed with added lines, and folds unchanged stretches.
 * Pure: no DOM.
 */
import { diffArrays } from "diff";

export type DiffOp = { op: "eq"; left: number; right: number } | { op: "del"; left: number } | { op: "ins"; right: number };

/**
 * Beyond this many differing lines the middle is shown as removed-then-added instead of searched for
 * an alignment, so two unrelated large payloads cannot freeze the tab.
 */
export const MAX_EDIT_LENGTH = 2000;

export const payloadLines = (yaml: string): string[] => yaml.replace(/\n$/, "").split("\n");

/** Every line of each side exactly once, in order: eq (kept), del (left only), ins (right only). */
export function lineDiff(left: readonly string[], right: readonly string[]): DiffOp[] {
  // The common head and tail are cheap to take off first: snapshots of a growing turn mostly append.
  let start = 0;
  while (start < left.length && start < right.length && left[start] === right[start]) start++;
  let endLeft = left.length;
  let endRight = right.length;
  while (endLeft > start && endRight > start && left[endLeft - 1] === right[endRight - 1]) {
    endLeft--;
    endRight--;
  }
  const ops: DiffOp[] = [];
  for (let i = 0; i < start; i++) ops.push({ op: "eq", left: i, right: i });
  let a = start;
  let b = start;
  const changes = diffArrays(left.slice(start, endLeft), right.slice(start, endRight), { maxEditLength: MAX_EDIT_LENGTH });
  for (const change of changes ?? []) {
    for (let k = 0; k < change.count; k++) {
      if (change.added) ops.push({ op: "ins", right: b++ });
      else if (change.removed) ops.push({ op: "del", left: a++ });
      else ops.push({ op: "eq", left: a++, right: b++ });
    }
  }
  // No alignment within MAX_EDIT_LENGTH (changes undefined): what is left is removed, then added.
  while (a < endLeft) ops.push({ op: "del", left: a++ });
  while (b < endRight) ops.push({ op: "ins", right: b++ });
  for (let k = 0; endLeft + k < left.length; k++) ops.push({ op: "eq", left: endLeft + k, right: endRight + k });
  return ops;
}

/** One row of the side-by-side table: line numbers (0-based) on each side, null where a side has none. */
export interface DiffRow {
  change: boolean;
  left: number | null;
  right: number | null;
}

/** Side-by-side rows: a run of removed lines is paired with the run of added lines that follows it. */
export function sideBySide(ops: readonly DiffOp[]): DiffRow[] {
  const rows: DiffRow[] = [];
  let removed: number[] = [];
  let added: number[] = [];
  const flush = () => {
    for (let i = 0; i < Math.max(removed.length, added.length); i++) {
      rows.push({ change: true, left: removed[i] ?? null, right: added[i] ?? null });
    }
    removed = [];
    added = [];
  };
  for (const op of ops) {
    if (op.op === "del") removed.push(op.left);
    else if (op.op === "ins") added.push(op.right);
    else {
      flush();
      rows.push({ change: false, left: op.left, right: op.right });
    }
  }
  flush();
  return rows;
}

export interface DiffCounts {
  removed: number;
  added: number;
}

export function diffCounts(rows: readonly DiffRow[]): DiffCounts {
  return {
    removed: rows.filter((row) => row.change && row.left !== null).length,
    added: rows.filter((row) => row.change && row.right !== null).length,
  };
}

export type ShownRow = { row: DiffRow } | { folded: number };

/** The rows to show: every change with `context` unchanged rows around it; each other stretch folds into one count. */
export function foldUnchanged(rows: readonly DiffRow[], context = 3): ShownRow[] {
  const keep = rows.map(() => false);
  rows.forEach((row, i) => {
    if (!row.change) return;
    for (let j = Math.max(0, i - context); j <= Math.min(rows.length - 1, i + context); j++) keep[j] = true;
  });
  const shown: ShownRow[] = [];
  let folded = 0;
  rows.forEach((row, i) => {
    if (!keep[i]) {
      folded++;
      return;
    }
    if (folded > 0) shown.push({ folded });
    folded = 0;
    shown.push({ row });
  });
  if (folded > 0) shown.push({ folded });
  return shown;
}
