/** What the bench's figures are held to (issues 7, 13, 17), and the peer figure it compares with. */
export const TARGETS = {
  /** Issue 17 (issue 7 asked for 0.7): POST /api/turns against the single-row baseline, same bodies. */
  writeRatio: 0.8,
  /** Issue 17: D1's rows_written beyond new blocks, for a later-phase snapshot with about one new block. */
  extraRowsPerSnapshot: 8,
  /** Issue 7: table rows beyond new blocks. */
  extraTableRowsPerSnapshot: 4,
  readLatencyRatio: 1.5,
  /** D1's limit on one statement, and what a chunk of the backfill should stay under locally (a third of it). */
  statementSeconds: 30,
  chunkSeconds: 10,
  /** Issue 17: the page's serialization (YAML + JSON) against its SQL time, and the whole page (a moonshot). */
  serializeSqlRatio: 3,
  anchorPageMs: 33,
  /** Issue 13: at the longest T against the shortest. */
  growingBytesRatio: 1.5,
  growingDeltaRatio: 1.5,
  growingSummaryPageRatio: 1.5,
  /** Issue 26: a cross-conversation page with 4 databases against 1; the fullest of 4 databases against the mean, at 10,000 conversations. */
  manyPageRatio: 1.5,
  placementSkew: 1.1,
} as const;

/** The Go implementation's benchmark: 200 snapshots of a 2000-snapshot conversation (native SQLite, 8 cores). */
export const GO_ANCHOR_MS = 10.8;
