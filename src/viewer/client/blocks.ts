/**
 * A turn's blocks as DOM, by kind: user, assistant text, tool call (name, id, arguments), tool result,
 * system, reasoning, other. The kinds are the turn format's own (src/turn/block-kinds.ts).
 */
import { BLOCK_KINDS, type BlockKind } from "../../turn/block-kinds";
import { folded, h, type Child } from "./dom";
import { isObject, pretty } from "./format";

const KIND_LABELS = {
  user: "User",
  llm_text: "Assistant",
  tool_call: "Tool call",
  tool_use: "Tool result",
  system: "System",
  reasoning: "Reasoning",
  other: "Other",
} satisfies Record<BlockKind, string>;

/** The role a kind has unless said otherwise; only a different role is shown. */
const DEFAULT_ROLES: Partial<Record<BlockKind, string>> = { user: "user", llm_text: "assistant", system: "system" };

const isBlockKind = (kind: string): kind is BlockKind => (BLOCK_KINDS as readonly string[]).includes(kind);

/** Takes the first of these payload fields that is present, and marks it shown. */
function takeFirst(payload: Record<string, unknown>, shown: Set<string>, keys: readonly string[]): unknown {
  for (const key of keys) {
    if (Object.hasOwn(payload, key)) {
      shown.add(key);
      return payload[key];
    }
  }
  return undefined;
}

export function renderBlock(block: unknown): HTMLLIElement {
  const fields = isObject(block) ? block : {};
  const kind = typeof fields.kind === "string" ? fields.kind : "other";
  const known = isBlockKind(kind);
  const payload = isObject(fields.payload) ? fields.payload : {};
  const shown = new Set<string>();
  const head: Child[] = [h("span", { class: "kind" }, known ? KIND_LABELS[kind] : kind)];
  const body: Child[] = [];

  if (kind === "tool_call") {
    const name = takeFirst(payload, shown, ["name"]);
    const callId = takeFirst(payload, shown, ["id"]);
    if (name !== undefined) head.push(h("code", { class: "tool-name" }, String(name)));
    if (callId !== undefined) head.push(h("span", { class: "mono" }, `call ${String(callId)}`));
    body.push(
      h("div", { class: "muted" }, "arguments"),
      h("pre", { class: "arguments" }, pretty(takeFirst(payload, shown, ["args", "arguments", "input"]))),
    );
  } else if (kind === "tool_use") {
    const callId = takeFirst(payload, shown, ["id", "tool_call_id"]);
    if (callId !== undefined) head.push(h("span", { class: "mono" }, `for call ${String(callId)}`));
    body.push(h("pre", { class: "result" }, pretty(takeFirst(payload, shown, ["result", "output", "content"]))));
    const error = takeFirst(payload, shown, ["error"]);
    if (error !== undefined && error !== null && error !== "") body.push(h("p", { class: "status error" }, `error: ${pretty(error)}`));
  } else {
    const text = takeFirst(payload, shown, ["text"]);
    if (typeof text === "string") body.push(h("p", { class: "text" }, text));
    else if (text !== undefined) shown.delete("text");
    if (kind === "reasoning") {
      const encrypted = takeFirst(payload, shown, ["encrypted_content"]);
      if (typeof encrypted === "string") body.push(h("p", { class: "muted" }, `encrypted reasoning (${encrypted.length} characters)`));
    }
  }

  const role = fields.role;
  if (typeof role === "string" && role !== "" && role !== (known ? DEFAULT_ROLES[kind] : undefined))
    head.push(h("span", null, `role ${role}`));
  if (typeof fields.id === "string" && fields.id !== "") head.push(h("span", { class: "mono" }, fields.id));

  const rest = Object.fromEntries(Object.entries(payload).filter(([key]) => !shown.has(key)));
  if (Object.keys(rest).length > 0) {
    const text = JSON.stringify(rest, null, 2);
    body.push(body.length === 0 ? h("pre", null, text) : folded("other payload fields", text));
  }
  if (body.length === 0) body.push(h("p", { class: "muted" }, "(empty payload)"));
  const metadata = isObject(fields.metadata) ? fields.metadata : {};
  const metadataKeys = Object.keys(metadata).length;
  if (metadataKeys > 0) body.push(folded(`metadata (${metadataKeys})`, JSON.stringify(metadata, null, 2)));

  return h("li", { class: `block kind-${kind}`, dataset: { kind } }, [h("div", { class: "block-head" }, head), ...body]);
}
