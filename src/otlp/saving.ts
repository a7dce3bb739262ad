/**
 * Spans → snapshots → saved, through the write path of POST /api/turns: the route's request schema,
 * readSnapshot, the request bounds, hashBlocks and saveSnapshots — so every rule, bound and the
 * replay-is-unchanged idempotency hold for OTLP too. Used for a request's spans (recording.ts) and
 * for held spans, when they resolve or expire (held-spans.ts). No SQL here.
 */
import { describeIssue } from "../http/validation";
import { SnapshotRequestSchema } from "../routes/ingest/ingest.routes";
import { type RecordingDatabases, rowsWritten } from "../store/d1";
import { StoreError } from "../store/errors";
import { runStatements } from "../store/otlp-spans";
import { saveSnapshots, type SaveOutcome } from "../store/writes";
import { MAX_BLOCKS_PER_REQUEST, MAX_CONTENT_BYTES_PER_REQUEST, requestCost } from "../turn/limits";
import { hashBlocks, readSnapshot, type PreparedSnapshot, type SnapshotRequest } from "../turn/snapshot";
import { TurnFormatError } from "../turn/turn";
import type { MappedSpan } from "./genai-mapping";
import { type RecordingScope, scopeProblem } from "./scope";

/** Snapshots saved per saveSnapshots call (as a batch request: POST /api/turns/batch takes 100). */
export const SNAPSHOTS_PER_SAVE = 100;

/** A span that was not recorded, and why (partial_success explains it). */
export interface RefusedSpan {
  traceId: string;
  spanId: string;
  reason: string;
}

/** A span whose snapshot passed the route's rules: saved with the others of its conversation. */
export interface Candidate {
  span: { traceId: string; spanId: string };
  snapshot: PreparedSnapshot;
}

/** A resolved span's snapshot through the route's schema and the turn reader: the rules of POST /api/turns. */
function prepare(
  scope: RecordingScope,
  request: SnapshotRequest,
  options: { nowMs: number; maxClockSkewMs: number },
): { snapshot: PreparedSnapshot } | { reason: string } {
  const parsed = SnapshotRequestSchema.safeParse(request);
  if (!parsed.success) return { reason: describeIssue(parsed.error.issues[0]!).message };
  const outside = scopeProblem(scope, parsed.data);
  if (outside) return { reason: outside };
  try {
    const snapshot = readSnapshot(parsed.data, { ...options, prefix: "" });
    requestCost([snapshot]);
    return { snapshot };
  } catch (error) {
    if (error instanceof TurnFormatError) return { reason: error.message };
    throw error;
  }
}

/**
 * A resolved span (not waiting) as a candidate, or refused: the mapping's reason (no conversation, no
 * end time) or the write path's (prepare).
 */
export function candidateOf(
  scope: RecordingScope,
  m: Exclude<MappedSpan, { outcome: "waiting" }>,
  options: { nowMs: number; maxClockSkewMs: number },
): { candidate: Candidate } | { refused: RefusedSpan } {
  const ids = { traceId: m.traceId, spanId: m.spanId };
  const outcome = m.outcome === "refused" ? { reason: m.reason } : prepare(scope, m.request, options);
  if ("reason" in outcome) return { refused: { ...ids, reason: outcome.reason } };
  return { candidate: { span: ids, snapshot: outcome.snapshot } };
}

/** Snapshots in groups within the request bounds of one write (limits.ts), at most SNAPSHOTS_PER_SAVE each. */
function saveGroups(candidates: readonly Candidate[]): Candidate[][] {
  const groups: Candidate[][] = [];
  let group: Candidate[] = [];
  let listed = 0;
  // UTF-16 units of the group's distinct content: at most 3 UTF-8 bytes each (as limits.ts bounds it).
  let units = 0;
  let seen = new Set<string>();
  const costOf = (s: PreparedSnapshot) => {
    let cost = s.metadataJson.length + s.dataJson.length + s.extraJson.length;
    const keys: string[] = [];
    for (const b of s.blocks) {
      const key = `${b.id}\u0000${b.payloadJson}\u0000${b.metadataJson}`;
      if (b.ref || seen.has(key)) continue;
      keys.push(key);
      cost += b.payloadJson.length + b.metadataJson.length;
    }
    return { cost, keys };
  };
  for (const candidate of candidates) {
    const s = candidate.snapshot;
    let { cost, keys } = costOf(s);
    const full =
      group.length >= SNAPSHOTS_PER_SAVE ||
      listed + s.blocks.length > MAX_BLOCKS_PER_REQUEST ||
      (units + cost) * 3 > MAX_CONTENT_BYTES_PER_REQUEST;
    if (full && group.length > 0) {
      groups.push(group);
      group = [];
      listed = 0;
      units = 0;
      seen = new Set();
      ({ cost, keys } = costOf(s));
    }
    group.push(candidate);
    listed += s.blocks.length;
    units += cost;
    for (const key of keys) seen.add(key);
  }
  if (group.length > 0) groups.push(group);
  return groups;
}

/** A store refusal that concerns the snapshots (4xx), not the database's health. */
const isRefusal = (error: unknown): error is StoreError | TurnFormatError =>
  (error instanceof StoreError && error.code !== "UNAVAILABLE") || error instanceof TurnFormatError;

export interface SaveReport {
  saved: Array<{ snapshot: PreparedSnapshot; outcome: SaveOutcome }>;
  refused: Array<RefusedSpan>;
  rowsWritten: number;
  rowsRead: number;
  /** Block path nodes the snapshots added: their new blocks (history they repeat adds none). */
  nodesAdded: number;
  /** Results of the `alongside` statements (run in the first write, or on their own). */
  alongside: D1Result[];
}

/**
 * Saves the candidates group by group (each one saveSnapshots: one batch, all or nothing). A group
 * the store refuses (a conflicting snapshot, a conversation being deleted…) is saved again item by
 * item, so only the spans at fault are refused. A transient failure propagates: the exporter retries,
 * and what was saved already replays unchanged.
 */
export async function saveCandidates(
  dbs: RecordingDatabases,
  scope: RecordingScope,
  candidates: readonly Candidate[],
  alongside: readonly D1PreparedStatement[] = [],
): Promise<SaveReport> {
  const report: SaveReport = { saved: [], refused: [], rowsWritten: 0, rowsRead: 0, nodesAdded: 0, alongside: [] };
  // The caller's statements (the trace memory, in the directory database) ride along with the first
  // write that succeeds in that database (see saveSnapshots); else they run on their own.
  let pending = alongside;
  const save = async (group: readonly Candidate[]) => {
    const hashed = await Promise.all(group.map((c) => hashBlocks(c.snapshot)));
    const result = await dbs.write(hashed[0]!.convId, async (db) => {
      const withMemory = pending.length > 0 && db === dbs.memory;
      const saved = await saveSnapshots(db, hashed, { tokenIssuedAtMs: scope.tokenIssuedAtMs, alongside: withMemory ? pending : [] });
      if (withMemory) {
        report.alongside = saved.alongside;
        pending = [];
      }
      return saved;
    });
    report.rowsWritten += result.rowsWritten;
    report.rowsRead += result.rowsRead;
    report.nodesAdded += result.nodesAdded;
    hashed.forEach((snapshot, i) => report.saved.push({ snapshot, outcome: result.outcomes[i]! }));
  };
  // One conversation per save: a conversation lives in one database.
  const byConversation = new Map<string, Candidate[]>();
  for (const c of candidates) byConversation.set(c.snapshot.convId, [...(byConversation.get(c.snapshot.convId) ?? []), c]);
  for (const group of [...byConversation.values()].flatMap(saveGroups)) {
    try {
      await save(group);
    } catch (error) {
      if (!isRefusal(error)) throw error;
      for (const candidate of group) {
        try {
          await save([candidate]);
        } catch (single) {
          if (!isRefusal(single)) throw single;
          report.refused.push({ ...candidate.span, reason: single.message });
        }
      }
    }
  }
  if (pending.length > 0) {
    report.alongside = await runStatements(dbs.memory, pending);
    report.rowsWritten += rowsWritten(report.alongside);
  }
  return report;
}
