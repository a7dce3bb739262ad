/**
 * Reading a GenAI span's attributes (CONTRACT §6.5) — the semantic conventions' and the AI SDK's —
 * into what its snapshot holds: the turn's blocks and its turnstore.gen_ai@v1 metadata (model truth).
 * Pure; no I/O. Which spans, and whose conversation they belong to: genai-mapping.ts.
 *
 * Blocks, in order: system instructions, input messages, output messages (semantic conventions
 * v1.37+, structured or as JSON strings; the legacy AI SDK's ai.prompt.messages, ai.response.text,
 * ai.response.reasoning, ai.response.toolCalls). Block ids are positions in the conversation —
 * `sys.<part>` for system instructions, `m<message>.<part>` for messages, output messages numbered
 * after the input ones — and never name the trace: call 2 of a tool loop (and the next turn) lists
 * the history of call 1 under the same ids with the same content, so the block paths store it once.
 */
import type { AttributeValue, Attributes, SpanRecord } from "./wire";

/** A string attribute, else undefined. */
export const text = (value: AttributeValue | undefined): string | undefined => (typeof value === "string" ? value : undefined);

/** Spaces, tabs, CR and LF at either end (the contract's trimming of ids). */
export const EDGE_SPACE = /^[ \t\r\n]+|[ \t\r\n]+$/g;

// ---- Messages → blocks -------------------------------------------------------------------------

type JsonObject = { [key: string]: AttributeValue };
const isObject = (value: AttributeValue | undefined): value is JsonObject =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** A normalized message part (semantic conventions' shapes; the legacy AI SDK's are mapped to them). */
type Part =
  | { type: "text"; text: string }
  | { type: "tool_call"; id?: AttributeValue; name?: AttributeValue; args?: AttributeValue }
  | { type: "tool_call_response"; id?: AttributeValue; result?: AttributeValue }
  | { type: "reasoning"; text: string }
  | { type: "other"; part: JsonObject };

interface Message {
  role: string;
  parts: Part[];
}

/** A structured value, or a JSON string of one; a string that is not JSON stays a string. */
function structured(value: AttributeValue | undefined): AttributeValue | undefined {
  if (typeof value !== "string") return value;
  try {
    return JSON.parse(value) as AttributeValue;
  } catch {
    return value;
  }
}

/** The AI SDK's tool result output ({type: "json"|"text"|"error-text"|"error-json", value}) as its value. */
function unwrapToolOutput(output: AttributeValue | undefined): AttributeValue | undefined {
  if (isObject(output) && typeof output.type === "string" && "value" in output && /^(json|text|error-text|error-json)$/.test(output.type)) {
    return output.value;
  }
  return output;
}

const defined = <T extends object>(object: T): T =>
  Object.fromEntries(Object.entries(object).filter(([, value]) => value !== undefined)) as T;

function partOf(raw: AttributeValue): Part {
  if (typeof raw === "string") return { type: "text", text: raw };
  if (!isObject(raw)) return { type: "other", part: { value: raw } };
  const type = text(raw.type);
  switch (type) {
    case "text":
    case "reasoning": {
      // semantic conventions: content; the AI SDK's prompt messages: text
      const body = text(raw.content) ?? text(raw.text);
      if (body !== undefined) return { type, text: body };
      break;
    }
    case "tool_call":
      return defined({ type, id: raw.id ?? undefined, name: raw.name, args: raw.arguments });
    case "tool-call":
      return defined({ type: "tool_call" as const, id: raw.toolCallId, name: raw.toolName, args: raw.input ?? raw.args });
    case "tool_call_response":
      return defined({ type, id: raw.id ?? undefined, result: raw.response });
    case "tool-result":
      return defined({ type: "tool_call_response" as const, id: raw.toolCallId, result: unwrapToolOutput(raw.output) ?? raw.result });
  }
  return { type: "other", part: raw };
}

/** Messages of gen_ai.input.messages / gen_ai.output.messages, or the AI SDK's ai.prompt.messages. */
function messagesOf(value: AttributeValue | undefined, defaultRole: string): Message[] {
  const parsed = structured(value);
  if (parsed === undefined || parsed === null) return [];
  if (typeof parsed === "string") return [{ role: defaultRole, parts: [{ type: "text", text: parsed }] }];
  const list = Array.isArray(parsed) ? parsed : [parsed];
  return list.map((raw) => {
    if (!isObject(raw)) return { role: defaultRole, parts: [partOf(raw)] };
    const role = (text(raw.role) ?? "").replace(EDGE_SPACE, "") || defaultRole;
    // semantic conventions: parts; the AI SDK's prompt messages: content (a string or parts)
    const parts = raw.parts ?? raw.content;
    const rawParts = Array.isArray(parts) ? parts : parts === undefined || parts === null ? [] : [parts];
    return { role, parts: rawParts.map(partOf) };
  });
}

/** gen_ai.system_instructions: parts (or one string) of the system role. */
function systemPartsOf(value: AttributeValue | undefined): Part[] {
  const parsed = structured(value);
  if (parsed === undefined || parsed === null) return [];
  return (Array.isArray(parsed) ? parsed : [parsed]).map(partOf);
}

/** The legacy AI SDK's output: reasoning, text, then tool calls, as one assistant message. */
function legacyOutputOf(attributes: Attributes): Message[] {
  const parts: Part[] = [];
  const reasoning = text(attributes["ai.response.reasoning"]);
  if (reasoning) parts.push({ type: "reasoning", text: reasoning });
  const answer = text(attributes["ai.response.text"]);
  if (answer) parts.push({ type: "text", text: answer });
  const calls = structured(attributes["ai.response.toolCalls"]);
  if (Array.isArray(calls)) for (const call of calls) parts.push(partOf(isObject(call) ? { ...call, type: "tool-call" } : call));
  return parts.length > 0 ? [{ role: "assistant", parts }] : [];
}

/** The turn's block for a part said by `role`. */
function blockOf(id: string, role: string, part: Part): Record<string, unknown> {
  switch (part.type) {
    case "text": {
      const kind =
        role === "assistant"
          ? "llm_text"
          : role === "user"
            ? "user"
            : role === "system" || role === "developer"
              ? "system"
              : role === "tool"
                ? "tool_use"
                : "other";
      return { id, kind, role, payload: { text: part.text } };
    }
    case "tool_call":
      return { id, kind: "tool_call", role, payload: defined({ id: part.id, name: part.name, args: part.args }) };
    case "tool_call_response":
      return { id, kind: "tool_use", role, payload: defined({ id: part.id, result: part.result }) };
    case "reasoning":
      return { id, kind: "reasoning", role, payload: { text: part.text } };
    case "other":
      return { id, kind: "other", role, payload: part.part };
  }
}

/** System instructions, input messages, output messages — as blocks with position ids. */
export function blocksOf(attributes: Attributes): Array<Record<string, unknown>> {
  const system = systemPartsOf(attributes["gen_ai.system_instructions"]);
  const input =
    attributes["gen_ai.input.messages"] !== undefined
      ? messagesOf(attributes["gen_ai.input.messages"], "user")
      : messagesOf(attributes["ai.prompt.messages"], "user");
  const output =
    attributes["gen_ai.output.messages"] !== undefined
      ? messagesOf(attributes["gen_ai.output.messages"], "assistant")
      : legacyOutputOf(attributes);
  return [
    ...system.map((part, j) => blockOf(`sys.${j}`, "system", part)),
    ...[...input, ...output].flatMap((message, i) => message.parts.map((part, j) => blockOf(`m${i}.${j}`, message.role, part))),
  ];
}

// ---- Model truth → turn metadata ----------------------------------------------------------------

function firstText(attributes: Attributes, keys: readonly string[]): string | undefined {
  for (const key of keys) {
    const value = text(attributes[key]);
    if (value !== undefined && value !== "") return value;
  }
  return undefined;
}

/** Token counts: every gen_ai.usage.* attribute (prefix dropped), else the AI SDK's ai.usage.*. */
function usageOf(attributes: Attributes): Record<string, AttributeValue> | undefined {
  for (const prefix of ["gen_ai.usage.", "ai.usage."]) {
    const usage: Record<string, AttributeValue> = {};
    for (const [key, value] of Object.entries(attributes)) if (key.startsWith(prefix)) usage[key.slice(prefix.length)] = value;
    if (Object.keys(usage).length > 0) return usage;
  }
  return undefined;
}

function finishReasonsOf(attributes: Attributes): AttributeValue[] | undefined {
  const reasons = attributes["gen_ai.response.finish_reasons"];
  if (Array.isArray(reasons)) return reasons;
  const one = firstText(attributes, ["gen_ai.response.finish_reasons", "ai.response.finishReason"]);
  return one === undefined ? undefined : [one];
}

/** The turnstore.gen_ai@v1 metadata of a span: models, provider, usage, finish reasons, trace and span ids. */
export function genAiMetadataOf(span: SpanRecord): Record<string, unknown> {
  const a = span.attributes;
  return defined({
    operation: firstText(a, ["gen_ai.operation.name", "ai.operationId"]) ?? span.name,
    provider: firstText(a, ["gen_ai.provider.name", "gen_ai.system", "ai.model.provider"]),
    request_model: firstText(a, ["gen_ai.request.model", "ai.model.id"]),
    response_model: firstText(a, ["gen_ai.response.model", "ai.response.model"]),
    response_id: firstText(a, ["gen_ai.response.id", "ai.response.id"]),
    usage: usageOf(a),
    finish_reasons: finishReasonsOf(a),
    trace_id: span.traceId,
    span_id: span.spanId,
    parent_span_id: span.parentSpanId === "" ? undefined : span.parentSpanId,
    span_name: span.name,
    status: span.statusCode === 2 ? "error" : undefined,
  });
}
