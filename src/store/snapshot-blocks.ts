/**
 * Building turns from the blocks a page read fetched (snapshot-queries.ts blocksQuery): each page
 * row's path walked from its tip through the page's path nodes (src/turn/block-path.ts), or its
 * legacy block_refs_json. A block is built once per node — or legacy block — and shared by every
 * snapshot of the page that has it.
 */
import { walkPath } from "../turn/block-path";
import type { LegacyBlockRef } from "../turn/snapshot";
import { storedObject, type Block, type BlockKind, type JsonObject, type Turn } from "../turn/turn";
import type { BlockRow, PageRow } from "./snapshot-queries";

function blockOf(id: string, contentHash: string, row: BlockRow | undefined, extra: JsonObject): Block {
  if (!row || row.kind === null) {
    // Only possible for legacy rows whose block went missing before import: say so, don't hide it.
    return { id, kind: "other", role: "", payload: {}, metadata: { "turnstore.missing_block@v1": contentHash }, extra };
  }
  return {
    id,
    kind: row.kind as BlockKind,
    role: row.role ?? "",
    payload: storedObject(row.payload_json ?? "{}"),
    metadata: storedObject(row.block_metadata_json ?? "{}"),
    extra,
  };
}

const extraOf = (text: string | null): JsonObject => (text === null || text === "" ? {} : storedObject(text));

/** A path node of the page, keyed by its chain (parentChain: '' at the root). */
type NodeRow = BlockRow & { chain: string; parentChain: string };

/**
 * A page row's blocks: its path (walked from the tip), or its legacy block_refs_json. Blocks are
 * built once per node (or legacy block) and shared by every snapshot of the page that has it, so
 * their JSON is parsed — and their YAML written (turn.ts turnToYaml) — once per page.
 */
function blocksOf(
  row: PageRow,
  nodes: ReadonlyMap<string, NodeRow>,
  legacy: ReadonlyMap<string, BlockRow>,
  built: Map<object, Block>,
): Block[] {
  if (row.tip_chain === null) {
    const refs = JSON.parse(row.block_refs_json) as LegacyBlockRef[];
    return refs.map(([blockId, contentHash]) => {
      const stored = legacy.get(JSON.stringify([blockId, contentHash]));
      // A missing legacy block is shown per snapshot (blockOf says so); a stored one is shared.
      if (!stored) return blockOf(blockId, contentHash, undefined, {});
      let block = built.get(stored);
      if (!block) built.set(stored, (block = blockOf(blockId, contentHash, stored, {})));
      return block;
    });
  }
  const path = walkPath(row.tip_chain, nodes);
  if (path === null)
    throw new Error(`snapshot ${row.id} of conversation ${JSON.stringify(row.conv_id)} names a block path that is not stored`);
  return path.map((node) => {
    let block = built.get(node);
    if (!block) built.set(node, (block = blockOf(node.block_id, node.content_hash, node, extraOf(node.extra_json))));
    return block;
  });
}

function toTurn(row: PageRow, blocks: Block[]): Turn {
  return {
    id: row.turn_id,
    blocks,
    metadata: storedObject(row.turn_metadata_json),
    data: storedObject(row.turn_data_json),
    extra: extraOf(row.turn_extra_json),
  };
}

/** The turn of a page row read without its blocks (withBlocks false): its id, nothing else. */
const turnWithoutBlocks = (row: PageRow): Turn => ({ id: row.turn_id, blocks: [], metadata: {}, data: {}, extra: {} });

/**
 * A reader of each page row's turn from the block rows read in the same batch: path nodes by
 * conversation and chain (a page may span conversations: a session filter), legacy blocks by
 * (block_id, content_hash). Without blocks, every turn is empty.
 */
export function turnReader(blockRows: readonly BlockRow[], withBlocks: boolean): (row: PageRow) => Turn {
  if (!withBlocks) return turnWithoutBlocks;
  const nodesByConv = new Map<string, Map<string, NodeRow>>();
  const legacy = new Map<string, BlockRow>();
  for (const b of blockRows) {
    if (b.chain === null) {
      legacy.set(JSON.stringify([b.block_id, b.content_hash]), b);
      continue;
    }
    let nodes = nodesByConv.get(b.conv_id);
    if (!nodes) nodesByConv.set(b.conv_id, (nodes = new Map()));
    nodes.set(b.chain, { ...b, chain: b.chain, parentChain: b.parent_chain ?? "" });
  }
  const built = new Map<object, Block>();
  return (row) => toTurn(row, blocksOf(row, nodesByConv.get(row.conv_id) ?? new Map(), legacy, built));
}
