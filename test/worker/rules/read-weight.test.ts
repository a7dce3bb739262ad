/**
 * The read weight of a snapshot (src/turn/read-weight.ts) bounds what every read of it returns: its
 * YAML (the debug payload, the YAML export) and its JSON (`parsed`, the latest turn, the JSON and
 * JSON Lines exports) — for any content, however nested, escaped or multi-line (CONTRACT §6.3).
 * Property-tested over thousands of random turns against the writers the reads use; then, through
 * the Worker, over random conversations of full and delta posts (prefixes, references, extra keys):
 * what is stored weighs what the full post weighs, within the bounds, and every read stays within
 * the read budget and the block cap (issue 24).
 */
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { MAX_BLOCKS_PER_PAGE } from "../../../src/store/snapshot-queries";
import { blockContentHash } from "../../../src/turn/block-hash";
import { pathNodes } from "../../../src/turn/block-path";
import { compactJson, type ExportedSnapshot, snapshotEntries, snapshotJsonLine } from "../../../src/turn/export-formats";
import {
  MAX_BLOCKS_PER_SNAPSHOT,
  MAX_NEW_BLOCK_ROWS_PER_REQUEST,
  MAX_NEW_ROWS_PER_REQUEST,
  MAX_SNAPSHOT_WEIGHT,
  READ_BUDGET_CHARS,
} from "../../../src/turn/limits";
import { markdownTurn } from "../../../src/turn/markdown";
import { blockReadWeight, type PreparedSnapshot, readSnapshot } from "../../../src/turn/snapshot";
import { objectOf, type Turn, TurnFormatError, turnToJson, turnToYaml } from "../../../src/turn/turn";
import { writeYamlSequenceItem } from "../../../src/turn/yaml";
import { call, databaseDigest, get, json, post, uid } from "../harness";

/**
 * Text with what YAML, JSON, JSON Lines and Markdown each escape or indent: quotes, backslashes,
 * controls, line breaks (NEL, LS, PS), indentation by spaces and tabs, non-printables, astral.
 */
const text = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.stringMatching(/^[<>&"\\\n\r\t\u0000\u0085\u2028\u2029\ufeff 🚀a-z:#-]{0,60}$/u),
  fc.stringMatching(/^(?:[ \t]{0,6}[a-z*<\u0085\u2028]{0,8}\n){1,6}$/),
  // One character many times: what a read makes of each character, undiluted.
  fc
    .tuple(
      fc.constantFrom('"', "\\", "\u0001", "\u0085", "\u2028", "\u2029", "\t", " ", "<", "`", "*", "\n", "🚀", "\ud800"),
      fc.integer({ min: 1, max: 200 }),
    )
    .map(([ch, n]) => `x${ch.repeat(n)}`),
  fc.constantFrom("", " leading", "trailing ", "line\nbreak\n", "- dash", "key: value", "0777", "1_000", "true", "null", "~"),
);

const jsonValue: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    text,
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie("value"), { maxLength: 4 }),
    fc.dictionary(text, tie("value"), { maxKeys: 4 }),
    // Many short lines: YAML's indentation per line outweighs their JSON.
    fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 20, maxLength: 80 }),
    // Arrays in arrays: YAML writes "- - - x" on one line; pretty-printed JSON indents every level.
    fc.integer({ min: 2, max: 40 }).map((depth) => {
      let nested: unknown = ["x"];
      for (let d = 0; d < depth; d++) nested = [nested];
      return nested;
    }),
  ),
})).value;

const object = fc.dictionary(text, jsonValue, { maxKeys: 5 });

const block = fc.record(
  {
    id: fc
      .string({ minLength: 1, maxLength: 12 })
      .filter(
        (s) =>
          s.trim() !== "" && !/[\u0000-\u001f\u007f-\u009f\p{Cf}\p{Cs}]/u.test(s) && s.normalize("NFC") === s && s !== "." && s !== "..",
      ),
    kind: fc.constantFrom("user", "llm_text", "tool_call", "tool_use", "system", "reasoning", "other"),
    // Stored in a TEXT column: well-formed Unicode only (a lone surrogate is 422 INVALID_TURN).
    role: text.filter((t) => !/\p{Cs}/u.test(t)),
    payload: object,
    metadata: object,
    turn_id: text,
    extra: jsonValue,
  },
  { requiredKeys: ["kind"] },
);

const turn = fc.record({
  id: fc.constant("t"),
  blocks: fc.array(block, { maxLength: 6 }),
  metadata: object,
  data: object,
  run_id: text,
});

/** What reads return for a snapshot's turn, in characters: its YAML and its JSON. */
const rendered = (t: ReturnType<typeof readSnapshot>["turn"]) => turnToYaml(t).length + JSON.stringify(turnToJson(t)).length;

/** Identities as exports write them beside the turn: quotes, backslashes, CJK, astral. */
const identity = fc.record({
  conv_id: fc.constantFrom("c", 'conv "quoted" \\ back', "会話-1", "🚀".repeat(20)),
  session_id: fc.constantFrom("s", "session\\x"),
  phase: fc.constantFrom("final", 'p"1'),
  created_at_ms: fc.integer({ min: 1, max: 2 ** 52 }),
});

const exported = (s: PreparedSnapshot): ExportedSnapshot => ({
  convId: s.convId,
  sessionId: s.sessionId,
  turnId: s.turnId,
  phase: s.phase,
  createdAtMs: s.createdAtMs,
  runtimeKey: s.runtimeKey,
  inferenceId: s.inferenceId,
  turn: s.turn,
});

/**
 * What each read returns for one snapshot beyond its turn — the identity an export writes beside it
 * (not part of the snapshot's weight; at most 200 snapshots of ids of at most 256 characters a page).
 */
function identityText(s: ExportedSnapshot) {
  const entries = snapshotEntries(s).filter(([key]) => key !== "turn");
  return {
    // {"conv_id":…,"turn":{…}} and a line feed: the identity's object, `,"turn":` and the line feed.
    json: compactJson(objectOf(entries)).length + ',"turn":'.length + 1,
    yaml: writeYamlSequenceItem(entries, "  ").length + "    turn:\n".length,
    markdown: markdownTurn({ ...s, turn: { ...s.turn, blocks: [] } }).length,
  };
}

/** Each read's own rendering of one snapshot, in characters, and what the weight must cover of it. */
function readsOf(s: PreparedSnapshot) {
  const record = exported(s);
  const beside = identityText(record);
  return {
    "debug payload (YAML) and parsed (JSON)": [turnToYaml(s.turn).length + JSON.stringify(turnToJson(s.turn)).length, 0],
    "latest turn (JSON)": [JSON.stringify(turnToJson(s.turn)).length, 0],
    "JSON Lines and JSON exports": [snapshotJsonLine(record).length, beside.json],
    "YAML export": [writeYamlSequenceItem(snapshotEntries(record), "  ").length, beside.yaml],
    "Markdown export": [markdownTurn(record).length, beside.markdown],
  } as const;
}

describe("read weight", () => {
  it("bounds the YAML and JSON of any snapshot, block by block and in all (property, 3,000 turns)", () => {
    fc.assert(
      fc.property(turn, (raw) => {
        const snapshot = readSnapshot(
          { conv_id: "c", session_id: "s", turn: JSON.parse(JSON.stringify(raw)) },
          { nowMs: 1, maxClockSkewMs: 0 },
        );
        expect(snapshot.carriedWeight).toBeGreaterThanOrEqual(rendered(snapshot.turn));
        snapshot.turn.blocks.forEach((b, i) => {
          const alone = { ...snapshot.turn, blocks: [b] };
          const without = { ...snapshot.turn, blocks: [] };
          expect(blockReadWeight(snapshot.blocks[i]!)).toBeGreaterThanOrEqual(rendered(alone) - rendered(without));
        });
      }),
      { numRuns: 3_000 },
    );
  });

  it("bounds what every read returns of a snapshot: debug payload and parsed, latest turn, JSON, JSON Lines, YAML and Markdown exports (property, 2,000 turns)", () => {
    fc.assert(
      fc.property(turn, identity, (raw, id) => {
        const snapshot = readSnapshot({ ...id, turn: JSON.parse(JSON.stringify(raw)) }, { nowMs: 2 ** 53 - 1, maxClockSkewMs: 0 });
        for (const [read, [length, beside]] of Object.entries(readsOf(snapshot))) {
          expect(length - beside, read).toBeLessThanOrEqual(snapshot.carriedWeight);
        }
      }),
      { numRuns: 2_000 },
    );
  });

  // The Markdown transcript used to render tool calls as fully pretty-printed JSON (arrays nested N
  // deep: ~N² characters of indentation) and a text's indentation as `&nbsp;` entities (24 characters
  // a tab): a transcript page could be many times the read budget. Reproduced here first; now the
  // JSON is laid out two levels deep and indentation is written as U+00A0 characters.
  const markdownBeyondWeight = (blocks: unknown[]) => {
    const snapshot = readSnapshot({ conv_id: "c", session_id: "s", turn: { id: "t", blocks } }, { nowMs: 1, maxClockSkewMs: 0 });
    const record = exported(snapshot);
    return { markdown: markdownTurn(record).length - identityText(record).markdown, weight: snapshot.carriedWeight };
  };

  it("Markdown writes a tool call's arrays nested 40 deep within its weight (laid out two levels deep)", () => {
    let items: unknown = ["x"];
    for (let d = 0; d < 40; d++) items = [items];
    const { markdown, weight } = markdownBeyondWeight([{ kind: "tool_call", payload: { name: "plan", items } }]);
    expect(markdown).toBeLessThanOrEqual(weight);
  });

  it("Markdown writes a text's 1,000 leading tabs within its weight (four U+00A0 a tab, not four &nbsp;)", () => {
    const { markdown, weight } = markdownBeyondWeight([{ kind: "user", payload: { text: `${"\t".repeat(1_000)}indented` } }]);
    expect(markdown).toBeLessThanOrEqual(weight);
  });

  it("counts YAML's indentation: a small payload nested 60 deep weighs far more than its JSON", () => {
    let payload: Record<string, unknown> = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, i]));
    for (let d = 0; d < 60; d++) payload = { a: payload };
    const snapshot = readSnapshot(
      { conv_id: "c", session_id: "s", turn: { id: "t", blocks: [{ kind: "tool_call", payload }] } },
      { nowMs: 1, maxClockSkewMs: 0 },
    );
    const storedJson = snapshot.blocks[0]!.payloadJson.length;
    expect(rendered(snapshot.turn)).toBeGreaterThan(10 * storedJson);
    expect(snapshot.carriedWeight).toBeGreaterThanOrEqual(rendered(snapshot.turn));
  });
});

describe("a read stops at the block cap", () => {
  // Before any large block is stored in this file's database: a block row of a megabyte or more makes
  // every lookup whose search meets it in the blocks B-tree read it whole (see docs/RELIABILITY.md).
  it("a page holds at most 20,000 blocks: the snapshot that would pass them starts the next page (debug list, JSON Lines and Markdown exports)", {
    timeout: 30_000,
  }, async () => {
    // Two snapshots of 10,000 and 10,001 blocks: 20,001 together. The page used to take a snapshot
    // while the blocks before it were fewer than 20,000, so both came in one page of 20,001.
    const conv = uid("conv-block-cap");
    const blocks = Array.from({ length: 10_000 }, () => ({ id: "same", kind: "user", payload: { text: "again" } }));
    expect((await post("/api/turns", { conv_id: conv, session_id: "s", created_at_ms: 1, turn: { id: "t1", blocks } })).status).toBe(201);
    const tip = await env.DB.prepare("SELECT tip_chain FROM turn_snapshots WHERE conv_id = ?1").bind(conv).first<{ tip_chain: string }>();
    const next = { id: "next", kind: "llm_text", payload: { text: "one more" } };
    const delta = {
      conv_id: conv,
      session_id: "s",
      created_at_ms: 2,
      prefix: { chain: tip!.tip_chain, blocks: 10_000 },
      turn: { id: "t2", blocks: [next] },
    };
    expect((await post("/api/turns", delta)).status).toBe(201);

    const blocksIn = (yaml: string) => yaml.split("\n  - id: ").length - 1;
    const first = await json(await get(`/api/debug/turns?conv_id=${conv}`));
    expect(first.items.map((i: { turn_id: string; payload?: string }) => [i.turn_id, blocksIn(i.payload!)])).toEqual([["t2", 10_001]]);
    const rest = await json(await get(`/api/debug/turns?conv_id=${conv}&cursor=${encodeURIComponent(first.next_cursor!)}`));
    expect(rest.items.map((i: { turn_id: string; payload?: string }) => [i.turn_id, blocksIn(i.payload!)])).toEqual([["t1", 10_000]]);
    expect(rest.next_cursor).toBeNull();

    // The exports: one chunk per page, oldest first.
    for (const [format, item] of [
      ["jsonl", /^\{"conv_id":/gm],
      ["markdown", /^## Turn /gm],
    ] as const) {
      const reader = (await get(`/api/debug/conversations/${conv}/export?format=${format}`)).body!.getReader();
      const perChunk: number[] = [];
      for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
        const found = (new TextDecoder().decode(chunk.value).match(item) ?? []).length;
        if (found > 0) perChunk.push(found);
      }
      expect(perChunk, format).toEqual([1, 1]);
    }
  });
});

// ---- The budget through the Worker: references, prefixes and extra keys (issue 24) ---------------

describe("no mix of references, prefixes and extra keys stores or returns more than the budget", () => {
  // Large writes log a line each; keep the report readable.
  beforeAll(() => void vi.spyOn(console, "log").mockImplementation(() => {}));
  afterAll(() => vi.restoreAllMocks());

  type Json = Record<string, unknown>;

  /** Objects nested `depth` deep: YAML indents every level, so little JSON reads back as a lot. */
  const nested = (depth: number, leaf: string): unknown => {
    let value: unknown = leaf;
    for (let d = 0; d < depth; d++) value = { k: value };
    return value;
  };

  /**
   * What a conversation's blocks are made of (the block id names the content): two small texts with
   * what reads escape, a 20 KB tool result of one random unit, and two heavy contents — 1.3 Mi
   * characters read back from 112 KB (objects nested 50 deep), and 0.65 Mi from 375 KB of escapes
   * (control characters, quotes, backslashes, NEL, LS, tabs, astral) — so that some positions of them
   * pass the 16 Mi a snapshot may weigh, and a few snapshots pass the read budget.
   */
  const contentsOf = (small: readonly string[], unit: string): Json[] => [
    { id: "b-user", kind: "user", role: "user", payload: { text: small[0] } },
    { id: "b-answer", kind: "llm_text", payload: { text: small[1] } },
    { id: "b-medium", kind: "tool_use", payload: { id: "call-1", result: unit.repeat(Math.ceil(20_000 / unit.length)) } },
    {
      id: "b-nested",
      kind: "tool_call",
      payload: { name: "plan", items: Array.from({ length: 350 }, (_, i) => nested(50, `${small[2]}${i}`)) },
    },
    { id: "b-escapes", kind: "tool_use", payload: { result: '\u0001"\\\u0085🚀\u2028\t'.repeat(18_000) } },
  ];

  /** Extra keys on a block (stored on its path node, one per position). */
  const extraKeys = fc.oneof(
    fc.record({ note: text }),
    fc.record({ tags: fc.array(text, { maxLength: 3 }) }),
    fc.constant({ x_trace: '"\\<'.repeat(3_000) }),
  );

  /**
   * How a snapshot is sent: in full; as the client sends it (the longest stored prefix, references to
   * stored blocks); with references and no prefix; or broken — a reference to a block the
   * conversation does not have, a prefix that claims one block more than its path holds, or a prefix
   * of 40,000 blocks.
   */
  const FORMS = ["full", "delta", "references", "unknown reference", "prefix too long", "prefix of 40,000"] as const;
  type Form = (typeof FORMS)[number];

  const lightAdd = fc.record({
    content: fc.nat({ max: 2 }),
    repeat: fc.integer({ min: 1, max: 2 }),
    extra: fc.option(extraKeys, { freq: 3 }),
  });
  const heavyAdd = fc.record({
    content: fc.constantFrom(3, 4),
    repeat: fc.integer({ min: 1, max: 14 }),
    extra: fc.option(extraKeys, { freq: 3 }),
  });

  /** One post: what it keeps of the snapshot before, the blocks it adds (heavy ones in heavy conversations), how it is sent. */
  const stepOf = (heavy: boolean) =>
    fc.record({
      keep: fc.nat({ max: 40 }),
      adds: heavy
        ? fc
            .tuple(fc.array(lightAdd, { maxLength: 3 }), heavyAdd, fc.nat({ max: 3 }))
            .map(([light, add, at]) => light.toSpliced(at, 0, add))
        : fc.array(lightAdd, { maxLength: 4 }),
      form: fc.oneof(
        { weight: 2, arbitrary: fc.constant<Form>("full") },
        { weight: 4, arbitrary: fc.constant<Form>("delta") },
        { weight: 2, arbitrary: fc.constant<Form>("references") },
        { weight: 1, arbitrary: fc.constantFrom<Form>("unknown reference", "prefix too long", "prefix of 40,000") },
      ),
      // Another phase of the turn before it (its detail then lists both), or a new turn.
      nextPhaseOfTurn: fc.boolean(),
      metadata: fc.option(fc.record({ note: text, "x-trace": fc.array(text, { maxLength: 3 }) }), { freq: 3 }),
    });

  /**
   * A conversation of one to four posts. One in four is heavy — every post adds a heavy block at up
   * to 14 positions (18 Mi) — so that snapshots pass the 16 Mi bound and pages the read budget.
   */
  const conversation = fc.oneof({ weight: 3, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }).chain((heavy) =>
    fc.record({
      small: fc.tuple(text, text, text),
      unit: text.filter((t) => t.length > 0),
      steps: fc.array(stepOf(heavy), { minLength: 1, maxLength: 4 }),
    }),
  );

  const STATUS: Record<string, number> = {
    TOO_MANY_BLOCKS: 413,
    TOO_MANY_ROWS: 413,
    PAYLOAD_TOO_LARGE: 413,
    SNAPSHOT_TOO_LARGE: 413,
    ROW_TOO_LARGE: 422,
    UNKNOWN_BLOCK_REF: 422,
  };
  const MAX_BODY_BYTES = 4 * 1024 * 1024;
  const NEVER_STORED = { kind: "user", role: "user", payload: { text: "never stored" }, metadata: {} };

  /** A stored snapshot as the model knows it. */
  interface Stored {
    turnId: string;
    phase: string;
    weight: number;
    positions: number;
    yaml: string;
    json: string;
    record: ExportedSnapshot;
  }

  /** The turn as stored and read back: every object as its canonical JSON parses (keys sorted). */
  const parsed = (text: string) => (text === "" ? {} : JSON.parse(text));
  const asStored = (s: PreparedSnapshot): Turn => ({
    ...s.turn,
    metadata: parsed(s.metadataJson),
    data: parsed(s.dataJson),
    extra: parsed(s.extraJson),
    blocks: s.turn.blocks.map((b, i) => ({
      ...b,
      payload: parsed(s.blocks[i]!.payloadJson),
      metadata: parsed(s.blocks[i]!.metadataJson),
      extra: parsed(s.blocks[i]!.extraJson),
    })),
  });

  const ROW_TABLES = ["turns", "turn_snapshots", "blocks", "block_nodes", "conversations"] as const;
  type RowCounts = Record<(typeof ROW_TABLES)[number], number>;
  async function rowCounts(): Promise<RowCounts> {
    const rows = await env.DB.batch(ROW_TABLES.map((t) => env.DB.prepare(`SELECT count(*) AS n FROM ${t}`)));
    return Object.fromEntries(ROW_TABLES.map((t, i) => [t, (rows[i]!.results[0] as { n: number }).n])) as RowCounts;
  }

  const sum = (list: readonly Stored[], of: (s: Stored) => number) => list.reduce((total, s) => total + of(s), 0);

  /**
   * One page of a read: at most the budget and the block cap unless it is one snapshot (which fits
   * alone: the write bounds it), and what it returns of its snapshots within their weights.
   */
  function expectWithinBudget(read: string, page: readonly Stored[], renderedChars: number): void {
    const weight = sum(page, (s) => s.weight);
    if (page.length > 1) {
      expect(weight, `${read}: the weight of a page of ${page.length}`).toBeLessThanOrEqual(READ_BUDGET_CHARS);
      expect(
        sum(page, (s) => s.positions),
        `${read}: the blocks of a page of ${page.length}`,
      ).toBeLessThanOrEqual(MAX_BLOCKS_PER_PAGE);
    }
    expect(renderedChars, `${read}: what it returns of its snapshots`).toBeLessThanOrEqual(weight);
    expect(renderedChars, read).toBeLessThanOrEqual(READ_BUDGET_CHARS);
  }

  /** A page that ends early (a next cursor before its limit) does so only before what would pass the budget or cap. */
  function expectCutOnlyWhenNeeded(read: string, page: readonly Stored[], next: Stored | undefined): void {
    if (!next) return;
    const weight = sum(page, (s) => s.weight) + next.weight;
    const positions = sum(page, (s) => s.positions) + next.positions;
    expect(weight > READ_BUDGET_CHARS || positions > MAX_BLOCKS_PER_PAGE, `${read}: a page cut early`).toBe(true);
  }

  /** Every read of the conversation: the debug pages, each turn's detail, the latest turn, the four exports. */
  async function expectReadsWithinBudget(conv: string, stored: readonly Stored[]): Promise<void> {
    const key = (turnId: unknown, phase: unknown) => `${turnId}\u0000${phase}`;
    const byKey = new Map(stored.map((s) => [key(s.turnId, s.phase), s]));
    const keyOf = (s: Stored) => key(s.turnId, s.phase);
    const newestFirst = [...stored].reverse();

    // The debug list, newest first, page by page: each payload the snapshot's YAML.
    let listed = 0;
    let cursor: string | null = null;
    do {
      const path: string = `/api/debug/turns?conv_id=${conv}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
      const page = await json(await get(path));
      const items = (page.items as Array<{ turn_id: string; phase: string; payload?: string }>).map((item) => {
        const s = byKey.get(key(item.turn_id, item.phase))!;
        expect(s, `debug list: ${item.turn_id}/${item.phase}`).toBeDefined();
        expect(item.payload, `debug list: ${item.turn_id}/${item.phase}`).toBe(s.yaml);
        return s;
      });
      expect(items.map(keyOf)).toEqual(newestFirst.slice(listed, listed + items.length).map(keyOf));
      expectWithinBudget(
        "debug list",
        items,
        sum(items, (s) => s.yaml.length),
      );
      listed += items.length;
      cursor = page.next_cursor;
      if (cursor && items.length < 200) expectCutOnlyWhenNeeded("debug list", items, newestFirst[listed]);
    } while (cursor);
    expect(listed).toBe(stored.length);

    // Each turn's detail: its snapshots newest first, YAML and JSON.
    for (const turnId of new Set(stored.map((s) => s.turnId))) {
      const ofTurn = newestFirst.filter((s) => s.turnId === turnId);
      let detailed = 0;
      let next: string | null = null;
      do {
        const path: string = `/api/debug/turn/${conv}/s/${turnId}${next ? `?cursor=${encodeURIComponent(next)}` : ""}`;
        const page = await json(await get(path));
        const items = (page.items as Array<{ phase: string; payload: string; parsed: unknown }>).map((item) => {
          const s = byKey.get(key(turnId, item.phase))!;
          expect([item.payload, JSON.stringify(item.parsed)], `turn detail: ${turnId}/${item.phase}`).toEqual([s.yaml, s.json]);
          return s;
        });
        expect(items.map(keyOf)).toEqual(ofTurn.slice(detailed, detailed + items.length).map(keyOf));
        expectWithinBudget(
          "turn detail",
          items,
          sum(items, (s) => s.yaml.length + s.json.length),
        );
        detailed += items.length;
        next = page.next_cursor;
        if (next) expectCutOnlyWhenNeeded("turn detail", items, ofTurn[detailed]);
      } while (next);
      expect(detailed).toBe(ofTurn.length);
    }

    const latest = await json(await get(`/api/conversations/${conv}/turns/latest`));
    const newest = stored.at(-1)!;
    expect(JSON.stringify(latest.turn)).toBe(newest.json);
    expectWithinBudget("latest turn", [newest], newest.json.length);

    // Exports, one chunk per page, read as a client reads them: every snapshot oldest first, or
    // (Markdown) each turn's newest snapshot in turn order.
    const turnsNewest = [...new Set(stored.map((s) => s.turnId))].map((t) => newestFirst.find((s) => s.turnId === t)!);
    // A JSON export's records each begin a line after its first, which holds the document's own conv_id.
    const itemPattern = { json: /\n\{"conv_id":/g, jsonl: /^\{"conv_id":/gm, yaml: /^ {2}- conv_id: /gm, markdown: /^## Turn /gm };
    for (const format of ["json", "jsonl", "yaml", "markdown"] as const) {
      const expectedOrder = format === "markdown" ? turnsNewest : stored;
      const res = await get(`/api/debug/conversations/${conv}/export?format=${format}`);
      expect(res.status).toBe(200);
      const reader = res.body!.getReader();
      const decoder = new TextDecoder();
      let exported = 0;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        const chunk = decoder.decode(value, { stream: true });
        const page = expectedOrder.slice(exported, exported + (chunk.match(itemPattern[format]) ?? []).length);
        exported += page.length;
        if (page.length === 0) continue;
        // Beside each snapshot's turn its identity (and a separator; in Markdown its heading and the
        // line saying how many blocks repeat the turn above); around the page, the document's
        // beginning or end.
        const beside = page.reduce((total, s) => {
          const text = identityText(s.record);
          if (format === "markdown") return total + text.markdown + 100 + 2 * s.record.turnId.length;
          return total + (format === "yaml" ? text.yaml : text.json + 2);
        }, 300);
        expectWithinBudget(`${format} export`, page, Math.max(0, chunk.length - beside));
      }
      expect(exported, `${format} export: every snapshot once`).toBe(expectedOrder.length);
    }
  }

  it("random conversations posted in full, as deltas with prefixes and references, with extra keys: each post stored within the bounds or refused with nothing changed, and every read within the budget (property, 10 conversations)", {
    timeout: 120_000,
  }, async () => {
    await fc.assert(
      fc.asyncProperty(conversation, async ({ small, unit, steps }) => {
        const conv = uid("conv-budget");
        const contents = contentsOf(small, unit);
        const storedChains = new Map<string, number>();
        const storedBlocks = new Set<string>();
        const stored: Stored[] = [];
        const never = { id: "b-never", content_hash: await blockContentHash(NEVER_STORED) };
        let blocks: Json[] = [];
        let turnId = "t0";
        for (const [n, { keep, adds, form, nextPhaseOfTurn, metadata }] of steps.entries()) {
          if (n > 0 && !nextPhaseOfTurn) turnId = `t${n}`;
          const phase = `p${n}`;
          blocks = [
            ...blocks.slice(0, keep),
            ...adds.flatMap(({ content, repeat, extra }) => Array.from({ length: repeat }, () => ({ ...contents[content], ...extra }))),
          ];
          const turn = { id: turnId, blocks, ...(metadata ? { metadata } : {}) };
          const full = { conv_id: conv, session_id: "s", phase, created_at_ms: n + 1, turn };
          // The snapshot posted in full: its weight, rows and normalized turn (or why it cannot be stored).
          let expected: PreparedSnapshot | null = null;
          let fullProblem: string | null = null;
          try {
            expected = readSnapshot(full, { nowMs: Date.now(), maxClockSkewMs: 0 });
          } catch (error) {
            if (!(error instanceof TurnFormatError)) throw error;
            fullProblem = error.code;
          }
          // Its path as the client computes it (src/client/turnstore-client.ts): the longest stored
          // prefix, then references to blocks the conversation has (without extra keys).
          const normalized = expected?.turn.blocks ?? [];
          const pathSteps = await Promise.all(
            normalized.map(async (b, i) => ({
              blockId: b.id,
              contentHash: await blockContentHash(b),
              extraJson: expected!.blocks[i]!.extraJson,
            })),
          );
          const nodes = await pathNodes(pathSteps);
          let depth = 0;
          if (form !== "full" && form !== "references") {
            for (let i = nodes.length; i > 0 && depth === 0; i--) if (storedChains.get(nodes[i - 1]!.chain) === i) depth = i;
          }
          const tail: unknown[] = blocks.slice(depth).map((b, k) => {
            const st = pathSteps[depth + k];
            const asReference = form !== "full" && st && st.extraJson === "" && storedBlocks.has(`${st.blockId}\u0000${st.contentHash}`);
            return asReference ? { id: st.blockId, content_hash: st.contentHash } : b;
          });
          let prefix = depth > 0 ? { chain: nodes[depth - 1]!.chain, blocks: depth } : null;
          let broken = false;
          if (form === "unknown reference") {
            tail.push(never);
            broken = true;
          } else if (form === "prefix too long" && prefix) {
            prefix = { chain: prefix.chain, blocks: prefix.blocks + 1 };
            broken = true;
          } else if (form === "prefix of 40,000") {
            prefix = { chain: prefix?.chain ?? "0".repeat(32), blocks: 40_000 };
            broken = true;
          }
          const body = { ...full, turn: { ...turn, blocks: tail }, ...(prefix ? { prefix } : {}) };

          // The bounds (CONTRACT §6.3) the request passes, as it would be stored: refused with one of
          // their codes, or else stored.
          const codes = new Set<string>();
          if ((prefix?.blocks ?? 0) + tail.length > MAX_BLOCKS_PER_SNAPSHOT) codes.add("TOO_MANY_BLOCKS");
          if (new TextEncoder().encode(JSON.stringify(body)).length > MAX_BODY_BYTES) codes.add("PAYLOAD_TOO_LARGE");
          if (fullProblem) codes.add(fullProblem);
          else if (expected!.carriedWeight > MAX_SNAPSHOT_WEIGHT) codes.add("SNAPSHOT_TOO_LARGE");
          if (broken) codes.add("UNKNOWN_BLOCK_REF");

          const what = `${turnId}/${phase} (${form}, ${blocks.length} blocks, weight ${expected?.carriedWeight ?? fullProblem})`;
          const digest = codes.size > 0 ? await databaseDigest() : null;
          const rowsBefore = await rowCounts();
          const res = await post("/api/turns", body);
          const answer = await json(res);
          if (codes.size > 0) {
            expect([...codes], `${what} answered ${res.status} ${JSON.stringify(answer.error)}`).toContain(answer.error?.code);
            expect(res.status, what).toBe(STATUS[answer.error.code]);
            expect(await databaseDigest(), `${what}: nothing changed`).toBe(digest);
            continue;
          }
          expect(res.status, `${what} answered ${JSON.stringify(answer.error)}`).toBe(201);
          // Stored as the full post: its weight and blocks, within the bounds, in rows the bounds allow.
          const row = await env.DB.prepare(
            "SELECT weight, block_count FROM turn_snapshots WHERE conv_id = ?1 AND turn_id = ?2 AND phase = ?3",
          )
            .bind(conv, turnId, phase)
            .first<{ weight: number; block_count: number }>();
          expect(row, what).toEqual({ weight: expected!.carriedWeight, block_count: blocks.length });
          expect(row!.weight).toBeLessThanOrEqual(MAX_SNAPSHOT_WEIGHT);
          expect(row!.block_count).toBeLessThanOrEqual(MAX_BLOCKS_PER_SNAPSHOT);
          const rowsAfter = await rowCounts();
          const added = ROW_TABLES.reduce((total, t) => total + rowsAfter[t] - rowsBefore[t], 0);
          expect(added, what).toBeLessThanOrEqual(MAX_NEW_ROWS_PER_REQUEST);
          expect(rowsAfter.blocks - rowsBefore.blocks, what).toBeLessThanOrEqual(MAX_NEW_BLOCK_ROWS_PER_REQUEST);
          for (const node of nodes) storedChains.set(node.chain, node.depth);
          for (const st of pathSteps) storedBlocks.add(`${st.blockId}\u0000${st.contentHash}`);
          const readBack = asStored(expected!);
          stored.push({
            turnId,
            phase,
            weight: expected!.carriedWeight,
            positions: blocks.length,
            yaml: turnToYaml(readBack),
            json: JSON.stringify(turnToJson(readBack)),
            record: { ...exported(expected!), turn: readBack },
          });
        }
        if (stored.length > 0) await expectReadsWithinBudget(conv, stored);
        // Deleted, so that the next conversation's digests read little.
        expect([200, 404]).toContain((await call("DELETE", `/api/conversations/${conv}`, { token: env.ADMIN_TOKEN })).status);
      }),
      {
        numRuns: 10,
        interruptAfterTimeLimit: 100_000,
        markInterruptAsFailure: true,
        // Always one conversation past the read budget: two phases of a turn of about 9 Mi each, the
        // second a delta — so every paged read (the list, the turn's detail, each export) is cut.
        examples: [
          [
            {
              small: ["hi", "hello", "leaf"],
              unit: '"',
              steps: [
                { keep: 0, adds: [{ content: 3, repeat: 7, extra: null }], form: "full", nextPhaseOfTurn: false, metadata: null },
                { keep: 7, adds: [{ content: 0, repeat: 1, extra: null }], form: "delta", nextPhaseOfTurn: true, metadata: null },
              ],
            },
          ],
        ],
      },
    );
  });
});
