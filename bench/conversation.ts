/**
 * Growing conversations, as webchat frontends post them: every snapshot carries the whole
 * conversation so far (the earlier blocks, unchanged, with their ids) plus the new blocks.
 * Deterministic, so a run can be repeated.
 *
 *  - the throughput stream (write throughput, the write profile): 21 snapshots per conversation,
 *    10 to 50 blocks of 120–420 characters, 2 new blocks per snapshot;
 *  - geppetto-style conversations (rows per write, the growing conversation, deletion): T turns ×
 *    3 snapshots (pre_inference, post_tools, final), about 2.7 new blocks per turn with short texts,
 *    or with 4 KB tool results; bodies as the frontend client (src/client/turnstore-client.ts) sends
 *    them — the first in full, then deltas (prefix + new blocks) — built per snapshot from the new
 *    blocks only, so a 1,000-turn conversation costs linear time to generate.
 */
import { TurnstoreClient } from "../src/client/turnstore-client";
import { blockContentHash } from "../src/turn/block-hash";
import { chainOf, EMPTY_CHAIN } from "../src/turn/block-path";
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
    return `-b0","kind":"system","role":"system","payload":{"text":${JSON.stringify(`You are a helpful assistant. ${TEXT.slice(0, 200)}`)}}}`;
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

/** Snapshots per conversation of the throughput stream. */
export const STREAM_SNAPSHOTS_PER_CONVERSATION = 21;

/**
 * Snapshot k (0..20) of conversation `conversation` of the throughput stream: `first` + 2k blocks,
 * 10 to 50, 2 new each (one snapshot per turn, phase final); unique per run.
 */
export function streamSnapshot(run: string, conversation: number, k: number, first = 10): string {
  return snapshotBody({
    convId: `tp-${run}-${conversation}`,
    sessionId: `tp-${run}-${conversation}-s`,
    turnId: `t${k}`,
    phase: "final",
    createdAtMs: 1_760_000_000_000 + conversation * STREAM_SNAPSHOTS_PER_CONVERSATION + k,
    blockCount: first + 2 * k,
    runtimeKey: "planner",
    inferenceId: `inf-${conversation}-${k}`,
  });
}

/**
 * Request i of the throughput stream. `interleave` conversations are posted round-robin, so the
 * snapshots of one conversation follow each other `interleave` requests apart — as a chat posts
 * them, one after the other — while other conversations fill the concurrent connections. (Posting
 * one conversation's consecutive snapshots concurrently makes them race for the same new path
 * nodes; the store then plans them again, and after three collisions answers 503.)
 */
export function throughputSnapshot(run: string, i: number, interleave: number): string {
  const group = interleave * STREAM_SNAPSHOTS_PER_CONVERSATION;
  const r = i % group;
  return streamSnapshot(run, Math.floor(i / group) * interleave + (r % interleave), Math.floor(r / interleave));
}

// ---------------------------------------------------------------------------------------------
// Geppetto-style conversations

export const GEPPETTO_PHASES = ["pre_inference", "post_tools", "final"] as const;

/** A turn calls a tool in 7 of every 20 turns: 2 + 2 × 0.35 = 2.7 new blocks per turn on average. */
export const isToolTurn = (t: number) => (t * 7) % 20 < 7;

export interface GeppettoOptions {
  convId: string;
  turns: number;
  /** Characters of a tool result's text; undefined: a short result (60–100 characters). */
  toolResultChars?: number;
  /** First created_at_ms; snapshots are 1 s apart. */
  startMs?: number;
}

/** One snapshot: its identity, and the blocks it adds to the conversation's history (JSON texts). */
export interface GeppettoSnapshot {
  index: number;
  convId: string;
  sessionId: string;
  turnId: string;
  phase: (typeof GEPPETTO_PHASES)[number];
  createdAtMs: number;
  /** New blocks as the client sends them (id, kind, role, payload, metadata), JSON texts. */
  newBlocks: string[];
  /** Blocks of the whole snapshot (history + new). */
  blockCount: number;
  metadata: Record<string, unknown>;
}

const words = LOREM.split(" ");
/** Deterministic text of about `chars` characters (never the same for two seeds). */
function text(seed: number, chars: number): string {
  let out = `#${seed}`;
  for (let k = seed; out.length < chars; k += 7) out += ` ${words[k % words.length]}`;
  return out.slice(0, chars);
}

const block = (id: string, kind: string, role: string, payload: Record<string, unknown>) =>
  JSON.stringify({ id, kind, role, payload, metadata: {} });

/** The conversation, snapshot by snapshot (a generator: only the new blocks are held). */
export function* geppettoConversation(options: GeppettoOptions): Generator<GeppettoSnapshot> {
  const { convId, turns } = options;
  const sessionId = `${convId}-s`;
  const startMs = options.startMs ?? 1_760_000_000_000;
  let index = 0;
  let blockCount = 0;
  for (let t = 0; t < turns; t++) {
    const turnId = `t${String(t).padStart(4, "0")}`;
    const metadata = {
      "geppetto.runtime@v1": { runtime_key: t < turns / 2 ? "planner" : "research" },
      "geppetto.inference_id@v1": `inf-${convId}-${t}`,
    };
    const id = (kind: string) => `${convId}-${turnId}-${kind}`;
    const perPhase: string[][] = [
      [
        ...(t === 0
          ? [block(`${convId}-system`, "system", "system", { text: "You are a careful assistant for the inventory team. Answer briefly." })]
          : []),
        block(id("user"), "user", "user", { text: text(t * 3, 40 + (t % 5) * 8) }),
      ],
      isToolTurn(t)
        ? [
            block(id("call"), "tool_call", "assistant", { id: `call-${t}`, name: "inventory_lookup", args: { sku: `SKU-${1000 + t}` } }),
            block(id("result"), "tool_use", "tool", {
              id: `call-${t}`,
              result: text(t * 3 + 1, options.toolResultChars ?? 60 + (t % 5) * 10),
            }),
          ]
        : [],
      [block(id("answer"), "llm_text", "assistant", { text: text(t * 3 + 2, 70 + (t % 7) * 8) })],
    ];
    for (const [p, phase] of GEPPETTO_PHASES.entries()) {
      const newBlocks = perPhase[p]!;
      blockCount += newBlocks.length;
      yield { index, convId, sessionId, turnId, phase, createdAtMs: startMs + index * 1000, newBlocks, blockCount, metadata };
      index += 1;
    }
  }
}

const BLOCKS_PLACEHOLDER = "@@blocks@@";

/**
 * A POST /api/turns body exactly as TurnstoreClient sends it: the envelope ({conv_id, session_id,
 * phase, created_at_ms, turn_id}), the turn ({id, blocks, metadata, data}), and for a delta the
 * prefix last. `blocks` are block JSON texts.
 */
export function clientBody(s: GeppettoSnapshot, blocks: readonly string[], prefix: { chain: string; blocks: number } | null): string {
  const body: Record<string, unknown> = {
    conv_id: s.convId,
    session_id: s.sessionId,
    phase: s.phase,
    created_at_ms: s.createdAtMs,
    turn_id: s.turnId,
    turn: { id: s.turnId, blocks: BLOCKS_PLACEHOLDER, metadata: s.metadata, data: {} },
  };
  if (prefix) body.prefix = prefix;
  return JSON.stringify(body).replace(`"${BLOCKS_PLACEHOLDER}"`, () => `[${blocks.join(",")}]`);
}

/** What the client would send as input for this snapshot (for checking clientBody against it). */
export function clientInput(s: GeppettoSnapshot, history: readonly string[]) {
  return {
    conv_id: s.convId,
    session_id: s.sessionId,
    phase: s.phase,
    created_at_ms: s.createdAtMs,
    turn: { id: s.turnId, blocks: history.map((b) => JSON.parse(b) as Record<string, unknown>), metadata: s.metadata },
  };
}

const utf8 = new TextEncoder();
const bytes = (text: string) => utf8.encode(text).length;

export interface PostedSnapshot extends GeppettoSnapshot {
  /** The body the client sends: full for the first snapshot, then a delta. */
  body: string;
  sent: "full" | "delta";
  /** Bytes of that body, and of the same snapshot posted in full (every block of the history). */
  deltaBytes: number;
  fullBytes: number;
}

/**
 * The conversation as the client posts it: the first snapshot in full, then deltas whose prefix is
 * the previous snapshot's path (the longest path the client knows; in a growing conversation the
 * new blocks follow it). Chains and hashes come from the Worker's own functions
 * (src/turn/block-path.ts, src/turn/block-hash.ts); the full body's size is counted from the blocks'
 * sizes, without building it.
 */
export async function* postedConversation(options: GeppettoOptions): AsyncGenerator<PostedSnapshot> {
  let tip = EMPTY_CHAIN;
  let count = 0;
  let historyBytes = 0;
  for (const s of geppettoConversation(options)) {
    const first = s.index === 0;
    const body = clientBody(s, s.newBlocks, first ? null : { chain: tip, blocks: count });
    const emptyFull = bytes(clientBody(s, [], null));
    for (const text of s.newBlocks) {
      const b = JSON.parse(text) as {
        id: string;
        kind: string;
        role: string;
        payload: Record<string, unknown>;
        metadata: Record<string, unknown>;
      };
      tip = await chainOf(tip, { blockId: b.id, contentHash: await blockContentHash(b), extraJson: "" });
      historyBytes += bytes(text);
      count += 1;
    }
    const fullBytes = emptyFull + historyBytes + Math.max(0, count - 1);
    yield { ...s, body, sent: first ? "full" : "delta", deltaBytes: bytes(body), fullBytes };
  }
}

/**
 * Checks postedConversation against the real client for the first `snapshots` snapshots: the client
 * (answered 201 by a stub, so it remembers what it sent) must send exactly the delta bodies, and a
 * fresh client — which knows nothing, so it posts in full — a body of exactly fullBytes. Throws on
 * the first difference.
 */
export async function checkAgainstClient(options: GeppettoOptions, snapshots: number): Promise<number> {
  const sent: string[] = [];
  const stub = async (_url: string, init: RequestInit) => {
    sent.push(String(init.body));
    return new Response("{}", { status: 201 });
  };
  const client = new TurnstoreClient({ baseUrl: "http://bench.invalid", token: "bench", fetch: stub });
  const history: string[] = [];
  let checked = 0;
  for await (const s of postedConversation(options)) {
    if (checked >= snapshots) break;
    history.push(...s.newBlocks);
    const input = clientInput(s, history);
    const result = await client.postSnapshot(input);
    if (result.sent !== s.sent || sent.at(-1) !== s.body) {
      throw new Error(
        `snapshot ${s.index}: the bench's ${s.sent} body differs from what TurnstoreClient sends (${result.sent}):\n${sent.at(-1)?.slice(0, 400)}\nvs\n${s.body.slice(0, 400)}`,
      );
    }
    const full = await new TurnstoreClient({ baseUrl: "http://bench.invalid", token: "bench", fetch: stub }).postSnapshot(input);
    if (full.sent !== "full" || full.requestBytes !== s.fullBytes) {
      throw new Error(`snapshot ${s.index}: a full post is ${full.requestBytes} bytes, the bench counted ${s.fullBytes}`);
    }
    checked += 1;
  }
  return checked;
}
