/**
 * Block paths (CONTRACT §5.4; the block_nodes table): a snapshot's blocks are a path in a tree per
 * conversation, each node named by its chain — the first 16 bytes (hex) of SHA-256 over the
 * canonical JSON [parent chain, block_id, content_hash, extra_json]. The same sequence of blocks
 * always reaches the same chain, so a snapshot that repeats its conversation's history reaches
 * existing nodes and adds only the nodes of its new blocks. Pure; no I/O.
 *
 * SHA-256 here is Web Crypto's. A chain depends on the previous one, so the chains of one path are
 * hashed one after another; a chain the per-isolate memory holds is answered without awaiting.
 */
import { canonicalString } from "./canonical-json";
import { sha256Hex } from "./block-hash";
import { BoundedMemory } from "./bounded-memory";

/** The chain of the empty sequence (a snapshot without blocks). */
export const EMPTY_CHAIN = "";

export const CHAIN = /^[0-9a-f]{32}$/;

/** A block's place in a path: what names a node besides its parent. */
export interface PathStep {
  blockId: string;
  contentHash: string;
  /** Canonical JSON of the block's extra keys; "" when none. */
  extraJson: string;
}

/**
 * Chains of recently seen steps, per isolate: a growing conversation posted in full walks the same
 * path again with every snapshot. Keyed by everything the material holds, so a hit is exact.
 */
const remembered = new BoundedMemory<string, string>(32_768);

/**
 * The memory's key, cheaper to build than the material and as exact: the parent chain is hex (or
 * empty), the content hash and extra_json are length-prefixed, and the block id takes the rest.
 */
const memoryKey = (parentChain: string, step: PathStep) =>
  `${parentChain}|${step.contentHash.length}|${step.contentHash}|${step.extraJson.length}|${step.extraJson}|${step.blockId}`;

async function computeChain(key: string, parentChain: string, step: PathStep): Promise<string> {
  // canonicalJson([parent chain, block_id, content_hash, extra_json]), written directly.
  const material = `[${canonicalString(parentChain)},${canonicalString(step.blockId)},${canonicalString(step.contentHash)},${canonicalString(step.extraJson)}]`;
  const chain = (await sha256Hex(material)).slice(0, 32);
  remembered.set(key, chain);
  return chain;
}

export function chainOf(parentChain: string, step: PathStep): Promise<string> {
  const key = memoryKey(parentChain, step);
  const known = remembered.get(key);
  return known !== undefined ? Promise.resolve(known) : computeChain(key, parentChain, step);
}

export interface PathNode extends PathStep {
  chain: string;
  parentChain: string;
  /** Position from 1. */
  depth: number;
}

/** The nodes of `steps` appended to the path ending at `parentChain` (at `parentDepth`). */
export async function pathNodes(steps: readonly PathStep[], parentChain = EMPTY_CHAIN, parentDepth = 0): Promise<PathNode[]> {
  const nodes: PathNode[] = [];
  let parent = parentChain;
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i]!;
    const key = memoryKey(parent, step);
    const chain = remembered.get(key) ?? (await computeChain(key, parent, step));
    nodes.push({ ...step, chain, parentChain: parent, depth: parentDepth + i + 1 });
    parent = chain;
  }
  return nodes;
}

/**
 * The blocks of a path, first to last, from its tip and the nodes read for it (keyed by chain).
 * Returns null when a node is missing (a bug or a half-deleted conversation: never guessed).
 */
export function walkPath<N extends { chain: string; parentChain: string }>(tipChain: string, nodes: ReadonlyMap<string, N>): N[] | null {
  const out: N[] = [];
  let chain = tipChain;
  while (chain !== EMPTY_CHAIN) {
    const node = nodes.get(chain);
    if (!node) return null;
    out.push(node);
    chain = node.parentChain;
  }
  return out.reverse();
}
