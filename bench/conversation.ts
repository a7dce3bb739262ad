/**
 * Growing conversations, deterministic (every snapshot carries the history plus the new blocks): the
 * throughput stream, and geppetto-style conversations posted as the client (src/client) posts them.
 */
import { TurnstoreClient } from "../src/client/turnstore-client";
import { blockContentHash } from "../src/turn/block-hash";
import { chainOf, EMPTY_CHAIN } from "../src/turn/block-path";
import { LOREM } from "./databases";

const KINDS = ["user user", "reasoning assistant", "tool_call assistant", "tool_use tool", "llm_text assistant"].map((k) => k.split(" "));
const TEXT = LOREM.repeat(2);
/** Block j of a stream conversation after its id prefix, serialized once. */
const tails: string[] = [];
function tail(j: number): string {
  if (tails[j] !== undefined) return tails[j];
  if (j === 0)
    return (tails[0] = `-b0","kind":"system","role":"system","payload":{"text":${JSON.stringify(`You are a helpful assistant. ${TEXT.slice(0, 200)}`)}}}`);
  const [kind, role] = KINDS[j % KINDS.length]!;
  const text = `${kind} ${j}: ${TEXT.slice(0, 120 + ((j * 37) % 300))}`;
  const payload = kind === "tool_call" ? { name: "search", args: { query: text.slice(0, 80) } } : { text };
  const metadata =
    kind === "llm_text" ? `,"metadata":${JSON.stringify({ "geppetto.usage@v1": { input_tokens: 900 + j, output_tokens: 120 } })}` : "";
  return (tails[j] = `-b${j}","kind":"${kind}","role":"${role}","payload":${JSON.stringify(payload)}${metadata}}`);
}

export const STREAM_SNAPSHOTS_PER_CONVERSATION = 21;
/** Snapshot k (0..20) of a stream conversation: 10 + 2k blocks, phase final, runtime and inference in the turn metadata. */
export function streamSnapshot(run: string, conversation: number, k: number): string {
  const convId = JSON.stringify(`tp-${run}-${conversation}`);
  const sessionId = JSON.stringify(`tp-${run}-${conversation}-s`);
  const blocks = Array.from({ length: 10 + 2 * k }, (_, j) => `{"id":${convId.slice(0, -1)}${tail(j)}`).join(",");
  const metadata = `{"geppetto.runtime@v1":{"runtime_key":"planner"},"geppetto.inference_id@v1":"inf-${conversation}-${k}","geppetto.session_id@v1":${sessionId}}`;
  const createdAtMs = 1_760_000_000_000 + conversation * STREAM_SNAPSHOTS_PER_CONVERSATION + k;
  return `{"conv_id":${convId},"session_id":${sessionId},"phase":"final","created_at_ms":${createdAtMs},"turn":{"id":"t${k}","blocks":[${blocks}],"metadata":${metadata}}}`;
}

/** Request i of the stream: `interleave` conversations round-robin, each in order, as chats post them (not racing themselves). */
export function throughputSnapshot(run: string, i: number, interleave: number): string {
  const group = interleave * STREAM_SNAPSHOTS_PER_CONVERSATION;
  const r = i % group;
  return streamSnapshot(run, Math.floor(i / group) * interleave + (r % interleave), Math.floor(r / interleave));
}

export const GEPPETTO_PHASES = ["pre_inference", "post_tools", "final"] as const;
/** A turn calls a tool in 7 of every 20 turns: 2 + 2 × 0.35 = 2.7 new blocks per turn on average. */
export const isToolTurn = (t: number) => (t * 7) % 20 < 7;
/** A conversation; toolResultChars: characters of a tool result's text (default: a short result, 60–100). */
export interface GeppettoOptions {
  convId: string;
  turns: number;
  toolResultChars?: number;
}

const words = LOREM.split(" ");
function text(seed: number, chars: number): string {
  let out = `#${seed}`;
  for (let k = seed; out.length < chars; k += 7) out += ` ${words[k % words.length]}`;
  return out.slice(0, chars);
}

const SYSTEM_PROMPT = "You are a careful assistant for the inventory team. Answer briefly.";
const block = (id: string, kind: string, role: string, payload: Record<string, unknown>) =>
  JSON.stringify({ id, kind, role, payload, metadata: {} });

/** The conversation, snapshot by snapshot, 1 s apart (a generator: only the new blocks, as JSON texts, are held). */
function* geppettoConversation({ convId, turns, toolResultChars }: GeppettoOptions) {
  const sessionId = `${convId}-s`;
  let index = 0;
  let blockCount = 0;
  for (let t = 0; t < turns; t++) {
    const turnId = `t${String(t).padStart(4, "0")}`;
    const metadata = {
      "geppetto.runtime@v1": { runtime_key: t < turns / 2 ? "planner" : "research" },
      "geppetto.inference_id@v1": `inf-${convId}-${t}`,
    };
    const id = (kind: string) => `${convId}-${turnId}-${kind}`;
    const [system, c] = [block(`${convId}-system`, "system", "system", { text: SYSTEM_PROMPT }), `call-${t}`];
    const call = block(id("call"), "tool_call", "assistant", { id: c, name: "inventory_lookup", args: { sku: `SKU-${1000 + t}` } });
    const result = block(id("result"), "tool_use", "tool", { id: c, result: text(t * 3 + 1, toolResultChars ?? 60 + (t % 5) * 10) });
    const perPhase = [
      [...(t === 0 ? [system] : []), block(id("user"), "user", "user", { text: text(t * 3, 40 + (t % 5) * 8) })],
      isToolTurn(t) ? [call, result] : [],
      [block(id("answer"), "llm_text", "assistant", { text: text(t * 3 + 2, 70 + (t % 7) * 8) })],
    ];
    for (const [p, phase] of GEPPETTO_PHASES.entries()) {
      const newBlocks = perPhase[p]!;
      blockCount += newBlocks.length;
      yield { index, convId, sessionId, turnId, phase, createdAtMs: 1_760_000_000_000 + index * 1000, newBlocks, blockCount, metadata };
      index += 1;
    }
  }
}

type GeppettoSnapshot = ReturnType<typeof geppettoConversation> extends Generator<infer S> ? S : never;
const BLOCKS_PLACEHOLDER = "@@blocks@@";
/** A POST /api/turns body exactly as TurnstoreClient sends it (for a delta, the prefix last); `blocks`: block JSON texts. */
export function clientBody(s: GeppettoSnapshot, blocks: readonly string[], prefix: { chain: string; blocks: number } | null): string {
  const turn = { id: s.turnId, blocks: BLOCKS_PLACEHOLDER, metadata: s.metadata, data: {} };
  const envelope = { conv_id: s.convId, session_id: s.sessionId, phase: s.phase, created_at_ms: s.createdAtMs, turn_id: s.turnId };
  const body = { ...envelope, turn, ...(prefix ? { prefix } : {}) };
  return JSON.stringify(body).replace(`"${BLOCKS_PLACEHOLDER}"`, () => `[${blocks.join(",")}]`);
}

const utf8 = new TextEncoder();
const bytes = (text: string) => utf8.encode(text).length;
/** The conversation as the client posts it (first in full, then deltas), and each snapshot's size in full (counted, not built). */
export async function* postedConversation(options: GeppettoOptions) {
  let tip = EMPTY_CHAIN;
  let count = 0;
  let historyBytes = 0;
  for (const s of geppettoConversation(options)) {
    const first = s.index === 0;
    const body = clientBody(s, s.newBlocks, first ? null : { chain: tip, blocks: count });
    for (const json of s.newBlocks) {
      type Block = { id: string; kind: string; role: string; payload: Record<string, unknown>; metadata: Record<string, unknown> };
      const b = JSON.parse(json) as Block;
      tip = await chainOf(tip, { blockId: b.id, contentHash: await blockContentHash(b), extraJson: "" });
      historyBytes += bytes(json);
      count += 1;
    }
    const fullBytes = bytes(clientBody(s, [], null)) + historyBytes + Math.max(0, count - 1);
    yield { ...s, body, sent: first ? ("full" as const) : ("delta" as const), deltaBytes: bytes(body), fullBytes };
  }
}

/** Checks postedConversation against the real client (answered by a stub): the same delta bodies, the same full size. */
export async function checkAgainstClient(options: GeppettoOptions, snapshots: number): Promise<number> {
  const sent: string[] = [];
  const stub = async (_url: string, init: RequestInit) => {
    sent.push(String(init.body));
    return new Response("{}", { status: 201 });
  };
  const newClient = () => new TurnstoreClient({ baseUrl: "http://bench.invalid", token: "bench", fetch: stub });
  const client = newClient();
  const history: string[] = [];
  let checked = 0;
  for await (const s of postedConversation(options)) {
    if (checked >= snapshots) break;
    history.push(...s.newBlocks);
    const turn = { id: s.turnId, blocks: history.map((b) => JSON.parse(b) as Record<string, unknown>), metadata: s.metadata };
    const input = { conv_id: s.convId, session_id: s.sessionId, phase: s.phase, created_at_ms: s.createdAtMs, turn };
    const result = await client.postSnapshot(input);
    if (result.sent !== s.sent || sent.at(-1) !== s.body)
      throw new Error(
        `snapshot ${s.index}: the bench's ${s.sent} body differs from what TurnstoreClient sends (${result.sent}):\n${sent.at(-1)?.slice(0, 400)}\nvs\n${s.body.slice(0, 400)}`,
      );
    const full = await newClient().postSnapshot(input);
    if (full.sent !== "full" || full.requestBytes !== s.fullBytes)
      throw new Error(`snapshot ${s.index}: a full post is ${full.requestBytes} bytes, the bench counted ${s.fullBytes}`);
    checked += 1;
  }
  return checked;
}
