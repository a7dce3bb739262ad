/**
 * Property-based tests (fast-check) through the Worker's fetch handler and the real miniflare D1:
 * round trip of random valid snapshots, rejection of mutated requests, and runtime truth under
 * shuffled delivery. Runs are bounded (numRuns below) so the file stays a few seconds long; a
 * failure prints the seed and the shrunk counterexample to replay it.
 */
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { parse as parseYaml, stringify as toYaml } from "yaml";
import { extractInferenceId, extractRuntimeKey } from "../../../src/turn/attribution";
import { call, databaseDigest, get, json, post, uid } from "../harness";

const KINDS = ["user", "llm_text", "tool_call", "tool_use", "system", "reasoning", "other"];
const TURN_KEYS = ["id", "blocks", "metadata", "data"];
const BLOCK_KEYS = ["id", "kind", "role", "payload", "metadata"];
const FORMAT = /\p{Cf}/u;
const ATTRIBUTION_KEYS = ["geppetto.runtime@v1", "runtime", "runtime_key", "geppetto.inference_id@v1", "inference_id"];
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const RUNS = { round: 40, reject: 60, shuffle: 30 };
/** A failing property shrinks by re-sending requests; cap that (and a very slow machine) well inside the test timeout. */
const BOUND = { interruptAfterTimeLimit: 45_000, markInterruptAsFailure: true };
const TEST_TIMEOUT = 60_000;

// Hundreds of writes: their info log lines (one per write) would drown the report.
beforeAll(() => {
  vi.spyOn(console, "log").mockImplementation(() => {});
});
afterAll(() => {
  vi.restoreAllMocks();
});

/** JSON as the server sees it (drops undefined, -0 becomes 0, keeps own "__proto__" keys). */
const viaJson = <T>(value: T): T => JSON.parse(JSON.stringify(value));

// ---------------------------------------------------------------------------------------------
// Generators

/** Text that tends to break naive code: quotes, %, /, encoded forms, SQL, emoji, RTL, combining marks. */
const nasty = fc.constantFrom(
  "'",
  '"',
  "%",
  "/",
  "%2F",
  "%252F",
  "\\",
  "#",
  "?",
  "&",
  "=",
  "+",
  " ",
  "..",
  "🚀",
  "🧑🏽",
  "é",
  "ñ",
  "שלום",
  "会話",
  "' OR '1'='1",
  "--",
  ";",
  "*",
  "_",
);

/** A valid identifier (CONTRACT: any NFC text but blank / control characters / format characters / lone surrogates, ≤ max). */
const identifierArb = (max = 256) =>
  fc
    .array(fc.oneof(nasty, fc.string({ unit: "grapheme", minLength: 1, maxLength: 4 })), { minLength: 1, maxLength: 6 })
    .map((parts) => parts.join(""))
    // "." and ".." are valid ids but cannot be a URL path segment (the URL parser removes them), so
    // they are unreachable through /api/debug/turn/…: see docs/RELIABILITY.md.
    .filter(
      (s) =>
        s.length <= max && s.trim() !== "" && !CONTROL.test(s) && !FORMAT.test(s) && s.normalize("NFC") === s && s !== "." && s !== "..",
    );

/** Attribution values in every shape the extraction rule knows, and some it ignores. */
const attributionValue: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    fc.constantFrom("planner", "inventory", "  padded\t\n", "", " ", "research", "42"),
    identifierArb(40),
    fc.integer({ min: -1e6, max: 1e6 }),
    fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }),
    fc.constantFrom(null, true, false, [], ["planner"]),
    fc.dictionary(fc.constantFrom("runtime_key", "key", "slug", "profile", "profile_key", "inference_id", "id", "other"), tie("value"), {
      maxKeys: 3,
    }),
  ),
})).value;

/** Content: any JSON, strings of any code units (lone surrogates and control characters included). */
const content = fc.jsonValue({ maxDepth: 3, stringUnit: "binary" });
/** Keys include integer-like ones, which JavaScript objects reorder and Go sorts as text. */
const contentKey = fc.oneof(
  fc.string({ unit: "binary", maxLength: 8 }),
  fc.constantFrom("9", "10", "0", "01", "-1", "1.5", "__proto__", "é", "😀", "～"),
);
const contentObject = fc.dictionary(contentKey, content, { maxKeys: 4 });
/** Keys the reader does not know: kept verbatim, never hashed. */
const extraKeys = (known: string[]) =>
  fc.dictionary(
    fc.oneof(fc.constantFrom("turn_id", "run_id", "version", "x-note"), fc.string({ maxLength: 6 })).filter((k) => !known.includes(k)),
    content,
    { maxKeys: 2 },
  );

const metadataArb = fc
  .tuple(
    contentObject.map((o) => Object.fromEntries(Object.entries(o).filter(([k]) => !ATTRIBUTION_KEYS.includes(k)))),
    fc.dictionary(fc.constantFrom(...ATTRIBUTION_KEYS), attributionValue, { maxKeys: 4 }),
  )
  .map(([rest, attribution]) => ({ ...rest, ...attribution }));

/** Kinds as producers write them: canonical, other case, padded, unknown, empty, null or missing. */
const kindArb = fc.option(
  fc.oneof(
    fc.constantFrom(...KINDS),
    fc.constantFrom(...KINDS).map((k) => k.toUpperCase()),
    fc.constantFrom(...KINDS).map((k) => ` ${k}\t`),
    fc.constantFrom("", " ", "telepathy", "LLM-TEXT"),
    fc.string({ maxLength: 8 }),
    fc.constant(null),
  ),
  { nil: undefined },
);

const blockArb = fc
  .tuple(
    fc.record(
      {
        id: fc.option(identifierArb(64), { nil: undefined }),
        kind: kindArb,
        role: fc.option(fc.oneof(fc.constantFrom("user", "assistant", " system ", "tool", "", "  "), identifierArb(16)), {
          nil: undefined,
        }),
        payload: fc.option(contentObject, { nil: undefined }),
        metadata: fc.option(contentObject, { nil: undefined }),
      },
      { requiredKeys: [] },
    ),
    extraKeys(BLOCK_KEYS),
  )
  .map(([block, extra]) => ({ ...extra, ...block }));

/** Zero or more blocks, some of them repeated (same object again, or the same id with other content). */
const blocksArb = fc.tuple(fc.array(blockArb, { maxLength: 5 }), fc.array(fc.nat(), { maxLength: 3 })).map(([blocks, repeats]) => {
  const out = [...blocks];
  for (const r of repeats) if (blocks.length > 0) out.splice(r % (out.length + 1), 0, blocks[r % blocks.length]!);
  return out;
});

interface SnapshotCase {
  request: Record<string, unknown>;
  turn: Record<string, unknown>;
  asYaml: boolean;
}

const snapshotArb: fc.Arbitrary<SnapshotCase> = fc
  .record({
    conv: identifierArb(200),
    session: identifierArb(),
    turnId: identifierArb(),
    idPlacement: fc.constantFrom("field", "turn", "both"),
    phase: fc.option(fc.oneof(fc.constantFrom("draft", "pre_inference", "post_inference", "post_tools", "final"), identifierArb(64)), {
      nil: undefined,
    }),
    createdAt: fc.option(fc.integer({ min: 1, max: Date.now() }), { nil: undefined }),
    runtime: fc.option(fc.oneof(fc.constantFrom("planner", "  explicit \t", " ", ""), identifierArb(64)), { nil: undefined }),
    inference: fc.option(fc.oneof(fc.constantFrom("inf-1", "\ninf-2\r", ""), identifierArb(64)), { nil: undefined }),
    blocks: fc.option(blocksArb, { nil: undefined }),
    metadata: fc.option(metadataArb, { nil: undefined }),
    data: fc.option(contentObject, { nil: undefined }),
    extra: extraKeys(TURN_KEYS),
    asYaml: fc.boolean(),
  })
  .map((g) => {
    const turn: Record<string, unknown> = { ...g.extra };
    if (g.idPlacement !== "field") turn.id = g.turnId;
    if (g.blocks !== undefined) turn.blocks = g.blocks;
    if (g.metadata !== undefined) turn.metadata = g.metadata;
    if (g.data !== undefined) turn.data = g.data;
    const request: Record<string, unknown> = { conv_id: `${uid("rt")}:${g.conv}`, session_id: g.session };
    if (g.idPlacement !== "turn") request.turn_id = g.turnId;
    if (g.phase !== undefined) request.phase = g.phase;
    if (g.createdAt !== undefined) request.created_at_ms = g.createdAt;
    if (g.runtime !== undefined) request.runtime_key = g.runtime;
    if (g.inference !== undefined) request.inference_id = g.inference;
    return { request, turn: viaJson(turn), asYaml: g.asYaml };
  })
  // YAML cannot carry integers beyond 2^53 exactly, and the reader refuses them (CONTRACT §5.2).
  .filter((c) => !c.asYaml || !hasUnsafeInteger(c.turn));

function hasUnsafeInteger(value: unknown): boolean {
  if (typeof value === "number") return Number.isInteger(value) && !Number.isSafeInteger(value);
  if (typeof value === "object" && value !== null) return Object.values(value).some(hasUnsafeInteger);
  return false;
}

/** Every string and key double-quoted, so neither YAML 1.2 nor Go can read one as a number. */
const asYaml = (turn: unknown) => toYaml(turn, { defaultStringType: "QUOTE_DOUBLE", defaultKeyType: "QUOTE_DOUBLE" });

function body(c: SnapshotCase): Record<string, unknown> {
  return c.asYaml ? { ...c.request, payload: asYaml(c.turn) } : { ...c.request, turn: c.turn };
}

// ---------------------------------------------------------------------------------------------
// The model: what the contract says the stored turn and its attribution are.

const EDGE_WHITESPACE = /^[ \t\r\n]+|[ \t\r\n]+$/g;

/** Go's reading of a kind (geppetto BlockKind.UnmarshalYAML; a missing or null kind stays user). */
function expectedKind(kind: unknown): string {
  if (kind === undefined || kind === null) return "user";
  const name = (kind as string).trim().toLowerCase();
  return KINDS.includes(name) ? name : "other";
}

const pick = (object: Record<string, unknown>, exclude: string[]) =>
  Object.fromEntries(Object.entries(object).filter(([key]) => !exclude.includes(key)));

function expectedBlocks(c: SnapshotCase) {
  const id = (c.request.turn_id ?? c.turn.id) as string;
  const blocks = (c.turn.blocks as Array<Record<string, unknown>> | undefined) ?? [];
  return blocks.map((b, ordinal) => {
    const kind = expectedKind(b.kind);
    const role = ((b.role as string | undefined) ?? "").trim();
    return {
      id: b.id ? (b.id as string) : `${id}#${ordinal}`,
      kind,
      role: kind === "llm_text" && role === "" ? "assistant" : role,
      payload: (b.payload as Record<string, unknown> | undefined) ?? {},
      metadata: (b.metadata as Record<string, unknown> | undefined) ?? {},
      extra: pick(b, BLOCK_KEYS),
    };
  });
}

/** The turn the debug API returns: known keys normalized, unknown keys verbatim. */
function expectedTurn(c: SnapshotCase) {
  const id = (c.request.turn_id ?? c.turn.id) as string;
  return viaJson({
    ...pick(c.turn, TURN_KEYS),
    id,
    blocks: expectedBlocks(c).map(({ extra, ...block }) => ({ ...extra, ...block })),
    metadata: c.turn.metadata ?? {},
    data: c.turn.data ?? {},
  });
}

// An independent canonical JSON (CONTRACT §2, §5.2): keys compared as UTF-8 bytes, Go's escapes.
const utf8 = new TextEncoder();
function compareBytes(a: string, b: string): number {
  const [x, y] = [utf8.encode(a), utf8.encode(b)];
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return x.length - y.length;
}
const goString = (text: string) =>
  JSON.stringify(text)
    .replace(/</g, "\\u003c")
    .replace(/>/g, "\\u003e")
    .replace(/&/g, "\\u0026")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
function referenceCanonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(referenceCanonical).join(",")}]`;
  if (typeof value === "object" && value !== null) {
    const keys = Object.keys(value).sort(compareBytes);
    return `{${keys.map((k) => `${goString(k)}:${referenceCanonical((value as Record<string, unknown>)[k])}`).join(",")}}`;
  }
  return typeof value === "string" ? goString(value) : JSON.stringify(value);
}
async function referenceHash(block: { kind: string; role: string; payload: unknown; metadata: unknown }): Promise<string> {
  const material = `{"kind":${goString(block.kind)},"role":${goString(block.role)},"payload":${referenceCanonical(block.payload)},"metadata":${referenceCanonical(block.metadata)}}`;
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", utf8.encode(material)));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Lone surrogates have no UTF-8 form: byte order cannot rank them, so the reference skips them. */
const LONE = /\p{Cs}/u;
const hasLoneSurrogateKey = (value: unknown): boolean =>
  typeof value === "object" && value !== null && Object.entries(value).some(([k, v]) => LONE.test(k) || hasLoneSurrogateKey(v));

function expectedAttribution(c: SnapshotCase) {
  const explicit = (value: unknown) => (typeof value === "string" ? value.replace(EDGE_WHITESPACE, "") : "");
  const metadata = c.turn.metadata ?? {};
  return {
    runtime_key: explicit(c.request.runtime_key) || extractRuntimeKey(metadata),
    inference_id: explicit(c.request.inference_id) || extractInferenceId(metadata),
  };
}

const enc = encodeURIComponent;

describe("round trip", () => {
  it("any valid snapshot, posted as JSON or YAML, reads back as the same normalized turn and attribution", {
    timeout: TEST_TIMEOUT,
  }, async () => {
    await fc.assert(
      fc.asyncProperty(snapshotArb, async (c) => {
        const turn = expectedTurn(c);
        const attribution = expectedAttribution(c);
        const res = await post("/api/turns", body(c));
        const answer = await json(res);
        expect(res.status, JSON.stringify(answer)).toBe(201);
        const createdAt = (c.request.created_at_ms as number | undefined) ?? answer.created_at_ms;
        expect(Number.isSafeInteger(createdAt) && createdAt > 0).toBe(true);
        const identity = { conv_id: c.request.conv_id, session_id: c.request.session_id, turn_id: turn.id };
        const phase = (c.request.phase as string | undefined) ?? "final";
        expect(answer).toEqual({ ...identity, phase, created_at_ms: createdAt, ...attribution });

        // The turn endpoint: `parsed` is the normalized turn as JSON.
        const detailRes = await get(
          `/api/debug/turn/${enc(identity.conv_id as string)}/${enc(identity.session_id as string)}/${enc(turn.id)}`,
        );
        expect(detailRes.status).toBe(200);
        const detail = await json(detailRes);
        expect(detail).toMatchObject(identity);
        expect(detail.items).toHaveLength(1);
        expect(detail.items[0]).toMatchObject({ phase, created_at_ms: createdAt, ...attribution });
        expect(detail.items[0]!.parsed).toEqual(turn);
        expect(parseYaml(detail.items[0]!.payload)).toEqual(turn);

        // The list endpoint: `payload` is the same turn as YAML.
        const list = await json(await get(`/api/debug/turns?conv_id=${enc(identity.conv_id as string)}`));
        expect(list.items).toHaveLength(1);
        expect(list.items[0]).toMatchObject({ ...identity, phase, created_at_ms: createdAt, ...attribution });
        expect(parseYaml(list.items[0]!.payload!)).toEqual(turn);

        // Every block is stored under the hash an independent canonical JSON gives, with that content.
        for (const block of expectedBlocks(c)) {
          if (hasLoneSurrogateKey(block.payload) || hasLoneSurrogateKey(block.metadata)) continue;
          const hash = await referenceHash(block);
          const row = await env.DB.prepare(
            "SELECT kind, role, payload_json, block_metadata_json FROM blocks WHERE block_id = ?1 AND content_hash = ?2",
          )
            .bind(block.id, hash)
            .first();
          expect(row, `block ${block.id} under the reference hash`).toEqual({
            kind: block.kind,
            role: block.role,
            payload_json: referenceCanonical(block.payload),
            block_metadata_json: referenceCanonical(block.metadata),
          });
        }

        // Posting the same snapshot again is an identical replay.
        const again = await post("/api/turns", { ...body(c), created_at_ms: createdAt });
        expect(again.status).toBe(200);
        expect(await json(again)).toEqual(answer);
      }),
      { numRuns: RUNS.round, ...BOUND },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Rejection: mutate a valid request into an invalid one.

interface Rejection {
  name: string;
  status: number;
  code: string;
  send: () => Promise<Response>;
  /** The invalid snapshot as JSON text, when the mutation is one item (so it can ride in a batch). */
  item?: string;
}

const JSON_TYPE = { "content-type": "application/json" };
const sendRaw = (text: string, path = "/api/turns") => call("POST", path, { raw: text, headers: JSON_TYPE });

function without(object: Record<string, unknown>, key: string) {
  const { [key]: _gone, ...rest } = object;
  return rest;
}

const nestedArrays = (levels: number): unknown => {
  let value: unknown = 0;
  for (let i = 0; i < levels; i++) value = [value];
  return value;
};

const FIELDS = ["conv_id", "session_id", "turn_id", "phase", "created_at_ms", "runtime_key", "inference_id", "turn", "payload"];

/** Every mutation yields a request the contract says is invalid, with the status and code it names. */
const mutationArb = (c: SnapshotCase): fc.Arbitrary<Rejection> => {
  const valid = { ...c.request, turn_id: (c.request.turn_id ?? c.turn.id) as string, turn: c.turn };
  const text = JSON.stringify(valid);
  const item = (name: string, status: number, code: string, body: unknown): Rejection => {
    const itemText = JSON.stringify(body);
    return { name, status, code, send: () => sendRaw(itemText), item: itemText };
  };
  const bad = (name: string, body: unknown) => item(name, 400, "INVALID_REQUEST", body);
  const whole = (name: string, status: number, code: string, send: () => Promise<Response>): Rejection => ({ name, status, code, send });
  return fc.oneof(
    fc.constantFrom("conv_id", "session_id").map((k) => bad(`missing ${k}`, without(valid, k))),
    fc
      .tuple(fc.constantFrom(...FIELDS), fc.constantFrom<unknown>(42, true, null, [], {}, [1], 1.5))
      // An object is a valid turn; the rest is wrong for every field.
      .filter(
        ([k, v]) => !(k === "turn" && typeof v === "object" && v !== null && !Array.isArray(v)) && !(k === "created_at_ms" && v === 42),
      )
      .map(([k, v]) =>
        bad(`${k} of the wrong type (${JSON.stringify(v)})`, { ...(k === "payload" ? without(valid, "turn") : valid), [k]: v }),
      ),
    fc
      .tuple(
        fc.constantFrom("conv_id", "session_id", "turn_id", "phase"),
        fc.constantFrom("", " \t ", "a\u0000b", "a\nb", "a\u007fb", "a\u0085b", "a\ud800b", "\udc00", "x".repeat(257)),
      )
      .map(([k, v]) =>
        bad(`${k} = ${JSON.stringify(v)}`, { ...valid, [k]: v, ...(k === "turn_id" ? { turn: without(c.turn, "id") } : {}) }),
      ),
    fc
      .tuple(fc.constantFrom("runtime_key", "inference_id"), fc.constantFrom("a\u0001b", "a\ud800", "x".repeat(257)))
      .map(([k, v]) => bad(`${k} = ${JSON.stringify(v)}`, { ...valid, [k]: v })),
    fc.constantFrom<unknown>(0, -1, 1.5, 2 ** 53, "100", 1e300).map((v) => bad(`created_at_ms = ${v}`, { ...valid, created_at_ms: v })),
    fc
      .constantFrom(Date.now() + 3_600_000, 8e15, Number.MAX_SAFE_INTEGER)
      .map((v) => item(`created_at_ms ${v} in the future`, 422, "EVENT_TIME_IN_FUTURE", { ...valid, created_at_ms: v })),
    fc
      .tuple(fc.constantFrom("conv_id", "session_id", "phase"), fc.constantFrom("\u200b", "\ufeff", "\u202e", "\u2066", "e\u0301"))
      .map(([k, v]) =>
        bad(`${k} with ${JSON.stringify(v)}`, { ...valid, [k]: `${String(valid[k as keyof typeof valid] ?? "final")}${v}` }),
      ),
    fc
      .string({ minLength: 1, maxLength: 10 })
      .filter((k) => !FIELDS.includes(k))
      .map((k) => bad(`unknown field ${JSON.stringify(k)}`, { ...valid, [k]: 1 })),
    fc.constant(bad("turn and payload", { ...valid, payload: asYaml(c.turn) })),
    fc.constant(bad("neither turn nor payload", without(valid, "turn"))),
    fc
      .constantFrom<[string, unknown]>(
        ["blocks", { a: 1 }],
        ["blocks", "x"],
        ["metadata", "planner"],
        ["metadata", [1]],
        ["data", 3],
        ["blocks", [{ kind: 3 }]],
        ["blocks", [{ kind: ["user"] }]],
        ["blocks", [{ kind: "user", role: 7 }]],
        ["blocks", [{ kind: "user", payload: "hi" }]],
        ["blocks", [{ kind: "user", payload: [1] }]],
      )
      .map(([k, v]) => bad(`turn.${k} = ${JSON.stringify(v)}`, { ...valid, turn: { ...c.turn, [k]: v } })),
    fc.constant(
      item("turn_id disagrees with turn.id", 422, "TURN_ID_MISMATCH", { ...valid, turn: { ...c.turn, id: `${valid.turn_id}-other` } }),
    ),
    fc.constant(item("no turn id anywhere", 422, "TURN_ID_REQUIRED", { ...without(valid, "turn_id"), turn: without(c.turn, "id") })),
    fc.constant(
      item("a lone surrogate in a block id", 422, "INVALID_TURN", {
        ...valid,
        turn: { ...c.turn, blocks: [{ id: "b\ud800", kind: "user" }] },
      }),
    ),
    fc
      .integer({ min: 65, max: 5000 })
      .map((depth) =>
        item(`nesting ${depth}`, 422, "NESTING_TOO_DEEP", { ...valid, turn: { ...c.turn, data: { deep: nestedArrays(depth - 2) } } }),
      ),
    fc
      .constantFrom(
        "id: [oops\n",
        "- a\n",
        "hello",
        "id: t\nblocks: nope\n",
        "id: t\nid: u\n",
        "a: *nowhere\n",
        "%YAML 1.1\n---\nid: t\n",
        "id: t\ndata: &a {x: 1}\n",
        "id: t\ndata: !!set {a: null}\n",
        "id: t\ndata: {n: 0777}\n",
        "id: t\ndata: {n: 1_000}\n",
        "id: t\ndata: {n: .inf}\n",
      )
      .map((y) => item(`YAML ${JSON.stringify(y)}`, 422, "INVALID_PAYLOAD", { ...without(without(valid, "turn"), "turn_id"), payload: y })),
    fc.nat({ max: text.length - 1 }).map((cut) => whole(`truncated at ${cut}`, 400, "INVALID_JSON", () => sendRaw(text.slice(0, cut)))),
    fc
      .tuple(fc.nat({ max: text.length }), fc.constantFrom([0xff], [0x80], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe2, 0x82]))
      .map(([at, badBytes]) =>
        whole(`invalid UTF-8 at byte ${at}`, 400, "INVALID_JSON", () => {
          const bytes = new TextEncoder().encode(text);
          return call("POST", "/api/turns", {
            bytes: new Uint8Array([...bytes.subarray(0, at), ...badBytes, ...bytes.subarray(at)]),
            headers: JSON_TYPE,
          });
        }),
      ),
    fc
      .constantFrom("text/plain", "application/x-www-form-urlencoded", "")
      .map((type) =>
        whole(`content type ${JSON.stringify(type)}`, 415, "UNSUPPORTED_MEDIA_TYPE", () =>
          call("POST", "/api/turns", { raw: text, headers: type ? { "content-type": type } : {} }),
        ),
      ),
    // Heavy ones, kept to one arm each: a body over 4 MiB, and a row over D1's size limit.
    fc.constant(
      whole("body over 4 MiB", 413, "PAYLOAD_TOO_LARGE", () => sendRaw(JSON.stringify({ ...valid, pad: "p".repeat(4 * 1024 * 1024) }))),
    ),
    fc.constant(
      whole("row over 1.9 MB", 422, "ROW_TOO_LARGE", () =>
        sendRaw(JSON.stringify({ ...valid, turn: { ...c.turn, data: { big: "b".repeat(1_950_000) } } })),
      ),
    ),
  );
};

describe("rejection", () => {
  it("every mutated request → 4xx with the error envelope, and no table changes; inside a batch too", {
    timeout: TEST_TIMEOUT,
  }, async () => {
    const arb = snapshotArb.filter((c) => !c.asYaml).chain((c) => fc.tuple(fc.constant(c), mutationArb(c), fc.nat({ max: 3 })));
    await fc.assert(
      fc.asyncProperty(arb, async ([c, rejection, position]) => {
        const expected = { mutation: rejection.name, status: rejection.status, code: rejection.code };
        const before = await databaseDigest();
        const res = await rejection.send();
        const body = await json(res).catch(() => null);
        expect({ mutation: rejection.name, status: res.status, code: body?.error?.code }).toEqual(expected);
        expect(body).toEqual({ error: { code: rejection.code, message: expect.any(String) } });
        expect(await databaseDigest()).toBe(before);
        if (!rejection.item) return;

        // The same item among valid ones in a batch: the whole batch is refused, naming the item.
        const turnId = (c.request.turn_id ?? c.turn.id) as string;
        const others = [0, 1, 2].map((i) =>
          JSON.stringify({ ...c.request, conv_id: `${c.request.conv_id}-b${i}`, turn_id: turnId, turn: { ...c.turn, id: turnId } }),
        );
        others.splice(position, 0, rejection.item);
        const batch = await sendRaw(`{"items":[${others.join(",")}]}`, "/api/turns/batch");
        const batchBody = await json(batch);
        expect({ mutation: rejection.name, status: batch.status, code: batchBody.error?.code }).toEqual(expected);
        expect(batchBody.error.message).toContain(`items[${position}]`);
        expect(await databaseDigest()).toBe(before);
      }),
      { numRuns: RUNS.reject, ...BOUND },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Runtime truth under shuffled delivery.

type Event =
  | { type: "snapshot"; turnId: string; phase: string; at: number; runtime: string; viaMetadata: boolean }
  | { type: "switch"; at: number; runtime: string; withSession: boolean };

const RUNTIMES = ["inventory", "planner", "research", "support"];

const historyArb = fc
  .record({
    turns: fc.array(fc.array(fc.tuple(fc.constantFrom("", ...RUNTIMES), fc.boolean()), { minLength: 1, maxLength: 3 }), {
      minLength: 1,
      maxLength: 5,
    }),
    switches: fc.array(fc.tuple(fc.constantFrom(...RUNTIMES), fc.boolean()), { maxLength: 4 }),
  })
  .chain(({ turns, switches }) => {
    const count = turns.reduce((n, t) => n + t.length, 0) + switches.length;
    // Distinct event times, so "newest" is never a tie.
    return fc.uniqueArray(fc.integer({ min: 1, max: 1_000_000 }), { minLength: count, maxLength: count }).chain((times) => {
      let next = 0;
      const events: Event[] = [];
      turns.forEach((snapshots, t) =>
        snapshots.forEach(([runtime, viaMetadata], s) =>
          events.push({ type: "snapshot", turnId: `turn-${t}`, phase: `phase-${s}`, at: times[next++]!, runtime, viaMetadata }),
        ),
      );
      for (const [runtime, withSession] of switches) events.push({ type: "switch", at: times[next++]!, runtime, withSession });
      return fc.tuple(
        fc.constant(events),
        fc.shuffledSubarray(events, { minLength: events.length, maxLength: events.length }),
        fc.array(fc.integer({ min: 1, max: 4 }), { minLength: events.length, maxLength: events.length }),
      );
    });
  });

describe("runtime truth under shuffles", () => {
  it("each turn keeps its own runtime and the pointer is the runtime of the newest event, whatever the arrival order", {
    timeout: TEST_TIMEOUT,
  }, async () => {
    await fc.assert(
      fc.asyncProperty(historyArb, async ([events, arrival, batchSizes]) => {
        const conv = uid("shuffle");
        const snapshotBody = (e: Extract<Event, { type: "snapshot" }>) => ({
          conv_id: conv,
          session_id: "s",
          turn_id: e.turnId,
          phase: e.phase,
          created_at_ms: e.at,
          ...(e.runtime && !e.viaMetadata ? { runtime_key: e.runtime } : {}),
          turn: {
            blocks: [{ kind: "user", payload: { at: e.at } }],
            metadata: e.runtime && e.viaMetadata ? { "geppetto.runtime@v1": { runtime_key: e.runtime } } : {},
          },
        });

        // Deliver in the shuffled order: runs of consecutive snapshots go as batches of random size.
        let delivered = 0;
        for (let i = 0; i < arrival.length; ) {
          const e = arrival[i]!;
          if (e.type === "switch") {
            // Without session_id the switch needs the conversation to exist already.
            const withSession = e.withSession || delivered === 0;
            const res = await call("PUT", `/api/conversations/${conv}/runtime`, {
              body: { runtime_key: e.runtime, at_ms: e.at, ...(withSession ? { session_id: "s" } : {}) },
            });
            expect(res.status).toBe(200);
            i += 1;
          } else {
            const run: Array<Extract<Event, { type: "snapshot" }>> = [];
            while (i < arrival.length && arrival[i]!.type === "snapshot" && run.length < batchSizes[i]!)
              run.push(arrival[i++] as Extract<Event, { type: "snapshot" }>);
            const res =
              run.length === 1
                ? await post("/api/turns", snapshotBody(run[0]!))
                : await post("/api/turns/batch", { items: run.map(snapshotBody) });
            expect(res.status).toBe(201);
          }
          delivered += 1;
        }

        // The model.
        const snapshots = events.filter((e): e is Extract<Event, { type: "snapshot" }> => e.type === "snapshot");
        const newestWithRuntime = (list: Event[]) => list.filter((e) => e.runtime !== "").sort((a, b) => b.at - a.at)[0]?.runtime ?? "";
        const turnIds = [...new Set(snapshots.map((s) => s.turnId))];

        // Every snapshot keeps the runtime it was written with; every turn the runtime of its newest snapshot that has one.
        for (const turnId of turnIds) {
          const own = snapshots.filter((s) => s.turnId === turnId);
          const detail = await json(await get(`/api/debug/turn/${conv}/s/${turnId}`));
          expect(
            detail.items.map((i: { phase: string; runtime_key: string; created_at_ms: number }) => [
              i.phase,
              i.created_at_ms,
              i.runtime_key,
            ]),
          ).toEqual([...own].sort((a, b) => b.at - a.at).map((s) => [s.phase, s.at, s.runtime]));
          const row = await env.DB.prepare("SELECT runtime_key FROM turns WHERE conv_id = ?1 AND session_id = 's' AND turn_id = ?2")
            .bind(conv, turnId)
            .first<string>("runtime_key");
          expect(row, turnId).toBe(newestWithRuntime(own));
        }

        // The pointer: the runtime of the newest event (snapshot with a runtime, or switch).
        const conversation = await json(await get(`/api/debug/conversations/${conv}`));
        expect(conversation).toMatchObject({
          conv_id: conv,
          resolved_runtime_key: newestWithRuntime(events),
          created_at_ms: Math.min(...events.map((e) => e.at)),
          last_activity_ms: Math.max(...events.map((e) => e.at)),
          turn_count: turnIds.length,
          snapshot_count: snapshots.length,
        });
      }),
      { numRuns: RUNS.shuffle, ...BOUND },
    );
  });
});
