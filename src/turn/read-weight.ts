/**
 * What a snapshot weighs when it is read (CONTRACT §6.3): an upper bound, in characters (UTF-16 code
 * units — what the isolate holds as strings), of what it adds to one read in YAML (the debug API's
 * `payload`, YAML exports) and JSON (`parsed`, the latest-turn read, JSON exports) together. It is
 * measured with the writers the reads use (turn.ts, yaml.ts), so YAML's indentation of deeply nested
 * content and its escapes count as what they cost — a payload can be small as stored JSON and large
 * as YAML.
 *
 * A block's content is weighed once, when it is first stored (blocks.weight), and a path's weight is
 * kept on its nodes (block_nodes.path_weight): a reference or a prefix is weighed without reading the
 * blocks it stands for, and a page of snapshots is cut by their weights before it is fetched.
 * Pure; no I/O.
 */
import { canonicalString } from "./canonical-json";
import { blockEntries, type Block, type JsonObject, objectOf, type Turn, turnEntries } from "./turn";
import { writeYamlSequenceItem } from "./yaml";

/**
 * YAML is weighed where the YAML export writes it (export-formats.ts): a turn's keys 6 spaces deep
 * (an item of `snapshots:`, under `turn:`), its blocks' items at 8 — deeper than the debug payload's
 * (turnToYaml: 0 and 2), so the weight bounds both; each line of a payload costs those 6 spaces more
 * in the export.
 */
const TURN_ITEM_INDENT = "    ";
const BLOCK_ITEM_INDENT = "        ";

/** Line breaks JSON.stringify leaves raw and the JSON exports escape as six characters (compactJson). */
const RAW_LINE_BREAKS = /[\u0085\u2028\u2029]/g;

/** JSON as the reads write it: JSON.stringify, each NEL, LS and PS counted as the export's `\uXXXX`. */
function jsonWeight(value: unknown): number {
  const text = JSON.stringify(value);
  return text.length + 5 * (text.match(RAW_LINE_BREAKS)?.length ?? 0);
}

/** A block's content — kind, role, payload, metadata — as a `blocks:` item, in YAML and in JSON. */
export function blockContentWeight(block: Pick<Block, "kind" | "role" | "payload" | "metadata">): number {
  const entries = blockEntries({ ...block, id: "", extra: {} }).slice(1);
  return writeYamlSequenceItem(entries, BLOCK_ITEM_INDENT).length + jsonWeight(objectOf(entries));
}

/**
 * A block's id: its line (YAML, `- id: ` at the export's depth) and key (JSON); escapes count at most
 * six characters each.
 */
export function blockIdWeight(id: string): number {
  return 2 * canonicalString(id).length + 22;
}

/** A block's extra keys, written where they stand (after metadata, inside the item). */
export function blockExtraWeight(extra: JsonObject): number {
  if (Object.keys(extra).length === 0) return 0;
  const entries = Object.keys(extra).map((key) => [key, extra[key]] as const);
  return writeYamlSequenceItem(entries, BLOCK_ITEM_INDENT).length + jsonWeight(extra);
}

/** A whole block. */
export function blockWeight(block: Block): number {
  return blockContentWeight(block) + blockIdWeight(block.id) + blockExtraWeight(block.extra);
}

/** A turn without its blocks: id, metadata, data, extra keys, and the keys around them. */
export function turnWeight(turn: Turn): number {
  const entries = turnEntries(turn, []);
  return writeYamlSequenceItem(entries, TURN_ITEM_INDENT).length + jsonWeight(objectOf(entries));
}
