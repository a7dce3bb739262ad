/**
 * The D1 schema — the single source of truth. Migrations in drizzle/ are generated from this file
 * (`npm run db:generate -- --name …`); only the data-only backfill step is hand-written SQL.
 *
 * turns / blocks / turn_block_membership keep the pre-cutover (Go, "pinocchio") column names so
 * operators' SQL and old databases keep working. Everything new is additive.
 */
import { sqliteTable, text, integer, primaryKey, index, uniqueIndex } from "drizzle-orm/sqlite-core";
import { sql } from "drizzle-orm";

/** One row per turn: a roll-up of its snapshots. runtime_key / inference_id are the turn's truth. */
export const turns = sqliteTable(
  "turns",
  {
    convId: text("conv_id").notNull(),
    sessionId: text("session_id").notNull(),
    turnId: text("turn_id").notNull(),
    /**
     * Oldest snapshot time of the turn. Moved back by the trigger turn_snapshots_lower_turn_created
     * (hand-written in drizzle/0009_turn_created_trigger.sql) when an older snapshot is inserted.
     * Every other column of a turn is rolled up from its snapshots by the trigger
     * turn_snapshots_roll_up_turn (drizzle/0010_turn_rollup_trigger.sql) as each is inserted.
     */
    turnCreatedAtMs: integer("turn_created_at_ms").notNull(),
    /** Metadata / data of the newest snapshot (by created_at_ms). */
    turnMetadataJson: text("turn_metadata_json").notNull().default("{}"),
    turnDataJson: text("turn_data_json").notNull().default("{}"),
    /** Newest snapshot time of the turn. */
    updatedAtMs: integer("updated_at_ms").notNull(),
    /** Runtime of the newest snapshot that had one; '' when unknown. */
    runtimeKey: text("runtime_key").notNull().default(""),
    /** Inference id of the newest snapshot that had one; '' when unknown. */
    inferenceId: text("inference_id").notNull().default(""),
    /** Event time of the snapshot runtime_key came from, so an older late arrival never wins. */
    runtimeKeyAtMs: integer("runtime_key_at_ms").notNull().default(0),
    inferenceIdAtMs: integer("inference_id_at_ms").notNull().default(0),
  },
  (t) => [
    primaryKey({ columns: [t.convId, t.sessionId, t.turnId] }),
    index("turns_by_conv_runtime_updated").on(t.convId, t.runtimeKey, sql`${t.updatedAtMs} DESC`),
    index("turns_by_conv_inference_updated").on(t.convId, t.inferenceId, sql`${t.updatedAtMs} DESC`),
    // Runtime history of a conversation walks its turns in creation order.
    index("turns_by_conv_created").on(t.convId, t.turnCreatedAtMs, t.turnId),
  ],
);

/** Content-addressed blocks: a block repeated by many snapshots is stored once. */
export const blocks = sqliteTable(
  "blocks",
  {
    blockId: text("block_id").notNull(),
    /** Lowercase hex SHA-256 of the canonical block JSON (sha256-canonical-json-v1). */
    contentHash: text("content_hash").notNull(),
    hashAlgorithm: text("hash_algorithm").notNull(),
    kind: text("kind").notNull(),
    role: text("role").notNull().default(""),
    payloadJson: text("payload_json").notNull().default("{}"),
    blockMetadataJson: text("block_metadata_json").notNull().default("{}"),
    firstSeenAtMs: integer("first_seen_at_ms").notNull(),
    /**
     * How many block_nodes rows reference this block (every conversation's paths together), kept in
     * the same batch as the writes; a conversation's deletion removes the blocks it takes to 0.
     * NULL: a legacy row not counted yet (only the conversion of legacy snapshots counts it).
     */
    refCount: integer("ref_count"),
  },
  // WITHOUT ROWID (by hand in drizzle/0008_snapshot_keys.sql): the primary key is the table, so a
  // new block is one B-tree entry to write.
  (t) => [
    primaryKey({ columns: [t.blockId, t.contentHash] }),
    // Blocks left unreferenced while legacy snapshots were still being converted: collected later.
    index("blocks_unreferenced").on(t.blockId, t.contentHash).where(sql`ref_count = 0`),
  ],
);

/**
 * The block sequences of a conversation as a tree of paths (CONTRACT §5.4): one node per position
 * of a sequence, shared by every snapshot whose blocks start the same way. A snapshot stores only
 * the node of its last block (turn_snapshots.tip_chain), so it costs the nodes it adds — its new
 * blocks — whatever it repeats; a branch (regenerated answer, edited block, another session) adds
 * nodes from where it diverges.
 *
 * A node is named by its chain: the first 16 bytes (hex) of SHA-256 over the canonical JSON
 * [parent chain, block_id, content_hash, extra_json] (src/turn/block-path.ts), so the same sequence
 * always reaches the same node and a write finds what exists with one indexed lookup.
 */
export const blockNodes = sqliteTable(
  "block_nodes",
  {
    convId: text("conv_id").notNull(),
    chain: text("chain").notNull(),
    /** '' for the first block of a sequence. */
    parentChain: text("parent_chain").notNull(),
    /** Position in the sequence, from 1: the number of blocks up to and including this one. */
    depth: integer("depth").notNull(),
    blockId: text("block_id").notNull(),
    contentHash: text("content_hash").notNull(),
    /** The block's keys the turn reader does not know, canonical JSON; '' when none. */
    extraJson: text("extra_json").notNull().default(""),
  },
  // WITHOUT ROWID (added by hand to drizzle/0004_block_paths.sql; Drizzle cannot express it): the
  // primary key is the table, so a node is one B-tree entry to write and one lookup to read.
  (t) => [primaryKey({ columns: [t.convId, t.chain] })],
);

/**
 * Pre-cutover per-block membership (one row per block per snapshot). Kept so old databases load
 * unchanged; the backfill carries its rows into turn_snapshots and nothing writes it afterwards.
 */
export const turnBlockMembership = sqliteTable(
  "turn_block_membership",
  {
    convId: text("conv_id").notNull(),
    sessionId: text("session_id").notNull(),
    turnId: text("turn_id").notNull(),
    phase: text("phase").notNull(),
    snapshotCreatedAtMs: integer("snapshot_created_at_ms").notNull(),
    ordinal: integer("ordinal").notNull(),
    blockId: text("block_id").notNull(),
    contentHash: text("content_hash").notNull(),
  },
  (t) => [
    primaryKey({
      columns: [t.convId, t.sessionId, t.turnId, t.phase, t.snapshotCreatedAtMs, t.ordinal],
    }),
  ],
);

/**
 * One row per snapshot (conv_id, session_id, turn_id, phase, created_at_ms), with its own runtime and
 * inference and its block path (tip_chain; legacy rows: block_refs_json): a snapshot costs one row
 * plus its new blocks, however many old blocks it repeats.
 *
 * WITHOUT ROWID (added by hand to drizzle/0008_snapshot_keys.sql; Drizzle cannot express it), keyed
 * by (conv_id, created_at_ms, id): the table is its conversation's snapshots in time order, so a
 * snapshot is two B-tree entries — the row and its identity — where a rowid table with the same
 * reads needs three or more. D1 bills every entry written.
 */
export const turnSnapshots = sqliteTable(
  "turn_snapshots",
  {
    /**
     * Arrival order among the conversation's snapshots of the same created_at_ms (the tiebreaker of
     * the page order and the cursor's last part): one more than the highest id of that
     * (conv_id, created_at_ms), assigned in the insert. Rows of the first release keep their ids.
     */
    id: integer("id").notNull(),
    convId: text("conv_id").notNull(),
    sessionId: text("session_id").notNull(),
    turnId: text("turn_id").notNull(),
    phase: text("phase").notNull(),
    createdAtMs: integer("created_at_ms").notNull(),
    runtimeKey: text("runtime_key").notNull().default(""),
    inferenceId: text("inference_id").notNull().default(""),
    turnMetadataJson: text("turn_metadata_json").notNull().default("{}"),
    turnDataJson: text("turn_data_json").notNull().default("{}"),
    blockRefsJson: text("block_refs_json").notNull().default("[]"),
    /** Turn keys the reader does not know (geppetto's run_id, version…), canonical JSON; '' when none. */
    turnExtraJson: text("turn_extra_json").notNull().default(""),
    /** The block_nodes chain of the snapshot's last block ('' for no blocks); NULL on a legacy row whose blocks are still in block_refs_json. */
    tipChain: text("tip_chain"),
    blockCount: integer("block_count").notNull().default(0),
  },
  (t) => [
    // A conversation's snapshots in time order (debug pages, latest-snapshot reads, export, deletion):
    // the table itself. Every other index is an entry D1 writes (and bills) with each snapshot; the
    // reads each one serves are pinned with EXPLAIN QUERY PLAN in test/worker/*.cost.test.ts.
    primaryKey({ columns: [t.convId, t.createdAtMs, t.id] }),
    // Identity (replays, conflicts), one turn's snapshots (turn detail, the transcript's newest
    // snapshot per turn) and a session's snapshots (the debug API's session_id filter without conv_id).
    uniqueIndex("turn_snapshots_identity").on(t.sessionId, t.convId, t.turnId, t.createdAtMs, t.phase),
    // Legacy snapshots not yet converted to block paths (a queue that new writes never enter).
    index("turn_snapshots_unconverted").on(t.convId, t.id).where(sql`tip_chain IS NULL`),
  ],
);

/** A conversation and its pointer to the runtime it uses now (not history). */
export const conversations = sqliteTable(
  "conversations",
  {
    convId: text("conv_id").primaryKey(),
    /** Session of the newest event. */
    sessionId: text("session_id").notNull(),
    currentRuntimeKey: text("current_runtime_key").notNull().default(""),
    /** Event time that set current_runtime_key: an older event never moves the pointer back. */
    currentRuntimeAtMs: integer("current_runtime_at_ms").notNull().default(0),
    createdAtMs: integer("created_at_ms").notNull(),
    lastActivityMs: integer("last_activity_ms").notNull(),
    turnCount: integer("turn_count").notNull().default(0),
    snapshotCount: integer("snapshot_count").notNull().default(0),
  },
  (t) => [index("conversations_by_activity").on(sql`${t.lastActivityMs} DESC`, t.convId)],
);

/**
 * Conversations being deleted (DELETE /api/conversations/:conv_id, retention): the conversation row
 * goes first and its id comes here, so the conversation reads 404 at once and no write may recreate
 * it; its turns, snapshots, path nodes and unshared blocks are then removed in bounded batches, by
 * the request or — if that is interrupted — by the next scheduled run, and the row here goes last.
 */
export const conversationDeletions = sqliteTable("conversation_deletions", {
  convId: text("conv_id").primaryKey(),
  requestedAtMs: integer("requested_at_ms").notNull(),
  /** "admin" (the DELETE route) or "retention". */
  reason: text("reason").notNull(),
});

/**
 * Never holds a row, and is no longer written: from 0007 to 0009 the one-round-trip write ended its
 * batch with a statement inserting NULL here to fail the batch. Since 0010 the snapshot insert
 * carries that guard itself (store/snapshot-writes.ts, INSERT_SNAPSHOTS). Kept: migrations only add.
 */
export const writeGuards = sqliteTable("write_guards", {
  refused: text("refused").notNull(),
});

/**
 * OpenTelemetry ingestion (POST /v1/traces, src/otlp/recording.ts): per trace, what its spans lend
 * to the spans under them — parent, remote flag and context keys (conversation, session, runtime) —
 * so that an inference span arriving in a later request than its ancestors (or before them) resolves
 * to the snapshot it would be had the whole trace come at once. `scope` keeps callers apart: "ingest"
 * for INGEST_TOKEN, the conversation for a conversation token, so no caller can lend context to
 * another's spans. Kept OTLP_CONTEXT_MS after the trace's last change (src/scheduled.ts expires it).
 *
 * WITHOUT ROWID (by hand in drizzle/0011_otlp_spans.sql): the primary key is the table.
 */
export const otlpTraces = sqliteTable(
  "otlp_traces",
  {
    scope: text("scope").notNull(),
    traceId: text("trace_id").notNull(),
    /** {span id: [parent span id, parent is remote (0/1), {context key: value}]} (genai-mapping.ts SpanContext). */
    spansJson: text("spans_json").notNull().default("{}"),
    spanCount: integer("span_count").notNull().default(0),
    updatedAtMs: integer("updated_at_ms").notNull(),
  },
  (t) => [primaryKey({ columns: [t.scope, t.traceId] }), index("otlp_traces_by_updated").on(t.updatedAtMs)],
);

/**
 * Inference spans held until their ancestors arrive (their conversation, session or runtime could
 * still change): the span as decoded (wire.ts SpanRecord). A later request of the trace resolves
 * them; the scheduled handler resolves what expired with the context that is known, or drops it
 * when no conversation is known — counted and logged, never silently.
 *
 * WITHOUT ROWID (by hand in drizzle/0011_otlp_spans.sql): the primary key is the table.
 */
export const otlpHeldSpans = sqliteTable(
  "otlp_held_spans",
  {
    scope: text("scope").notNull(),
    traceId: text("trace_id").notNull(),
    spanId: text("span_id").notNull(),
    spanJson: text("span_json").notNull(),
    receivedAtMs: integer("received_at_ms").notNull(),
  },
  (t) => [primaryKey({ columns: [t.scope, t.traceId, t.spanId] }), index("otlp_held_spans_by_received").on(t.receivedAtMs)],
);
