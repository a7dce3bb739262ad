/**
 * Growing conversations, as a webchat frontend posts them: every snapshot carries the whole
 * conversation so far (the earlier blocks, unchanged, with their ids) plus the new blocks.
 * Deterministic, so a run can be repeated; block texts are 120–420 characters.
 */
import { LOREM } from "./databases";

const KINDS: Array<{ kind: string; role: string }> = [
  { kind: "user", role: "user" },
  { kind: "reasoning", role: "assistant" },
  { kind: "tool_call", role: "assistant" },
  { kind: "tool_use", role: "tool" },
  { kind: "llm_text", role: "assistant" },
];

const TEXT = LOREM.repeat(2);

/** Block j of a conversation, serialized once (the id prefix is the conversation's). */
function blockTail(j: number): string {
  if (j === 0) {
    return `-b0","kind":"system","role":"system","payload":{"text":${JSON.stringify("You are a helpful assistant. " + TEXT.slice(0, 200))}}}`;
  }
  const { kind, role } = KINDS[j % KINDS.length]!;
  const text = `${kind} ${j}: ${TEXT.slice(0, 120 + ((j * 37) % 300))}`;
  const payload = kind === "tool_call" ? { name: "search", args: { query: text.slice(0, 80) } } : { text };
  const metadata = kind === "llm_text" ? { "geppetto.usage@v1": { input_tokens: 900 + j, output_tokens: 120 } } : undefined;
  return `-b${j}","kind":"${kind}","role":"${role}","payload":${JSON.stringify(payload)}${metadata ? `,"metadata":${JSON.stringify(metadata)}` : ""}}`;
}

const tails: string[] = [];
function tail(j: number): string {
  return (tails[j] ??= blockTail(j));
}

/** The first `count` blocks of a conversation as a JSON array text. */
export function blocksJson(blockIdPrefix: string, count: number): string {
  const parts: string[] = new Array(count);
  for (let j = 0; j < count; j++) parts[j] = `{"id":"${blockIdPrefix}${tail(j)}`;
  return `[${parts.join(",")}]`;
}

export interface SnapshotShape {
  convId: string;
  sessionId: string;
  turnId: string;
  phase: string;
  createdAtMs: number;
  blockCount: number;
  runtimeKey: string;
  inferenceId: string;
}

/** A POST /api/turns body; runtime and inference come from the turn metadata, as producers write them. */
export function snapshotBody(s: SnapshotShape): string {
  const metadata = JSON.stringify({
    "geppetto.runtime@v1": { runtime_key: s.runtimeKey },
    "geppetto.inference_id@v1": s.inferenceId,
    "geppetto.session_id@v1": s.sessionId,
  });
  return (
    `{"conv_id":${JSON.stringify(s.convId)},"session_id":${JSON.stringify(s.sessionId)},"phase":"${s.phase}",` +
    `"created_at_ms":${s.createdAtMs},"turn":{"id":${JSON.stringify(s.turnId)},` +
    `"blocks":${blocksJson(s.convId, s.blockCount)},"metadata":${metadata}}}`
  );
}

/**
 * The throughput stream: conversations whose snapshots grow from `first` to `last` blocks, 2 new
 * blocks each (one snapshot per turn, phase final); snapshot i of the stream is unique per run.
 */
export function throughputSnapshot(run: string, i: number, first = 10, last = 50): string {
  const perConversation = (last - first) / 2 + 1;
  const conversation = Math.floor(i / perConversation);
  const k = i % perConversation;
  return snapshotBody({
    convId: `tp-${run}-${conversation}`,
    sessionId: `tp-${run}-${conversation}-s`,
    turnId: `t${k}`,
    phase: "final",
    createdAtMs: 1_760_000_000_000 + i,
    blockCount: first + 2 * k,
    runtimeKey: "planner",
    inferenceId: `inf-${conversation}-${k}`,
  });
}

export const PHASES_PER_TURN = ["pre_inference", "post_inference", "final"] as const;

/** The cost scenario: `turns` turns × 3 phases, each snapshot 2 blocks longer than the one before. */
export function growingConversation(convId: string, turns: number): SnapshotShape[] {
  const out: SnapshotShape[] = [];
  for (let t = 0; t < turns; t++) {
    PHASES_PER_TURN.forEach((phase, p) => {
      const index = t * PHASES_PER_TURN.length + p;
      out.push({
        convId,
        sessionId: `${convId}-s`,
        turnId: `t${String(t).padStart(3, "0")}`,
        phase,
        createdAtMs: 1_760_000_000_000 + index * 1000,
        blockCount: 2 * (index + 1),
        runtimeKey: t < turns / 2 ? "planner" : "research",
        inferenceId: `inf-${t}`,
      });
    });
  }
  return out;
}
