/**
 * A small client for chat frontends and app backends (browsers, Node 20+, Workers): posts turn
 * snapshots to Turnstore, sending each conversation's history only once (CONTRACT §5.4).
 * Installed as a package it is `turnstore/client` (README, "Use it from your app").
 *
 * The first snapshot of a conversation goes in full. After that the client knows which block paths
 * the conversation has (it computes the same chains as the Worker, src/turn/block-path.ts) and posts
 * a delta: `prefix` names the longest known path the new snapshot starts with, and the turn lists
 * only the blocks after it — blocks it already sent elsewhere in the conversation as references
 * {"id", "content_hash"}. The Worker stores exactly what the full post would store. If the Worker
 * does not know a prefix or reference (422 UNKNOWN_BLOCK_REF: another tab, a deleted conversation,
 * a failed write), the client forgets what it knew and posts the snapshot again in full.
 * Deltas across turns need block ids that stay the same from turn to turn: give every block an `id`
 * when it is created — a block without one is `<turn_id>#<ordinal>`, a new id in every turn, so the
 * next turn sends (and stores) it again; only the phases of one turn share those default ids.
 *
 * What a page needs besides (every request below goes through the same two rules):
 * - **Expired tokens.** Conversation tokens expire. When Turnstore answers 401, the client calls
 *   `refreshToken` (ask your backend for a new token), retries the request once with the new token
 *   and uses it from then on. Concurrent requests share one refresh. `setToken` replaces the token
 *   ahead of expiry.
 * - **Waiting when told to.** An answer with `Retry-After` (429 RATE_LIMITED, 503 UNAVAILABLE) is
 *   waited out and the request sent again, at most `retry.maxAttempts` times in all (default 3) and
 *   never for longer than `retry.maxWaitMs` per wait (default 60 s; a longer Retry-After is returned
 *   as is). `onRetry` is told before each wait. A 429 stored nothing, and a snapshot with
 *   `created_at_ms` is an identical replay after a 503, so resending is safe. Network errors are
 *   thrown, not retried.
 * - **Resume and runtime switches.** `getLatestTurn` reads the newest snapshot of a conversation
 *   (what a reloaded page continues from; its block paths count as known, so the next post is a
 *   delta) and `switchRuntime` announces a runtime switch (`PUT /api/conversations/:conv_id/runtime`).
 *   Both throw TurnstoreError on a refusal; getLatestTurn gives null when there is no snapshot yet.
 *
 * No Worker-only API: Web Crypto for the hashes, fetch for HTTP.
 */
import { chainOf, EMPTY_CHAIN, pathNodes, type PathNode } from "../turn/block-path";
import { blockContentHash } from "../turn/block-hash";
import { attributionProblem, normalizeAttribution } from "../turn/attribution-value";
import { identifierProblem, MAX_PHASE_LENGTH } from "../turn/identifier";
import { extraJson, type SnapshotRequest } from "../turn/snapshot";
import { readTurn, turnToJson, type JsonObject, type Turn } from "../turn/turn";

/** A snapshot as POST /api/turns takes it, with the turn as a JSON object (geppetto's turn format). */
export type SnapshotInput = Omit<SnapshotRequest, "turn" | "payload" | "prefix"> & { turn: JsonObject };

export interface PostResult {
  status: number;
  body: unknown;
  /** How the snapshot was sent: "full" or "delta". */
  sent: "full" | "delta";
  /** Bytes of the request body that was answered (the retry's, after a full retry). */
  requestBytes: number;
  /** The answer's X-Request-Id (quote it when asking about a refusal). */
  requestId: string | null;
  /** Requests sent for the answer: 1, plus one per Retry-After waited out. */
  attempts: number;
}

/** The error envelope every refusal carries. */
export interface ErrorBody {
  error: { code: string; message: string };
}

/** GET /api/conversations/:conv_id/turns/latest: the newest snapshot with its whole turn. */
export interface LatestTurn {
  conv_id: string;
  session_id: string;
  turn_id: string;
  phase: string;
  created_at_ms: number;
  /** The runtime that produced this snapshot ('' when unknown). */
  runtime_key: string;
  inference_id: string;
  /** The turn as stored: block ids filled in, kinds and roles normalized, extra keys kept. */
  turn: { id: string; blocks: Array<{ id: string; kind: string; role: string; payload: JsonObject; metadata: JsonObject }> } & JsonObject;
}

/** A conversation as PUT /api/conversations/:conv_id/runtime (and the debug API) answers it. */
export interface Conversation {
  conv_id: string;
  session_id: string;
  /** The runtime the conversation uses now: a pointer, not the history of its turns. */
  resolved_runtime_key: string;
  created_at_ms: number;
  last_activity_ms: number;
  turn_count: number;
  snapshot_count: number;
}

/** PUT /api/conversations/:conv_id/runtime: `session_id` is needed when the switch creates the conversation. */
export interface RuntimeSwitch {
  runtime_key: string;
  session_id?: string;
  /** The switch's time (default: the server clock). */
  at_ms?: number;
}

/** What refreshToken is told: Turnstore's 401. */
export interface TokenRefusal {
  status: 401;
  code: string;
  message: string;
}

/** What onRetry is told before the client waits. */
export interface RetryNotice {
  status: number;
  code: string;
  /** How long the client waits (Retry-After). */
  waitMs: number;
  /** The attempt that was answered with Retry-After (1 for the first request). */
  attempt: number;
  maxAttempts: number;
}

export interface TurnstoreClientOptions {
  /** The Worker's origin, e.g. "https://turnstore.example.com". */
  baseUrl: string;
  /** A conversation token (browsers) or INGEST_TOKEN (servers), or a function giving the current one. */
  token: string | (() => string | Promise<string>);
  /**
   * Called when Turnstore answers 401 (the token expired, or its signing key was retired): give a
   * fresh token (from your backend) to retry with and use from then on, or null to give up.
   */
  refreshToken?: (refused: TokenRefusal) => string | null | Promise<string | null>;
  /** Waiting out answers with Retry-After: at most `maxAttempts` requests in all (default 3), each wait at most `maxWaitMs` (default 60000). */
  retry?: { maxAttempts?: number; maxWaitMs?: number };
  /** Told before each Retry-After wait (e.g. to show "retrying in 10 s"). */
  onRetry?: (notice: RetryNotice) => void;
  /** How the client waits (tests pass a fake clock); default setTimeout. */
  sleep?: (ms: number) => Promise<void>;
  fetch?: (input: string, init: RequestInit) => Promise<Response>;
  /** Chains remembered per conversation (oldest forgotten first). */
  maxKnownChains?: number;
}

/** A refusal of getLatestTurn or switchRuntime: the status, the error code and the request id. */
export class TurnstoreError extends Error {
  override name = "TurnstoreError";
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly requestId: string | null,
  ) {
    super(message);
  }
}

interface Known {
  /** Chains of paths the conversation has, with their depth. */
  chains: Map<string, number>;
  /** Blocks sent in full (block_id + content_hash), usable as references. */
  blocks: Set<string>;
}

/** One request as answered, after any token refresh and Retry-After waits. */
interface Answer {
  status: number;
  body: unknown;
  requestId: string | null;
  attempts: number;
}

const DEFAULT_MAX_ATTEMPTS = 3;
const DEFAULT_MAX_WAIT_MS = 60_000;

/** Retry-After as milliseconds from now (delta-seconds or an HTTP date), or null when absent or unreadable. */
export function retryAfterMs(value: string | null, nowMs = Date.now()): number | null {
  if (value === null) return null;
  const text = value.trim();
  if (/^[0-9]+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? null : Math.max(0, at - nowMs);
}

const errorOf = (body: unknown): { code: string; message: string } => {
  const error = (body as Partial<ErrorBody> | null)?.error;
  return { code: typeof error?.code === "string" ? error.code : "", message: typeof error?.message === "string" ? error.message : "" };
};

export class TurnstoreClient {
  private readonly known = new Map<string, Known>();
  private readonly fetcher: (input: string, init: RequestInit) => Promise<Response>;
  private readonly maxKnown: number;
  /** The token refreshToken (or setToken) gave; it replaces options.token. */
  private replacedToken: string | null = null;
  /** One refresh at a time: requests refused together wait for the same new token. */
  private refreshing: Promise<string | null> | null = null;
  /** The newest D1 bookmark seen: reads sent with it see this client's writes (D1 Sessions). */
  private bookmark: string | null = null;

  constructor(private readonly options: TurnstoreClientOptions) {
    this.fetcher = options.fetch ?? ((input, init) => fetch(input, init));
    this.maxKnown = options.maxKnownChains ?? 100_000;
  }

  /** Posts one snapshot: as a delta when the client knows part of it is stored, else in full. */
  async postSnapshot(input: SnapshotInput): Promise<PostResult> {
    assertIdentifiers(input);
    const turn = readTurn(input.turn, { turnId: input.turn_id, where: "turn", shapeError: "INVALID_REQUEST" });
    const { steps, nodes } = await this.pathOf(turn);
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

  /**
   * The newest snapshot of a conversation (of one phase or session, when given), or null when it has
   * none: what a page reads after a reload to continue. Throws TurnstoreError on a refusal.
   */
  async getLatestTurn(convId: string, filter: { phase?: string; sessionId?: string } = {}): Promise<LatestTurn | null> {
    const query = new URLSearchParams();
    if (filter.phase) query.set("phase", filter.phase);
    if (filter.sessionId) query.set("session_id", filter.sessionId);
    const search = query.toString();
    const path = `/api/conversations/${encodeURIComponent(convId)}/turns/latest${search ? `?${search}` : ""}`;
    const answer = await this.request("GET", path);
    if (answer.status === 404) return null;
    const latest = this.expect<LatestTurn>(answer, 200);
    // That snapshot is stored, so its block paths are the conversation's: the next post is a delta.
    const { nodes } = await this.pathOf(readTurn(latest.turn, { where: "turn", shapeError: "INVALID_REQUEST" }));
    this.remember(convId, nodes);
    return latest;
  }

  /** Announces a runtime switch; the conversation as it is afterwards. Throws TurnstoreError on a refusal. */
  async switchRuntime(convId: string, change: RuntimeSwitch): Promise<Conversation> {
    const answer = await this.request("PUT", `/api/conversations/${encodeURIComponent(convId)}/runtime`, JSON.stringify(change));
    return this.expect<Conversation>(answer, 200);
  }

  /** Replaces the token, e.g. with one minted before the current one expires. */
  setToken(token: string): void {
    this.replacedToken = token;
  }

  /** Forgets what the client knows of a conversation (after deleting it, say). */
  forget(convId: string): void {
    this.known.delete(convId);
  }

  private envelope(input: SnapshotInput, turnId: string): Record<string, unknown> {
    const { turn: _turn, ...rest } = input;
    return { ...rest, turn_id: turnId };
  }

  private async pathOf(turn: Turn) {
    const steps = await Promise.all(
      turn.blocks.map(async (b) => ({ blockId: b.id, contentHash: await blockContentHash(b), extraJson: extraJson(b.extra) })),
    );
    return { steps, nodes: await pathNodes(steps) };
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
    const text = JSON.stringify(body);
    const answer = await this.request("POST", "/api/turns", text);
    return { ...answer, sent, requestBytes: new TextEncoder().encode(text).length };
  }

  private expect<T>(answer: Answer, status: number): T {
    if (answer.status === status) return answer.body as T;
    const { code, message } = errorOf(answer.body);
    throw new TurnstoreError(answer.status, code, message || `Turnstore answered ${answer.status}`, answer.requestId);
  }

  private async currentToken(): Promise<string> {
    if (this.replacedToken !== null) return this.replacedToken;
    return typeof this.options.token === "function" ? await this.options.token() : this.options.token;
  }

  /** Asks refreshToken once for all requests refused meanwhile; true when there is a new token. */
  private async refresh(refused: TokenRefusal): Promise<boolean> {
    const refreshToken = this.options.refreshToken;
    if (!refreshToken) return false;
    this.refreshing ??= Promise.resolve()
      .then(() => refreshToken(refused))
      .finally(() => {
        this.refreshing = null;
      });
    const fresh = await this.refreshing;
    if (!fresh) return false;
    this.replacedToken = fresh;
    return true;
  }

  /** One request with the token rules and Retry-After waits of the header comment. */
  private async request(method: "GET" | "POST" | "PUT", path: string, body?: string): Promise<Answer> {
    const maxAttempts = Math.max(1, this.options.retry?.maxAttempts ?? DEFAULT_MAX_ATTEMPTS);
    const maxWaitMs = this.options.retry?.maxWaitMs ?? DEFAULT_MAX_WAIT_MS;
    const sleep = this.options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
    let refreshed = false;
    for (let attempt = 1; ; ) {
      const token = await this.currentToken();
      const headers: Record<string, string> = { authorization: `Bearer ${token}` };
      if (body !== undefined) headers["content-type"] = "application/json";
      if (method === "GET" && this.bookmark) headers["x-d1-bookmark"] = this.bookmark;
      const res = await this.fetcher(`${this.options.baseUrl.replace(/\/$/, "")}${path}`, { method, headers, body });
      const answer = await res.json().catch(() => null);
      this.bookmark = res.headers.get("x-d1-bookmark") ?? this.bookmark;
      const requestId = res.headers.get("x-request-id");

      if (res.status === 401 && !refreshed) {
        refreshed = true;
        // Another request may have refreshed the token meanwhile; else ask for a new one. Not an attempt.
        if ((await this.currentToken()) !== token || (await this.refresh({ status: 401, ...errorOf(answer) }))) continue;
      }
      const waitMs = res.status >= 400 ? retryAfterMs(res.headers.get("retry-after")) : null;
      if (waitMs !== null && waitMs <= maxWaitMs && attempt < maxAttempts) {
        this.options.onRetry?.({ status: res.status, code: errorOf(answer).code, waitMs, attempt, maxAttempts });
        await sleep(waitMs);
        attempt += 1;
        continue;
      }
      return { status: res.status, body: answer, requestId, attempts: attempt };
    }
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
