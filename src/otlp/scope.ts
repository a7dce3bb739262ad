/**
 * Who records an OTLP export (src/otlp/recording.ts): the scope of the trace memory and of held spans.
 * The ingest token records anything ("ingest"); a conversation token only its conversation (and
 * session, when bound). Context and held spans are kept per scope, so no caller lends context to
 * another's spans.
 */
import type { SnapshotRequest } from "../turn/snapshot";

/** A caller's scope: `key` names its trace memory and held spans in the store. */
export interface RecordingScope {
  key: string;
  convId: string | null;
  sessionId: string | null;
  /** A conversation token's issue time: its conversation deleted since refuses it (CONTRACT §6.3). */
  tokenIssuedAtMs?: number;
}

export const INGEST_SCOPE: RecordingScope = { key: "ingest", convId: null, sessionId: null };

export function conversationScope(convId: string, sessionId: string | null, tokenIssuedAtMs?: number): RecordingScope {
  return { key: `conversation ${JSON.stringify([convId, sessionId])}`, convId, sessionId, tokenIssuedAtMs };
}

/** The scope of a stored key (the scheduled handler resolves held spans of every scope). */
export function scopeOfKey(key: string): RecordingScope {
  if (!key.startsWith("conversation ")) return INGEST_SCOPE;
  const [convId, sessionId] = JSON.parse(key.slice("conversation ".length)) as [string, string | null];
  return conversationScope(convId, sessionId);
}

/** Why a snapshot is outside the scope (a conversation token's conversation or session), or null. */
export function scopeProblem(scope: RecordingScope, request: SnapshotRequest): string | null {
  if (scope.convId !== null && request.conv_id !== scope.convId) return "its conversation is not the one this token is for";
  if (scope.sessionId !== null && request.session_id !== scope.sessionId) return "its session is not the one this token is for";
  return null;
}
