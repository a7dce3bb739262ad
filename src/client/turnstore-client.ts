/**
 * A small client for chat frontends and app backends (browsers, Node 20+, Workers): posts turn
 * snapshots to Turnstore, sending each conversation's history only once (CONTRACT §5.4).
 *
 * The first snapshot of a conversation goes in full. After that the client knows which block paths
 * the conversation has (it computes the same chains as the Worker, src/turn/block-path.ts) and posts
 * a delta: `prefix` names the longest known path the new snapshot starts with, and the turn lists
 * only the blocks after it — blocks it already sent elsewhere in the conversation as references
 * {"id", "content_hash"}. The Worker stores exactly what the full post would store. If the Worker
 * does not know a prefix or reference (422 UNKNOWN_BLOCK_REF: another tab, a deleted conversation,
 * a failed write), the client forgets what it knew and posts the snapshot again in full.
 *
 * No Worker-only API: Web Crypto for the hashes, fetch for HTTP.
 */
import { chainOf, EMPTY_CHAIN, pathNodes, type PathNode } from "../turn/block-path";
import { blockContentHash } from "../turn/block-hash";
import { attributionProblem, normalizeAttribution } from "../turn/attribution-value";
import { identifierProblem, MAX_PHASE_LENGTH } from "../turn/identifier";
import { extraJson, type SnapshotRequest } from "../turn/snapshot";
import { readTurn, turnToJson, type JsonObject } from "../turn/turn";

/** A snapshot as POST /api/turns takes it, with the turn as a JSON object (geppetto's turn format). */
export type SnapshotInput = Omit<SnapshotRequest, "turn" | "payload" | "prefix"> & { turn: JsonObject };

export interface PostResult {
  status: number;
  body: unknown;
  /** How the snapshot was sent: "full" or "delta". */
  sent: "full" | "delta";
  /** Bytes of the request body that was answered (the retry's, after a full retry). */
  requestBytes: number;
}

export interface TurnstoreClientOptions {
  /** The Worker's origin, e.g. "https://turnstore.example.com". */
  baseUrl: string;
  /** A conversation token (browsers) or INGEST_TOKEN (servers), or a function giving the current one. */
  token: string | (() => string | Promise<string>);
  fetch?: (input: string, init: RequestInit) => Promise<Response>;
  /** Chains remembered per conversation (oldest forgotten first). */
  maxKnownChains?: number;
}

interface Known {
  /** Chains of paths the conversation has, with their depth. */
  chains: Map<string, number>;
  /** Blocks sent in full (block_id + content_hash), usable as references. */
  blocks: Set<string>;
}

export class TurnstoreClient {
  private readonly known = new Map<string, Known>();
  private readonly fetcher: (input: string, init: RequestInit) => Promise<Response>;
  private readonly maxKnown: number;

  constructor(private readonly options: TurnstoreClientOptions) {
    this.fetcher = options.fetch ?? ((input, init) => fetch(input, init));
    this.maxKnown = options.maxKnownChains ?? 100_000;
  }

  /** Posts one snapshot: as a delta when the client knows part of it is stored, else in full. */
  async postSnapshot(input: SnapshotInput): Promise<PostResult> {
    assertIdentifiers(input);
    const turn = readTurn(input.turn, { turnId: input.turn_id, where: "turn", shapeError: "INVALID_REQUEST" });
    const steps = await Promise.all(
      turn.blocks.map(async (b) => ({ blockId: b.id, contentHash: await blockContentHash(b), extraJson: extraJson(b.extra) })),
    );
    const nodes = await pathNodes(steps);
    const full = turnToJson(turn);
    const known = this.known.get(input.conv_id);
    let depth = 0;
    if (known) for (let i = nodes.length; i > 0 && depth === 0; i--) if (known.chains.get(nodes[i - 1]!.chain) === i) depth = i;

    if (known && (depth > 0 || steps.some((s) => known.blocks.has(`${s.blockId}\u0000${s.contentHash}`)))) {
      const blocks = (full.blocks as JsonObject[]).slice(depth).map((block, k) => {
        const step = steps[depth + k]!;
        const asReference = step.extraJson === "" && known.blocks.has(`${step.blockId}\u0000${step.contentHash}`);
        return asReference ? { id: step.blockId, content_hash: step.contentHash } : block;
      });
      const body: Record<string, unknown> = { ...this.envelope(input, turn.id), turn: { ...full, blocks } };
      if (depth > 0) body.prefix = { chain: nodes[depth - 1]!.chain, blocks: depth };
      const result = await this.send(body, "delta");
      if (result.status !== 422 || (result.body as { error?: { code?: string } })?.error?.code !== "UNKNOWN_BLOCK_REF") {
        if (result.status < 300) this.remember(input.conv_id, nodes);
        return result;
      }
      // The Worker does not have what the client thought: forget it and send everything.
      this.known.delete(input.conv_id);
    }
    const result = await this.send({ ...this.envelope(input, turn.id), turn: full }, "full");
    if (result.status < 300) this.remember(input.conv_id, nodes);
    return result;
  }

  /** Forgets what the client knows of a conversation (after deleting it, say). */
  forget(convId: string): void {
    this.known.delete(convId);
  }

  private envelope(input: SnapshotInput, turnId: string): Record<string, unknown> {
    const { turn: _turn, ...rest } = input;
    return { ...rest, turn_id: turnId };
  }

  private remember(convId: string, nodes: readonly PathNode[]): void {
    let known = this.known.get(convId);
    if (!known) this.known.set(convId, (known = { chains: new Map(), blocks: new Set() }));
    for (const node of nodes) {
      known.chains.set(node.chain, node.depth);
      known.blocks.add(`${node.blockId}\u0000${node.contentHash}`);
    }
    while (known.chains.size > this.maxKnown) known.chains.delete(known.chains.keys().next().value!);
  }

  private async send(body: Record<string, unknown>, sent: "full" | "delta"): Promise<PostResult> {
    const token = typeof this.options.token === "function" ? await this.options.token() : this.options.token;
    const text = JSON.stringify(body);
    const res = await this.fetcher(`${this.options.baseUrl.replace(/\/$/, "")}/api/turns`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: text,
    });
    const answer = await res.json().catch(() => null);
    return { status: res.status, body: answer, sent, requestBytes: new TextEncoder().encode(text).length };
  }
}

/**
 * The Worker's id rules (src/turn/identifier.ts, CONTRACT §5.2, §6.1) and its rule for runtime keys
 * and inference ids, checked before anything is sent: an id the Worker would refuse is a bug in the page, reported as a TypeError naming the rule.
 */
function assertIdentifiers(input: SnapshotInput): void {
  const ids: Array<[string, string | undefined, number?]> = [
    ["conv_id", input.conv_id],
    ["session_id", input.session_id],
    ["turn_id", input.turn_id],
    ["phase", input.phase, MAX_PHASE_LENGTH],
  ];
  for (const [name, value, max] of ids) {
    const problem = value === undefined ? null : identifierProblem(name, value, max);
    if (problem) throw new TypeError(problem);
  }
  // Runtime keys and inference ids by their one rule (src/turn/attribution-value.ts); the turn's
  // metadata is checked by the reader when the Worker reads it.
  for (const [name, value] of [
    ["runtime_key", input.runtime_key],
    ["inference_id", input.inference_id],
  ] as const) {
    const problem = value === undefined ? null : attributionProblem(name, normalizeAttribution(value));
    if (problem) throw new TypeError(problem);
  }
}

export { chainOf, EMPTY_CHAIN };
