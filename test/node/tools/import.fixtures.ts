/**
 * Legacy turn databases built with sql.js inside the tests, in the layouts the Go implementation
 * wrote: A (normalized, with updated_at_ms), B (without it), C (single-table YAML snapshot store,
 * session_id or run_id), an already-migrated A (runtime_key / inference_id on turns), and the
 * timeline.db conversation index, and geppetto's single-table store (geppetto_turns).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import initSqlJs from "sql.js";
import { GO_STORE_DDL, GO_STORE_DDL_WITH_RUNTIME } from "../../fixtures/go-store";

const SQL = await initSqlJs();

/**
 * Builds a SQLite file from DDL and rows ({table: [[...values]]}) and returns its path. Foreign keys
 * are enforced while it is written, as the Go store opens its databases (`_foreign_keys=on`).
 */
export function writeSqlite(dir: string, name: string, ddl: string, rows: Record<string, unknown[][]>): string {
  const db = new SQL.Database();
  db.run("PRAGMA foreign_keys = ON");
  db.run(ddl);
  for (const [table, values] of Object.entries(rows)) {
    for (const row of values) {
      db.run(`INSERT INTO ${table} VALUES (${row.map(() => "?").join(", ")})`, row as (string | number | null)[]);
    }
  }
  const path = join(dir, name);
  writeFileSync(path, db.export());
  db.close();
  return path;
}

/** The Go store's DDL as one script: test/fixtures/go-store.ts, verbatim from pinocchio. */
export const goStoreDdl = (statements: readonly string[] = GO_STORE_DDL) => statements.join("\n");

/**
 * Layout B's variant of the normalized store: turns without updated_at_ms (a store older than the Go
 * store's own DDL, which always had it), and without foreign keys — its rows include an orphan
 * snapshot and a missing block on purpose.
 */
export function storeWithoutUpdatedAtDdl(): string {
  return `
CREATE TABLE turns (
  conv_id TEXT NOT NULL, session_id TEXT NOT NULL, turn_id TEXT NOT NULL,
  turn_created_at_ms INTEGER NOT NULL,
  turn_metadata_json TEXT NOT NULL DEFAULT '{}', turn_data_json TEXT NOT NULL DEFAULT '{}',
  PRIMARY KEY (conv_id, session_id, turn_id));
CREATE TABLE blocks (
  block_id TEXT NOT NULL, content_hash TEXT NOT NULL, hash_algorithm TEXT NOT NULL DEFAULT 'sha256-canonical-json-v1',
  kind TEXT NOT NULL, role TEXT NOT NULL DEFAULT '', payload_json TEXT NOT NULL DEFAULT '{}',
  block_metadata_json TEXT NOT NULL DEFAULT '{}', first_seen_at_ms INTEGER NOT NULL,
  PRIMARY KEY (block_id, content_hash));
CREATE TABLE turn_block_membership (
  conv_id TEXT NOT NULL, session_id TEXT NOT NULL, turn_id TEXT NOT NULL, phase TEXT NOT NULL,
  snapshot_created_at_ms INTEGER NOT NULL, ordinal INTEGER NOT NULL, block_id TEXT NOT NULL, content_hash TEXT NOT NULL,
  PRIMARY KEY (conv_id, session_id, turn_id, phase, snapshot_created_at_ms, ordinal));`;
}

const HASH = "sha256-canonical-json-v1";
const block = (id: string, hash: string, kind: string, role: string, text: string, at: number) => [
  id,
  hash,
  HASH,
  kind,
  role,
  JSON.stringify({ text }),
  "{}",
  at,
];

/** 150 KB of text: one block payload longer than a D1 statement may be. */
export const LONG_TEXT = "long answer ".repeat(12_500);
/** Text that wrangler would mangle if it reached a SQL file unguarded, plus quotes. */
export const TRICKY_TEXT = "it's; BEGIN TRANSACTION; DROP TABLE turns; COMMIT; -- /* 'quoted' */ $$";

/**
 * Layout A. a-conv-1: runtimes by several spellings of the rule, one malformed metadata; a-conv-2:
 * its turn says "drafter" but the timeline's newer pointer says "reviewer".
 */
export function layoutA(dir: string): string {
  const turns: unknown[][] = [
    [
      "a-conv-1",
      "a-s1",
      "t1",
      1000,
      JSON.stringify({ "geppetto.runtime@v1": { runtime_key: "planner", version: 3 }, "geppetto.inference_id@v1": "inf-a1" }),
      "{}",
      1500,
    ],
    ["a-conv-1", "a-s1", "t2", 2000, JSON.stringify({ runtime: " coder \n\t" }), JSON.stringify({ k: 1 }), 2600],
    ["a-conv-1", "a-s1", "t3", 3000, "{not json", "{}", 3000],
    [
      "a-conv-1",
      "a-s1",
      "t4",
      3500,
      JSON.stringify({ "geppetto.runtime@v1": "  ", runtime_key: "fallback-rt", inference_id: { id: 77 } }),
      "{}",
      3600,
    ],
    ["a-conv-2", "a-s2", "t5", 4000, JSON.stringify({ "geppetto.runtime@v1": "drafter" }), "{}", 4100],
  ];
  const blocks = [
    block("u1", "h-u1", "user", "user", TRICKY_TEXT, 1000),
    block("a1", "h-a1", "llm_text", "assistant", "plan", 1500),
    block("u2", "h-u2", "user", "user", "code it", 2600),
    block("a2", "h-a2", "llm_text", "assistant", LONG_TEXT, 2600),
    block("u3", "h-u3", "user", "user", "broken", 3000),
    block("u5", "h-u5", "user", "user", "draft it", 4100),
  ];
  const m = (conv: string, s: string, t: string, phase: string, at: number, ord: number, b: string) => [
    conv,
    s,
    t,
    phase,
    at,
    ord,
    b,
    `h-${b}`,
  ];
  const membership = [
    m("a-conv-1", "a-s1", "t1", "pre_inference", 1000, 0, "u1"),
    m("a-conv-1", "a-s1", "t1", "final", 1500, 1, "a1"),
    m("a-conv-1", "a-s1", "t1", "final", 1500, 0, "u1"),
    m("a-conv-1", "a-s1", "t2", "final", 2600, 0, "u2"),
    m("a-conv-1", "a-s1", "t2", "final", 2600, 1, "a2"),
    m("a-conv-1", "a-s1", "t3", "final", 3000, 0, "u3"),
    m("a-conv-1", "a-s1", "t4", "final", 3600, 0, "u1"),
    m("a-conv-2", "a-s2", "t5", "final", 4100, 0, "u5"),
  ];
  return writeSqlite(dir, "turns-a.db", goStoreDdl(), { turns, blocks, turn_block_membership: membership });
}

/** The Go web-chat timeline store's DDL and rows for layout A's conversations. */
export function timelineA(dir: string): string {
  const ddl = `
CREATE TABLE timeline_conversations (
  conv_id TEXT PRIMARY KEY, session_id TEXT NOT NULL, runtime_key TEXT NOT NULL DEFAULT '',
  created_at_ms INTEGER NOT NULL, last_activity_ms INTEGER NOT NULL, last_seen_version INTEGER NOT NULL DEFAULT 0,
  has_timeline INTEGER NOT NULL DEFAULT 1, status TEXT NOT NULL DEFAULT 'active', last_error TEXT NOT NULL DEFAULT '');
CREATE TABLE timeline_entities (conv_id TEXT NOT NULL, entity_id TEXT NOT NULL, kind TEXT NOT NULL,
  created_at_ms INTEGER NOT NULL, updated_at_ms INTEGER NOT NULL, version INTEGER NOT NULL, entity_json TEXT NOT NULL,
  PRIMARY KEY (conv_id, entity_id));`;
  return writeSqlite(dir, "timeline.db", ddl, {
    timeline_conversations: [
      // Older than a-conv-1's newest turn with a runtime (t4 at 3600): the turns win.
      ["a-conv-1", "a-s1", "old-profile", 900, 1200, 3, 1, "active", ""],
      // Newer than t5 (4100): the pointer moves to the timeline's runtime.
      ["a-conv-2", "a-s2", "reviewer", 3900, 5000, 9, 1, "active", ""],
      // No turns anywhere: created from the timeline alone.
      ["a-conv-3", "a-s3", "solo", 100, 200, 1, 1, "active", ""],
      // No turns and no session: cannot be created, must be named.
      ["a-conv-4", "", "ghost", 10, 20, 0, 0, "active", ""],
    ],
    timeline_entities: [["a-conv-1", "e1", "message", 1, 1, 1, "{}"]],
  });
}

/**
 * Layout B (no updated_at_ms). b-conv-1: numeric and nested runtimes; an orphan snapshot whose turn
 * is missing (named, not imported); a snapshot referencing a block that is missing (imported, warned).
 */
export function layoutB(dir: string): string {
  const turns: unknown[][] = [
    ["b-conv-1", "b-s1", "t1", 10_000, '{"runtime_key": 7, "inference_id": 42.0}', "{}"],
    ["b-conv-1", "b-s1", "t2", 11_000, JSON.stringify({ runtime: { profile: { slug: "deep" } } }), "{}"],
  ];
  const blocks = [block("bu1", "h-bu1", "user", "user", "hello", 10_000), block("bt1", "h-bt1", "tool_call", "", "call", 10_500)];
  const membership = [
    ["b-conv-1", "b-s1", "t1", "final", 10_000, 0, "bu1", "h-bu1"],
    ["b-conv-1", "b-s1", "t1", "post_tools", 10_500, 0, "bu1", "h-bu1"],
    ["b-conv-1", "b-s1", "t1", "post_tools", 10_500, 1, "bt1", "h-bt1"],
    ["b-conv-1", "b-s1", "t2", "final", 11_000, 0, "bu1", "h-bu1"],
    ["b-conv-1", "b-s1", "t2", "final", 11_000, 1, "ghost", "deadbeef"],
    ["b-conv-1", "b-s1", "t-missing", "final", 12_000, 0, "bu1", "h-bu1"],
  ];
  return writeSqlite(dir, "turns-b.db", storeWithoutUpdatedAtDdl(), { turns, blocks, turn_block_membership: membership });
}

/** Layout A as the Go store writes it since GP-26 (its DDL at d39acba8, verbatim): runtime columns present. */
export function layoutMigrated(dir: string): string {
  const meta = (runtime: string, inference: string) => JSON.stringify({ runtime, inference_id: inference });
  const turns: unknown[][] = [
    // Stored values differ from the metadata on purpose: the stored ones are kept.
    ["m-conv-1", "m-s1", "t1", 20_000, meta("meta-rt", "meta-inf"), "{}", "kept-rt", "kept-inf", 20_100],
    // Nothing stored: the backfill fills from metadata.
    ["m-conv-1", "m-s1", "t2", 21_000, JSON.stringify({ runtime: "meta-rt2" }), "{}", "", "", 21_100],
  ];
  const blocks = [block("mu1", "h-mu1", "user", "user", "hi", 20_000)];
  const membership = [
    ["m-conv-1", "m-s1", "t1", "final", 20_100, 0, "mu1", "h-mu1"],
    ["m-conv-1", "m-s1", "t2", "final", 21_100, 0, "mu1", "h-mu1"],
  ];
  return writeSqlite(dir, "turns-migrated.db", goStoreDdl(GO_STORE_DDL_WITH_RUNTIME), {
    turns,
    blocks,
    turn_block_membership: membership,
  });
}

export const YAML_PRE_INFERENCE = `id: ct1
blocks:
  - kind: user
    role: user
  - kind: llm_text
    payload:
      text: hello
metadata:
  geppetto.runtime@v1:
    runtime_key: planner
  geppetto.inference_id@v1: c-inf-1
`;

export const YAML_FINAL = `id: ct1
blocks:
  - kind: user
    role: user
  - kind: llm_text
    payload:
      text: hello
  - id: tool-1
    kind: tool_call
    payload:
      name: search
      args: {q: "a<b & c>d"}
metadata:
  geppetto.inference_id@v1: c-inf-2
data:
  answer: 42
`;

/** A turn with no blocks at all (its turn_id column agrees with its id: a row that disagrees is refused, CONTRACT §6.3). */
export const YAML_EMPTY_TURN = `id: ct2
blocks: []
metadata:
  runtime: reviewer
`;

/** Layout C rows in arrival order: two snapshots of ct1, ct2 with no blocks, bad YAML, an exact repeat. */
export function layoutC(dir: string, sessionColumn: "session_id" | "run_id" = "session_id", name = "turns-c.db"): string {
  const ddl = `CREATE TABLE turns (conv_id TEXT NOT NULL, ${sessionColumn} TEXT NOT NULL, turn_id TEXT NOT NULL,
    phase TEXT NOT NULL, created_at_ms INTEGER NOT NULL, payload TEXT NOT NULL);`;
  return writeSqlite(dir, name, ddl, {
    turns: [
      ["c-conv-1", "c-s1", "ct1", "pre_inference", 100, YAML_PRE_INFERENCE],
      ["c-conv-1", "c-s1", "ct1", "final", 200, YAML_FINAL],
      ["c-conv-1", "c-s1", "ct2", "final", 300, YAML_EMPTY_TURN],
      ["c-conv-1", "c-s1", "ct3", "final", 400, "id: [oops\n"],
      ["c-conv-1", "c-s1", "ct1", "final", 200, YAML_FINAL],
    ],
  });
}

/** Contract §2 vectors: the hashes the Go implementation computes for these two blocks. */
export const USER_BLOCK_HASH = "ecc0ca7c37646b24b8a90abff555e78d53783e32519c103abe7eac1fcd2162d7";
export const HELLO_BLOCK_HASH = "ce91356a62c47ed722bcc81b324ff38eb95c55b36eb79fa8f664d00b49dc21a5";

/** geppetto's DDL (pkg/js/modules/geppetto/provider/sqlite_turn_store.go), indexes included. */
export const GEPPETTO_DDL = `
CREATE TABLE IF NOT EXISTS geppetto_turns (
	conv_id TEXT NOT NULL,
	session_id TEXT NOT NULL,
	turn_id TEXT NOT NULL,
	phase TEXT NOT NULL,
	runtime_key TEXT NOT NULL DEFAULT '',
	inference_id TEXT NOT NULL DEFAULT '',
	created_at_ms INTEGER NOT NULL,
	payload TEXT NOT NULL,
	PRIMARY KEY (conv_id, session_id, turn_id, phase)
);
CREATE INDEX IF NOT EXISTS geppetto_turns_by_session ON geppetto_turns(session_id, phase, created_at_ms DESC);
CREATE INDEX IF NOT EXISTS geppetto_turns_by_conv ON geppetto_turns(conv_id, phase, created_at_ms DESC);`;

/**
 * A turn as geppetto's serde writes it (yaml.v3: 4-space indent, map keys sorted, `run_id`, block
 * `turn_id`, omitempty fields left out): a system prompt, the user's question, a tool call and its
 * result, and the answer as an llm_text block without a role. Its metadata names a runtime and an
 * inference id of its own, which the row's columns override.
 */
export const GEPPETTO_TOOL_TURN = `id: g-turn-1
run_id: g-sess-1
blocks:
    - id: g-b-system
      turn_id: g-turn-1
      kind: system
      role: system
      payload:
          text: You are the inventory assistant.
    - id: g-b-user-1
      turn_id: g-turn-1
      kind: user
      role: user
      payload:
          text: How many A-100 are in stock?
    - id: call_7f3a
      turn_id: g-turn-1
      kind: tool_call
      payload:
          args:
              sku: A-100
          id: call_7f3a
          name: lookup_stock
    - id: use_7f3a
      turn_id: g-turn-1
      kind: tool_use
      payload:
          id: call_7f3a
          result: '{"in_stock":12,"sku":"A-100"}'
    - id: g-b-answer-1
      turn_id: g-turn-1
      kind: llm_text
      payload:
          text: There are 12 A-100 in stock.
metadata:
    geppetto.inference_id@v1: inf-in-metadata
    geppetto.runtime@v1:
        runtime_key: runtime-in-metadata
    geppetto.session_id@v1: g-sess-1
data:
    geppetto.tool_config@v1:
        enabled: true
`;

/** The next turn: the runtime is only in its metadata (the row's columns are ''), as an object. */
export const GEPPETTO_METADATA_TURN = `id: g-turn-2
run_id: g-sess-1
blocks:
    - id: g-b-user-2
      turn_id: g-turn-2
      kind: user
      role: user
      payload:
          text: Reserve two.
    - id: g-b-answer-2
      turn_id: g-turn-2
      kind: llm_text
      role: assistant
      payload:
          text: Two A-100 are reserved for you.
metadata:
    geppetto.inference_id@v1: inf-g-2
    geppetto.runtime@v1:
        runtime_key: planner
        version: 3
    geppetto.session_id@v1: g-sess-1
`;

/** A turn whose Turn.ID was empty: serde leaves `id` out, geppetto's turn_id column says "turn". */
export const GEPPETTO_NO_ID_TURN = `blocks:
    - kind: user
      role: user
      payload:
          text: hello?
metadata:
    geppetto.session_id@v1: g-sess-1
`;

/**
 * geppetto_turns rows (conv_id = session_id, phase final, as geppetto writes them): the tool turn with
 * explicit runtime_key/inference_id that differ from its metadata, the metadata-only turn, a turn
 * without an id, and a payload that is not valid YAML.
 */
export function geppettoStore(dir: string, name = "geppetto-turns.db"): string {
  return writeSqlite(dir, name, GEPPETTO_DDL, {
    geppetto_turns: [
      ["g-sess-1", "g-sess-1", "g-turn-1", "final", "inventory", "inf-g-1", 50_000, GEPPETTO_TOOL_TURN],
      ["g-sess-1", "g-sess-1", "g-turn-2", "final", "", "", 51_000, GEPPETTO_METADATA_TURN],
      ["g-sess-1", "g-sess-1", "turn", "final", "inventory", "", 52_000, GEPPETTO_NO_ID_TURN],
      [
        "g-sess-1",
        "g-sess-1",
        "g-turn-bad",
        "final",
        "inventory",
        "inf-bad",
        53_000,
        "id: g-turn-bad\nblocks:\n    - kind: user\n   payload: {text: misaligned\n",
      ],
    ],
  });
}

/**
 * A copy of a SQLite file with part of one page overwritten, as a disk or a copy gone wrong leaves
 * it: the header is intact, the table's b-tree is not.
 */
export function damagedCopy(source: string, dir: string, name: string): string {
  const bytes = Buffer.from(readFileSync(source));
  const pageSize = bytes.readUInt16BE(16);
  bytes.fill(0xa5, pageSize, pageSize + 200);
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

/** 2^53 − 1: a time no event can have that would stay "newest" forever. */
export const FAR_FUTURE_MS = Number.MAX_SAFE_INTEGER;
const DAY_MS = 86_400_000;

const hostileYaml = (id: string | null, metadata = "") =>
  `${id === null ? "" : `id: ${id}\n`}blocks:\n    - kind: user\n      role: user\n      payload:\n          text: hello from ${id ?? "nobody"}\n${metadata}`;

/**
 * geppetto_turns rows a hostile or broken producer left (CONTRACT §6.3): each refused row names what
 * is wrong; the two good rows (hg-ok, hg-trim) are imported, and the conversation's pointer is the
 * newest good row's runtime — not the one at 2^53 − 1.
 */
export function hostileGeppettoStore(dir: string, nowMs = Date.now(), name = "geppetto-hostile.db"): string {
  const row = (turnId: string, runtime: string, inference: string, at: number, payload = hostileYaml(turnId), conv = "hg-conv") => [
    conv,
    "hg-s",
    turnId,
    "final",
    runtime,
    inference,
    at,
    payload,
  ];
  return writeSqlite(dir, name, GEPPETTO_DDL, {
    geppetto_turns: [
      row("hg-ok", "inventory", "inf-ok", 60_000),
      row("hg-pin", "pinned", "", FAR_FUTURE_MS),
      row("hg-neg", "", "", -5),
      row("hg-zero", "", "", 0),
      row("hg-tomorrow", "tomorrow", "", nowMs + DAY_MS),
      row("hg-zwsp", "plan\u200bner", "", 61_000),
      row("hg-long", "", "i".repeat(300), 62_000),
      row("hg-meta", "", "", 63_000, hostileYaml("hg-meta", 'metadata:\n    geppetto.runtime@v1: "\\u202Eevil"\n')),
      row("hg-column", "", "", 64_000, hostileYaml("hg-payload")),
      row("hg-trim", "  research \t", "", 65_000),
      row("hg-ok", "", "", 66_000, hostileYaml("hg-ok"), "hg\u200bconv"),
    ],
  });
}

/** The normalized store (layout A, already migrated: runtime columns) as a hostile or broken file left it. */
export function hostileNormalizedStore(dir: string, name = "normalized-hostile.db"): string {
  const ddl = `CREATE TABLE turns (conv_id, session_id, turn_id, turn_created_at_ms, turn_metadata_json, turn_data_json, updated_at_ms,
  runtime_key, inference_id);
CREATE TABLE blocks (block_id, content_hash, hash_algorithm, kind, role, payload_json, block_metadata_json, first_seen_at_ms);
CREATE TABLE turn_block_membership (conv_id, session_id, turn_id, phase, snapshot_created_at_ms, ordinal, block_id, content_hash);`;
  const turn = (turnId: string, created: number, updated: number, runtime = "", inference = "", metadata = "{}") => [
    "hn-conv",
    "hn-s",
    turnId,
    created,
    metadata,
    "{}",
    updated,
    runtime,
    inference,
  ];
  const member = (turnId: string, phase: string, at: number) => ["hn-conv", "hn-s", turnId, phase, at, 0, "hn-b1", "h-hn-b1"];
  return writeSqlite(dir, name, ddl, {
    turns: [
      turn("t-ok", 1000, 1500, "", "", JSON.stringify({ "geppetto.runtime@v1": "planner" })),
      turn("t-pin", 2000, FAR_FUTURE_MS, "pinned"),
      turn("t-pin2", FAR_FUTURE_MS, 0, "pinned2"),
      turn("t-neg", -5, 2100),
      turn("t-rt", 3000, 3000, "plan\u202ener"),
      turn("t-inf", 3100, 3100, "", "x".repeat(300)),
      turn("t-meta", 3200, 3200, "", "", JSON.stringify({ "geppetto.runtime@v1": { runtime_key: "\u0000evil" } })),
      // The stored column wins over the metadata (as the backfill fills only empty columns): its metadata is not read.
      turn("t-column", 3300, 3300, "column-wins", "", JSON.stringify({ runtime: "\u200bbad" })),
      turn("t\u200bid", 3350, 3350),
      turn("t-trim", 3400, 3400, "  trimmed\t"),
    ],
    blocks: [["hn-b1", "h-hn-b1", "sha256-canonical-json-v1", "user", "user", JSON.stringify({ text: "hi" }), "{}", 1000]],
    turn_block_membership: [
      member("t-ok", "final", 1500),
      member("t-ok", "bad\u0001phase", 1500),
      member("t-ok", "pre_inference", FAR_FUTURE_MS),
      member("t-ok", "draft", -1),
      member("t-column", "final", 3300),
      member("t-trim", "final", 3400),
    ],
  });
}

/** A timeline.db for the hostile normalized store: a pointer at 2^53 − 1, a lookalike runtime, a padded one. */
export function hostileTimeline(dir: string, name = "timeline-hostile.db"): string {
  const ddl = `CREATE TABLE timeline_conversations (conv_id TEXT PRIMARY KEY, session_id TEXT NOT NULL, runtime_key TEXT NOT NULL DEFAULT '',
  created_at_ms INTEGER NOT NULL, last_activity_ms INTEGER NOT NULL);`;
  return writeSqlite(dir, name, ddl, {
    timeline_conversations: [
      ["hn-conv", "hn-s", " tl-old ", 100, 200],
      ["hn-pinned", "hn-s", "pinned-tl", 100, FAR_FUTURE_MS],
      ["hn-lookalike", "hn-s", "tl\u202e", 10, 20],
      ["hn-negative", "hn-s", "tl", -10, 20],
    ],
  });
}
