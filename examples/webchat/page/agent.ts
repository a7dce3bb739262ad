/**
 * A stand-in for your agent, so the example runs without a model or API keys: two scripted runtimes.
 * `inventory` looks stock up with a tool; `planner` thinks, then answers with a plan. A real agent
 * produces the same kinds of blocks (tool calls and results, reasoning, text), and blocks are all
 * Turnstore records — swap this file for your agent and nothing else changes.
 */

export const RUNTIMES = ["inventory", "planner"] as const;
export type RuntimeKey = (typeof RUNTIMES)[number];

/** A block of a geppetto turn. Its id is set once, when the block is made, and never changes (see chat.ts). */
export interface Block {
  id: string;
  kind: string;
  role?: string;
  payload: Record<string, unknown>;
  metadata?: Record<string, unknown>;
}

/** What the agent adds to a turn at one step; each step is recorded as a snapshot in that phase. */
export interface AgentStep {
  phase: "post_tools" | "final";
  blocks: Block[];
}

const STOCK: Record<string, { on_hand: number; reserved: number }> = {
  "W-BLUE": { on_hand: 42, reserved: 5 },
  "W-RED": { on_hand: 17, reserved: 0 },
  "G-GREEN": { on_hand: 8, reserved: 3 },
};

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The answer blocks carry the runtime that wrote them, so a page rebuilt from a stored turn can show it. */
const answered = (runtime: RuntimeKey) => ({ "webchat.runtime_key@v1": runtime });

/** Runs one turn after the visitor's `question`, step by step. Block ids derive from the turn id: stable and unique. */
export async function* runAgent(runtime: RuntimeKey, turnId: string, question: string): AsyncGenerator<AgentStep> {
  await pause(250); // "thinking": the pre_inference snapshot is visibly earlier than the answer
  if (runtime === "inventory") {
    const sku = /red/i.test(question) ? "W-RED" : /gadget|green/i.test(question) ? "G-GREEN" : "W-BLUE";
    const stock = STOCK[sku]!;
    yield {
      phase: "post_tools",
      blocks: [
        { id: `${turnId}:call`, kind: "tool_call", payload: { id: `call-${turnId}`, name: "inventory.lookup", args: { sku } } },
        // Keys in sorted order, as Turnstore returns objects: the page reads the same after a reload.
        { id: `${turnId}:result`, kind: "tool_use", payload: { id: `call-${turnId}`, result: { ...stock, sku } } },
      ],
    };
    await pause(250);
    yield {
      phase: "final",
      blocks: [
        {
          id: `${turnId}:answer`,
          kind: "llm_text",
          role: "assistant",
          payload: { text: `${sku}: ${stock.on_hand} on hand, ${stock.reserved} of them reserved.` },
          metadata: answered(runtime),
        },
      ],
    };
    return;
  }
  const days = /week/i.test(question) ? "Monday and Thursday" : "tomorrow morning";
  yield {
    phase: "final",
    blocks: [
      {
        id: `${turnId}:reasoning`,
        kind: "reasoning",
        payload: { text: "Demand is about 60 a week; keep two days of buffer; split the order to spread the deliveries." },
      },
      {
        id: `${turnId}:answer`,
        kind: "llm_text",
        role: "assistant",
        payload: { text: `Plan: order 30 units ${days}, check the reserved stock at noon, and re-plan if reservations pass 10.` },
        metadata: answered(runtime),
      },
    ],
  };
}
