/**
 * One visitor's conversation, recorded in Turnstore as it happens: the part of the example to copy.
 *
 * - The page never holds INGEST_TOKEN. It asks its own backend (backend/worker.ts) for a
 *   conversation token, and asks again whenever Turnstore says the token expired (refreshToken).
 * - Every turn is recorded as it grows: `pre_inference` (the history and the question) before the
 *   agent runs, then one snapshot per agent step (`post_tools`, `final`). Each snapshot repeats the
 *   whole history, as geppetto turns do; the client sends only what Turnstore does not have yet
 *   (delta posts). That works because a block keeps the id it got when it was made.
 * - Each snapshot names the runtime that produced it (`runtime_key`); a switch is announced with
 *   PUT /api/conversations/:conv_id/runtime, so the conversation's pointer moves before the next turn.
 * - A reload continues from the newest stored snapshot (GET …/turns/latest) and finishes a turn the
 *   reload interrupted.
 * - Two tabs of one conversation keep each other up to date through a BroadcastChannel.
 */
import { TurnstoreClient } from "turnstore/client";
import { type Block, type RuntimeKey, RUNTIMES, runAgent } from "./agent";

/** What the backend answers POST /api/chat-token with. */
export interface ChatSession {
  conv_id: string;
  session_id: string;
  token: string;
  expires_at_ms: number;
  turnstore_url: string;
  /** "api": minted by POST /api/tokens; "offline": minted by the backend itself (turnstore/tokens). */
  minted_by: "api" | "offline";
}

export interface ChatEvents {
  /** The history, the turn in progress, the runtime or the session changed: draw again. */
  changed(): void;
  status(text: string, kind: "info" | "wait" | "error"): void;
}

/** Asks our backend for a conversation token: for these ids (reload, refresh), or for a new conversation. */
export async function requestChatToken(ids?: { conv_id: string; session_id: string }): Promise<ChatSession> {
  const res = await fetch("/api/chat-token", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(ids ? { conv_id: ids.conv_id, session_id: ids.session_id } : {}),
  });
  if (!res.ok) throw new Error(`the backend gave no token (${res.status}): ${await res.text()}`);
  return (await res.json()) as ChatSession;
}

const SYSTEM: Block = { id: "system", kind: "system", role: "system", payload: { text: "You are the Acme warehouse assistant." } };

const shortId = () => crypto.randomUUID().slice(0, 4);

/** What one tab tells the others of the same conversation. */
type TabMessage = { type: "turn"; history: Block[] } | { type: "runtime"; runtime: RuntimeKey };

export class Chat {
  /** The blocks of every finished turn: what the next turn's snapshots start with. */
  history: Block[] = [SYSTEM];
  /** The blocks the turn in progress has added so far. */
  current: Block[] = [];
  busy = false;
  tokenRefreshes = 0;
  readonly client: TurnstoreClient;
  private readonly tabs: BroadcastChannel;

  constructor(
    public session: ChatSession,
    public runtime: RuntimeKey,
    private readonly events: ChatEvents,
  ) {
    this.client = new TurnstoreClient({
      baseUrl: session.turnstore_url,
      token: session.token,
      // A tab stays open longer than its token lives: on 401 the backend mints a new one and the
      // client sends the refused request again with it.
      refreshToken: async () => {
        this.session = await requestChatToken(this.session);
        this.tokenRefreshes += 1;
        this.events.status("The conversation token expired; the backend gave a new one.", "info");
        this.events.changed();
        return this.session.token;
      },
      // Rate limited (429) or D1 briefly unavailable (503): the client waits Retry-After. Say so,
      // rather than look stuck.
      onRetry: ({ status, code, waitMs }) =>
        this.events.status(`Turnstore answered ${status} ${code}: retrying in ${Math.ceil(waitMs / 1000)} s…`, "wait"),
    });
    this.tabs = new BroadcastChannel(`turnstore-webchat:${session.conv_id}`);
    this.tabs.onmessage = ({ data }: MessageEvent<TabMessage>) => {
      if (data.type === "runtime") this.runtime = data.runtime;
      else if (!this.busy && data.history.length > this.history.length) this.history = data.history;
      this.events.changed();
    };
  }

  /** Picks the conversation up where it was (after a reload); the runtime of its newest turn, or null for a new one. */
  async resume(): Promise<RuntimeKey | null> {
    const latest = await this.client.getLatestTurn(this.session.conv_id);
    if (!latest) return null;
    const blocks = latest.turn.blocks as Block[];
    const runtime = (RUNTIMES as readonly string[]).includes(latest.runtime_key) ? (latest.runtime_key as RuntimeKey) : this.runtime;
    const question = blocks.findLastIndex((b) => b.kind === "user");
    if (latest.phase === "final" || question < 0) {
      this.history = blocks;
      this.events.changed();
      return runtime;
    }
    // The reload interrupted a turn: finish it under its own id, runtime and inference.
    this.history = blocks.slice(0, question);
    this.events.status(`Finishing ${latest.turn_id}, which the reload interrupted.`, "info");
    await this.runTurn(latest.turn_id, blocks[question]!, runtime, latest.inference_id, false);
    return runtime;
  }

  /** The visitor asked something: a new turn, recorded step by step. */
  async send(text: string): Promise<void> {
    const turnNumber = this.history.filter((b) => b.kind === "user").length + 1;
    // Unique across tabs and reloads, readable in the viewer.
    const turnId = `turn-${turnNumber}-${shortId()}`;
    const question: Block = { id: `${turnId}:question`, kind: "user", role: "user", payload: { text } };
    await this.runTurn(turnId, question, this.runtime, `inf-${shortId()}${shortId()}`, true);
  }

  /** Switches the agent's runtime; the next turns are that runtime's. */
  async switchRuntime(runtime: RuntimeKey): Promise<void> {
    if (runtime === this.runtime) return;
    // session_id: the switch creates the conversation when it has no turn yet.
    await this.client.switchRuntime(this.session.conv_id, { runtime_key: runtime, session_id: this.session.session_id, at_ms: Date.now() });
    this.runtime = runtime;
    this.tabs.postMessage({ type: "runtime", runtime } satisfies TabMessage);
    this.events.status(`Switched to ${runtime}: announced to Turnstore; earlier turns keep their runtime.`, "info");
    this.events.changed();
  }

  private async runTurn(turnId: string, question: Block, runtime: RuntimeKey, inferenceId: string, fresh: boolean): Promise<void> {
    this.busy = true;
    this.current = [question];
    this.events.changed();
    try {
      if (fresh) await this.record(turnId, "pre_inference", runtime, inferenceId);
      for await (const step of runAgent(runtime, turnId, String(question.payload.text))) {
        this.current.push(...step.blocks);
        this.events.changed();
        await this.record(turnId, step.phase, runtime, inferenceId);
      }
      this.history = [...this.history, ...this.current];
      this.current = [];
      this.tabs.postMessage({ type: "turn", history: this.history } satisfies TabMessage);
    } finally {
      this.busy = false;
      this.events.changed();
    }
  }

  /** One snapshot: the whole turn so far (history + this turn's blocks); the client sends the delta. */
  private async record(turnId: string, phase: string, runtime: RuntimeKey, inferenceId: string): Promise<void> {
    const result = await this.client.postSnapshot({
      conv_id: this.session.conv_id,
      session_id: this.session.session_id,
      turn_id: turnId,
      phase,
      // One clock (the page's) for every event of the conversation, switches included: the runtime
      // pointer follows event times. A time set here also makes a resent snapshot an identical replay.
      created_at_ms: Date.now(),
      runtime_key: runtime,
      inference_id: inferenceId,
      turn: {
        id: turnId,
        blocks: [...this.history, ...this.current] as unknown as Array<Record<string, unknown>>,
        metadata: {
          "geppetto.runtime@v1": { runtime_key: runtime },
          "geppetto.inference_id@v1": inferenceId,
          "geppetto.session_id@v1": this.session.session_id,
        },
      },
    });
    if (result.status >= 300) {
      const error = (result.body as { error?: { code: string; message: string } } | null)?.error;
      throw new Error(
        `Turnstore refused the ${phase} snapshot: ${result.status} ${error?.code} ${error?.message} (request ${result.requestId})`,
      );
    }
    this.events.status(`Recorded ${turnId} · ${phase} · ${runtime} · sent as ${result.sent} (${result.requestBytes} bytes)`, "info");
  }
}
