/**
 * The Markdown transcript of a conversation (CONTRACT §5.5): text people read — each turn's newest
 * snapshot under a heading with its turn id, runtime and time, its blocks labelled by role, tool
 * calls and results as JSON code blocks, reasoning folded. Pure; no I/O.
 *
 * Stored text is shown as text, never interpreted: a CommonMark (or GitHub) reader displays exactly
 * its characters — a `# heading`, `<script>`, `**bold**` or "1." in a message stay characters — and
 * nothing in a block can end the transcript's own structure (a code block's fence is longer than any
 * run of backticks inside it; `<` in text is escaped, so it cannot close the reasoning's <details>).
 */
import { canonicalJson } from "./canonical-json";
import { GEN_AI_METADATA_KEY, hasGenAiMetadata, modelMismatch } from "./gen-ai-models";
import type { SnapshotWithTurn } from "./snapshot";
import type { Block, JsonObject } from "./turn";

export type TranscriptSnapshot = SnapshotWithTurn;

/** Largest |ms| a JavaScript Date holds. */
const MAX_DATE_MS = 8.64e15;

/** A stored time as ISO 8601 UTC; a time no Date can hold as its raw value ("9007199254740991 ms"). */
export function isoTime(ms: number): string {
  return Number.isFinite(ms) && Math.abs(ms) <= MAX_DATE_MS ? new Date(ms).toISOString() : `${ms} ms`;
}

const LINE_BREAKS = /\r\n|\r|\n/g;

/** Backtick runs in `text`, longest first (0 when none). */
function longestBacktickRun(text: string): number {
  let longest = 0;
  for (const run of text.match(/`+/g) ?? []) longest = Math.max(longest, run.length);
  return longest;
}

/**
 * Inline code that shows `text` exactly: delimited by a backtick run longer than any inside, padded
 * with a space where CommonMark would otherwise strip or join one. A code span cannot hold a line
 * break (a reader shows it as a space), so line breaks become spaces here and never end a heading.
 */
export function codeSpan(text: string): string {
  const flat = text.replace(LINE_BREAKS, " ");
  const fence = "`".repeat(longestBacktickRun(flat) + 1);
  const pad = flat.startsWith("`") || flat.endsWith("`") || (flat.startsWith(" ") && flat.endsWith(" ") && flat.trim() !== "") ? " " : "";
  return `${fence}${pad}${flat}${pad}${fence}`;
}

/** A fenced code block holding `content` verbatim: its fence is longer than any backtick run inside. */
export function codeBlock(content: string, info = ""): string {
  const fence = "`".repeat(Math.max(3, longestBacktickRun(content) + 1));
  const body = content.endsWith("\n") ? content : `${content}\n`;
  return `${fence}${info}\n${body}${fence}`;
}

/** Characters that mean something anywhere in a line (entities only where one would be read). */
const INLINE_SPECIAL = /[\\`*_[\]<|~$]|&(?=#?[A-Za-z0-9]+;)/g;
/** What opens a block at the start of a line: heading, quote, list, setext underline, ordered list. */
const LINE_START_SPECIAL = /^(?:[#>+=-]|(\d{1,9})([.)]))/;

const NO_BREAK_SPACE = "\u00a0";

function escapeLine(line: string): string {
  const indent = /^[ \t]*/.exec(line)![0];
  let rest = line
    .slice(indent.length)
    .replace(/[ \t]+$/, "")
    .replace(INLINE_SPECIAL, (ch) => `\\${ch}`);
  rest = rest.replace(LINE_START_SPECIAL, (match, digits: string | undefined, mark: string | undefined) =>
    digits ? `${digits}\\${mark}` : `\\${match}`,
  );
  // Leading spaces would be stripped (or, four of them, start a code block): keep the indentation
  // visible as no-break spaces (U+00A0), which Markdown does not strip — one character each, within
  // the read weight of the spaces and tabs they stand for, where `&nbsp;` would be six.
  const visibleIndent = indent.replace(/\t/g, "    ").replace(/ /g, NO_BREAK_SPACE);
  return visibleIndent + rest;
}

/**
 * Plain text as Markdown that displays exactly these characters: specials escaped, lines kept as
 * hard line breaks, blank lines as paragraph breaks, indentation as no-break spaces (U+00A0). (As in any
 * HTML rendering, a run of spaces inside a line shows as one.)
 */
export function markdownText(text: string): string {
  const paragraphs: string[][] = [[]];
  for (const line of text.split(LINE_BREAKS)) {
    const escaped = escapeLine(line);
    if (escaped === "") {
      if (paragraphs[paragraphs.length - 1]!.length > 0) paragraphs.push([]);
    } else {
      paragraphs[paragraphs.length - 1]!.push(escaped);
    }
  }
  return paragraphs
    .filter((lines) => lines.length > 0)
    .map((lines) => lines.join("\\\n")) // a backslash before the line end is a hard line break
    .join("\n\n");
}

// Maps, not object literals: a role is stored text, and a lookup on a plain object would find
// Object.prototype's members ("constructor" → "function Object() { [native code] }").
const ROLE_LABELS: ReadonlyMap<string, string> = new Map([
  ["user", "User"],
  ["assistant", "Assistant"],
  ["system", "System"],
  ["tool", "Tool"],
  ["developer", "Developer"],
]);
const KIND_LABELS: ReadonlyMap<string, string> = new Map([
  ["user", "User"],
  ["llm_text", "Assistant"],
  ["system", "System"],
]);

/** "User", "Assistant", "System"… from the role; from the kind when the role is empty. */
function speaker(block: Block): string {
  const role = block.role.trim();
  if (role === "") return KIND_LABELS.get(block.kind) ?? "User";
  // A label is one line: whitespace runs (line breaks included) become one space.
  const label = role.replace(/\s+/g, " ");
  return ROLE_LABELS.get(label.toLowerCase()) ?? markdownText(label.charAt(0).toUpperCase() + label.slice(1));
}

/** How deep a payload's JSON is laid out on lines; deeper values stay on one line, compact. */
const PRETTY_JSON_DEPTH = 2;

/**
 * JSON laid out as JSON.stringify(value, null, 2) lays it out, down to PRETTY_JSON_DEPTH: deeper
 * collections are written compactly on their parent's line. Fully pretty-printed, a value nested in
 * arrays N deep takes ~N² characters of indentation from ~2N of JSON — far beyond the read weight
 * that cuts a transcript's pages (read-weight.ts); to this depth each line the layout adds has its own
 * line in the weighed YAML, so the transcript stays within the weight (test/worker/rules/read-weight.test.ts).
 */
export function prettyJson(value: unknown, depth = 0): string {
  if (typeof value !== "object" || value === null || depth >= PRETTY_JSON_DEPTH) return JSON.stringify(value);
  const array = Array.isArray(value);
  const items = array
    ? value.map((item) => prettyJson(item, depth + 1))
    : Object.keys(value).map((key) => `${JSON.stringify(key)}: ${prettyJson((value as JsonObject)[key], depth + 1)}`);
  const [open, close] = array ? ["[", "]"] : ["{", "}"];
  if (items.length === 0) return open + close;
  const inner = "  ".repeat(depth + 1);
  return `${open}\n${inner}${items.join(`,\n${inner}`)}\n${"  ".repeat(depth)}${close}`;
}

function withoutKey(object: JsonObject, key: string): JsonObject {
  const rest: JsonObject = {};
  for (const k of Object.keys(object)) {
    if (k !== key) Object.defineProperty(rest, k, { value: object[k], enumerable: true, writable: true, configurable: true });
  }
  return rest;
}

/** A block's text (payload.text) as Markdown, and the rest of its payload as a JSON code block. */
function textAndRest(payload: JsonObject): string {
  const parts: string[] = [];
  const text = payload.text;
  if (typeof text === "string") parts.push(text === "" ? "_(empty text)_" : markdownText(text));
  const rest = typeof text === "string" ? withoutKey(payload, "text") : payload;
  if (Object.keys(rest).length > 0) parts.push(codeBlock(prettyJson(rest), "json"));
  if (parts.length === 0) parts.push("_(no content)_");
  return parts.join("\n\n");
}

/** One block as Markdown: a bold label, then its content. */
export function markdownBlock(block: Block): string {
  const { payload } = block;
  switch (block.kind) {
    case "tool_call": {
      const name = typeof payload.name === "string" && payload.name !== "" ? ` ${codeSpan(payload.name)}` : "";
      return `**Tool call**${name}\n\n${codeBlock(prettyJson(payload), "json")}`;
    }
    case "tool_use": {
      const id = typeof payload.id === "string" && payload.id !== "" ? ` ${codeSpan(payload.id)}` : "";
      return `**Tool result**${id}\n\n${codeBlock(prettyJson(payload), "json")}`;
    }
    case "reasoning":
      // An HTML block holds Markdown between blank lines; escaped text cannot close the <details>.
      return `<details><summary>Reasoning</summary>\n\n${textAndRest(payload)}\n\n</details>`;
    case "other": {
      const role = block.role.trim() === "" ? "" : ` (role ${codeSpan(block.role)})`;
      return `**Other block**${role}\n\n${textAndRest(payload)}`;
    }
    default:
      return `**${speaker(block)}**\n\n${textAndRest(payload)}`;
  }
}

/**
 * The model of an OTLP-recorded snapshot: "model `gpt-4o`", or, when the response model differs from
 * the requested one, "model `gpt-4o` → `gpt-4o-2024-08-06` (model mismatch)"; null for other snapshots.
 */
function modelsText(metadata: JsonObject): string | null {
  if (!hasGenAiMetadata(metadata)) return null;
  const genAi = metadata[GEN_AI_METADATA_KEY] as JsonObject;
  const named = (v: unknown) => (typeof v === "string" && v !== "" ? v : null);
  const requested = named(genAi.request_model);
  const answered = named(genAi.response_model);
  if (modelMismatch(metadata)) return `model ${codeSpan(requested!)} → ${codeSpan(answered!)} (model mismatch)`;
  const model = requested ?? answered;
  return model === null ? null : `model ${codeSpan(model)}`;
}

const runtimeText = (runtimeKey: string) => (runtimeKey === "" ? "runtime _unknown_" : `runtime ${codeSpan(runtimeKey)}`);

/** The turn the transcript showed last, so the next one need not repeat its blocks. */
export interface ShownTurn {
  turnId: string;
  blocks: readonly Block[];
}

/** The same block: the same object (snapshots of one page share them), or equal id and content. */
function sameBlock(a: Block, b: Block): boolean {
  if (a === b) return true;
  return (
    a.id === b.id &&
    a.kind === b.kind &&
    a.role === b.role &&
    canonicalJson(a.payload) === canonicalJson(b.payload) &&
    canonicalJson(a.metadata) === canonicalJson(b.metadata) &&
    canonicalJson(a.extra) === canonicalJson(b.extra)
  );
}

/** How many blocks `blocks` begins with that `previous` began with too. */
function sharedPrefix(previous: readonly Block[], blocks: readonly Block[]): number {
  const max = Math.min(previous.length, blocks.length);
  let n = 0;
  while (n < max && sameBlock(previous[n]!, blocks[n]!)) n += 1;
  return n;
}

/**
 * One turn's section: heading (turn id, runtime, time), what the snapshot is, then its blocks.
 * geppetto turns carry the conversation so far, so a turn usually begins with the blocks of the turn
 * before it (`previous`): those are not shown again — a line says how many — and the transcript
 * grows with the conversation instead of with its square.
 */
export function markdownTurn(snapshot: TranscriptSnapshot, previous: ShownTurn | null = null): string {
  const heading = `## Turn ${codeSpan(snapshot.turnId)} · ${runtimeText(snapshot.runtimeKey)} · ${isoTime(snapshot.createdAtMs)}`;
  const about = [`phase ${codeSpan(snapshot.phase)}`, `session ${codeSpan(snapshot.sessionId)}`];
  if (snapshot.inferenceId !== "") about.push(`inference ${codeSpan(snapshot.inferenceId)}`);
  const models = modelsText(snapshot.turn.metadata);
  if (models) about.push(models);
  const { blocks } = snapshot.turn;
  const shared = previous ? sharedPrefix(previous.blocks, blocks) : 0;
  const parts = [heading, about.join(" · ")];
  if (shared > 0) {
    const which = shared === 1 ? "The first block repeats" : `The first ${shared} blocks repeat`;
    parts.push(`_${which} turn ${codeSpan(previous!.turnId)} above and ${shared === 1 ? "is" : "are"} not shown again._`);
  }
  if (blocks.length === 0) parts.push("_(no blocks)_");
  parts.push(...blocks.slice(shared).map(markdownBlock));
  return `${parts.join("\n\n")}\n\n`;
}

/** The transcript's title and what it shows. */
export function markdownTitle(options: { convId: string; exportedAtMs: number; phase?: string }): string {
  const which = options.phase === undefined ? "its newest snapshot" : `its newest snapshot in phase ${codeSpan(options.phase)}`;
  return (
    `# Conversation ${codeSpan(options.convId)}\n\n` +
    `Exported by Turnstore at ${isoTime(options.exportedAtMs)}. Each turn, oldest first, shows ${which} ` +
    `and the runtime that produced it; blocks a turn repeats from the turn before it are not shown again.\n\n`
  );
}

/** The closing line of a transcript that had no turn to show. */
export function markdownNoTurns(phase?: string): string {
  return phase === undefined ? "_No turns._\n" : `_No turn has a snapshot in phase ${codeSpan(phase)}._\n`;
}
