/**
 * db:check across databases (CONTRACT §6.4): does the directory in DB agree with what each database
 * holds? Two walks, page by page in conv_id order, so the work grows with the conversations, never
 * all at once in memory:
 *
 *  - the directory's rows: each conversation should be in the database it names (its conversations
 *    row, or a deletion of it recorded there), and that database should be one the Worker uses;
 *  - each database's conversations: each should be where the directory places it — or in DB without a
 *    directory row (placed before there were other databases) — or in the other database of a move
 *    that has not finished (moving_to, moved_from).
 *
 * A conversation in a database the directory does not point to is a problem (the Worker never reads
 * it there). A directory row whose conversation is in no database at all is reported apart, not as a
 * problem: that is what a conversation deleted long ago (its tombstone purged), or a first write
 * refused after its placement, leaves behind.
 */
import { lookUpConversations, type Placement } from "../src/store/directory";
import { DIRECTORY_BINDING } from "../src/turn/placement";
import type { OpenDatabases } from "./d1";

/** Conversations per page of either walk. */
const PAGE = 500;
/** Problems and empty placements listed by conversation (all are counted). */
const SAMPLE = 50;

const DIRECTORY_PAGE = `SELECT conv_id, binding, moving_to, moved_from FROM conversation_directory WHERE conv_id > ?1 ORDER BY conv_id LIMIT ?2`;
const CONVERSATIONS_PAGE = `SELECT conv_id FROM conversations WHERE conv_id > ?1 ORDER BY conv_id LIMIT ?2`;
/** Which of these conversations a database holds, or has a deletion of (pending, or its tombstone). */
const HOLDS = `SELECT value AS conv_id,
  EXISTS (SELECT 1 FROM conversations WHERE conv_id = value) AS held,
  EXISTS (SELECT 1 FROM conversation_deletions WHERE conv_id = value)
    OR EXISTS (SELECT 1 FROM conversation_tombstones WHERE conv_id = value) AS deleted
FROM json_each(?1)`;

export interface DirectoryFinding {
  conv_id: string;
  binding: string;
  problem: string;
}

export interface DirectoryReport {
  ok: boolean;
  /** Directory rows, per database they place conversations in. */
  placed: Record<string, number>;
  /** Conversations each database holds. */
  held: Record<string, number>;
  /** Conversations DB holds with no directory row: placed before there were other databases (they live in DB). */
  inDbUnplaced: number;
  /** Moves not finished: the conversation may be in two databases until the scheduled handler finishes them. */
  movesUnfinished: number;
  problems: { count: number; sample: DirectoryFinding[] };
  /** Directory rows whose conversation no database holds (see above): reported, not a problem. */
  empty: { count: number; sample: DirectoryFinding[] };
  /** Why the directory was not checked (a database not at the current migration). */
  skipped?: string;
}

type DirectoryRow = { conv_id: string; binding: string; moving_to: string | null; moved_from: string | null };

async function page<T>(db: D1Database, sql: string, after: string): Promise<T[]> {
  return (await db.prepare(sql).bind(after, PAGE).all<T>()).results;
}

const note = (list: { count: number; sample: DirectoryFinding[] }, finding: DirectoryFinding) => {
  list.count += 1;
  if (list.sample.length < SAMPLE) list.sample.push(finding);
};

async function holds(db: D1Database, convIds: ReadonlyArray<{ conv_id: string } | string>) {
  const ids = JSON.stringify(convIds.map((c) => (typeof c === "string" ? c : c.conv_id)));
  return (await db.prepare(HOLDS).bind(ids).all<{ conv_id: string; held: number; deleted: number }>()).results;
}

/** Conversations the database the directory names does not hold: held elsewhere (a problem), or nowhere. */
async function reportAbsent(open: OpenDatabases, binding: string, absent: string[], report: DirectoryReport): Promise<void> {
  const elsewhere = new Map<string, string[]>();
  for (const other of open.bindings.filter((b) => b !== binding)) {
    for (const r of await holds(open.db(other), absent)) if (r.held) elsewhere.set(r.conv_id, [...(elsewhere.get(r.conv_id) ?? []), other]);
  }
  for (const convId of absent) {
    const found = elsewhere.get(convId);
    if (found)
      note(report.problems, {
        conv_id: convId,
        binding,
        problem: `placed in ${binding}, which does not hold it (${found.join(" and ")} does)`,
      });
    else note(report.empty, { conv_id: convId, binding, problem: `placed in ${binding}, which holds nothing of it` });
  }
}

/** Directory rows against the databases they name. */
async function walkDirectory(open: OpenDatabases, report: DirectoryReport): Promise<void> {
  const directory = open.db(DIRECTORY_BINDING);
  for (let after = ""; ; ) {
    const rows = await page<DirectoryRow>(directory, DIRECTORY_PAGE, after);
    const byBinding = new Map<string, DirectoryRow[]>();
    for (const row of rows) {
      report.placed[row.binding] = (report.placed[row.binding] ?? 0) + 1;
      if (row.moving_to !== null || row.moved_from !== null) report.movesUnfinished += 1;
      if (!open.config.conversation.includes(row.binding)) {
        const why = open.bindings.includes(row.binding) ? "CONVERSATION_DATABASES does not list" : "the configuration does not bind";
        note(report.problems, { conv_id: row.conv_id, binding: row.binding, problem: `placed in ${row.binding}, which ${why}` });
      } else byBinding.set(row.binding, [...(byBinding.get(row.binding) ?? []), row]);
    }
    for (const [binding, placed] of byBinding) {
      const absent = (await holds(open.db(binding), placed)).filter((r) => !r.held && !r.deleted).map((r) => r.conv_id);
      if (absent.length > 0) await reportAbsent(open, binding, absent, report);
    }
    if (rows.length < PAGE) return;
    after = rows.at(-1)!.conv_id;
  }
}

/** Why a conversation `binding` holds should not be there, or null when it should. */
function misplaced(binding: string, placement: Placement | undefined): string | null {
  if (!placement)
    return binding === DIRECTORY_BINDING ? null : `${binding} holds it, but the directory has no row for it (it would be read from DB)`;
  if (placement.binding === binding || placement.movingTo === binding || placement.movedFrom === binding) return null;
  return `${binding} holds it, but the directory places it in ${placement.binding}`;
}

/** Each database's conversations against the directory. */
async function walkDatabase(open: OpenDatabases, binding: string, report: DirectoryReport): Promise<void> {
  const directory = open.db(DIRECTORY_BINDING);
  report.held[binding] = 0;
  for (let after = ""; ; ) {
    const rows = await page<{ conv_id: string }>(open.db(binding), CONVERSATIONS_PAGE, after);
    const placements = await lookUpConversations(
      directory,
      rows.map((r) => r.conv_id),
    );
    report.held[binding] += rows.length;
    for (const { conv_id } of rows) {
      const placement = placements.get(conv_id);
      if (!placement && binding === DIRECTORY_BINDING) report.inDbUnplaced += 1;
      const problem = misplaced(binding, placement);
      if (problem) note(report.problems, { conv_id, binding, problem });
    }
    if (rows.length < PAGE) return;
    after = rows.at(-1)!.conv_id;
  }
}

const emptyReport = (): DirectoryReport => ({
  ok: true,
  placed: {},
  held: {},
  inDbUnplaced: 0,
  movesUnfinished: 0,
  problems: { count: 0, sample: [] },
  empty: { count: 0, sample: [] },
});

/** The report when not every database is at the current migration (the directory and its tables may not exist). */
export const skippedDirectory = (): DirectoryReport => ({
  ...emptyReport(),
  ok: false,
  skipped: "not checked: every database must be at the current migration first (npm run db:migrate)",
});

/** The directory against every database the configuration binds. */
export async function checkDirectory(open: OpenDatabases): Promise<DirectoryReport> {
  const report = emptyReport();
  for (const binding of open.bindings) report.placed[binding] = 0;
  await walkDirectory(open, report);
  for (const binding of open.bindings) await walkDatabase(open, binding, report);
  report.ok = report.problems.count === 0;
  return report;
}

export function formatDirectoryReport(report: DirectoryReport): string {
  const counts = (record: Record<string, number>) =>
    Object.entries(record)
      .map(([binding, n]) => `${binding} ${n}`)
      .join(", ") || "none";
  if (report.skipped) return `FAIL  directory: ${report.skipped}`;
  const lines = [
    "directory (DB) against the databases:",
    `  conversations held: ${counts(report.held)}`,
    `  directory rows: ${counts(report.placed)}; in DB without a row (placed before there were other databases): ${report.inDbUnplaced}`,
    `  moves not finished: ${report.movesUnfinished}`,
    `${report.ok ? "ok  " : "FAIL"}  directory: ${report.problems.count} conversation(s) not where the directory places them`,
  ];
  for (const p of report.problems.sample) lines.push(`  ${p.conv_id} — ${p.problem}`);
  if (report.empty.count > 0) {
    lines.push(
      `note  ${report.empty.count} directory row(s) whose conversation no database holds (deleted long ago, or a first write refused after placing):`,
    );
    for (const p of report.empty.sample) lines.push(`  ${p.conv_id} — ${p.problem}`);
  }
  return lines.join("\n");
}
