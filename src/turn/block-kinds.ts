/**
 * The block kinds of the turn format (CONTRACT §2). A module of its own, with no imports, so the
 * viewer's browser bundle can use the same list without pulling in the turn parser.
 */
export const BLOCK_KINDS = ["user", "llm_text", "tool_call", "tool_use", "system", "reasoning", "other"] as const;
export type BlockKind = (typeof BLOCK_KINDS)[number];
