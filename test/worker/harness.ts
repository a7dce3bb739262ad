/**
 * Test harness: requests go through the Worker's real fetch handler (src/index.ts) with the real
 * miniflare D1 binding of this test file.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import type { z } from "@hono/zod-openapi";
import type { Hono } from "hono";
import worker, { type AppType } from "../../src/index";
import { placeConversation } from "../../src/turn/placement";
import type { ErrorSchema } from "../../src/routes/schemas";

export const INGEST_TOKEN = env.INGEST_TOKEN;

/**
 * The databases that hold conversations in this project: DB alone, or DB, DB_1 and DB_2 in the
 * worker-3db project (vitest.config.ts; CONTRACT §6.4). Row checks look in all of them.
 */
export const CONVERSATION_BINDINGS = [...new Set(["DB", ...(env.CONVERSATION_DATABASES || "DB").split(",")])];
const bound = (binding: string) => (env as unknown as Record<string, D1Database>)[binding]!;

/**
 * A unique id the placement rule puts on `binding` in this project — for the tests that reach into
 * one database directly (failure injection through an env override of DB, say).
 */
export function uidOn(binding: string, prefix: string): string {
  for (;;) {
    const id = uid(prefix);
    if (CONVERSATION_BINDINGS.length === 1 || placeConversation(id, CONVERSATION_BINDINGS) === binding) return id;
  }
}

/** A statement run in every conversation database; the rows of all, concatenated (DB's first). */
export async function rowsEverywhere<T = Record<string, unknown>>(sql: string, ...params: unknown[]): Promise<T[]> {
  const found = await Promise.all(
    CONVERSATION_BINDINGS.map((b) =>
      bound(b)
        .prepare(sql)
        .bind(...params)
        .all<T>(),
    ),
  );
  return found.flatMap((r) => r.results);
}

/** A count (a statement answering `n`) summed over every conversation database. */
export async function countEverywhere(sql: string, ...params: unknown[]): Promise<number> {
  return (await rowsEverywhere<{ n: number }>(sql, ...params)).reduce((sum, r) => sum + Number(r.n), 0);
}

/**
 * Posts items as batches of at most `size`, split also by conversation: with several databases a
 * batch whose conversations live apart is refused whole (BATCH_SPANS_DATABASES), so seeding keeps
 * each conversation's items together.
 */
export async function postInBatches(items: ReadonlyArray<{ conv_id: string }>, size = 100): Promise<void> {
  const byConversation = new Map<string, Array<{ conv_id: string }>>();
  for (const item of items) byConversation.set(item.conv_id, [...(byConversation.get(item.conv_id) ?? []), item]);
  for (const list of byConversation.values()) {
    for (let i = 0; i < list.length; i += size) {
      const res = await post("/api/turns/batch", { items: list.slice(i, i + size) });
      expect(res.status, JSON.stringify(await res.clone().json())).toBe(201);
    }
  }
}
export const DEBUG_TOKEN = env.DEBUG_TOKEN;

export interface CallOptions {
  body?: unknown;
  /** Raw body text (sent as is). */
  raw?: string;
  /** Raw body bytes (sent as is; for bodies that are not valid UTF-8). */
  bytes?: Uint8Array;
  token?: string | null;
  headers?: Record<string, string>;
  env?: Partial<Env>;
}

/**
 * Response bodies typed from the app itself (AppType, src/index.ts): the success body of a call is
 * the output type its route's handler answers with 200/201, so a renamed or retyped response field
 * is a compile error in the tests. The route is found from the method and the path literal: a path
 * matches a route whose `:param` segments it fills (a query string aside); of several, the one with
 * the most segments (`/conversations/:id/export` over `/conversations/:id`). Anything else is untyped.
 */
type AppSchema = AppType extends Hono<any, infer Schema, any> ? Schema : never;
type RoutePath = keyof AppSchema & string;
/** A route path as a template a concrete path extends: `/api/debug/conversations/:conv_id` → `/api/debug/conversations/${string}`. */
type PathPattern<K extends string> = K extends `${infer Head}:${string}/${infer Rest}`
  ? `${Head}${string}/${PathPattern<Rest>}`
  : K extends `${infer Head}:${string}`
    ? `${Head}${string}`
    : K;
type WithoutQuery<P extends string> = P extends `${infer Path}?${string}` ? Path : P;
type Segments<K extends string> = K extends `${infer Head}/${infer Rest}` ? [Head, ...Segments<Rest>] : [K];
/** Routes of method M a path P can be. */
type Matching<M extends string, P extends string> = {
  [K in RoutePath]: WithoutQuery<P> extends PathPattern<K> ? (`$${Lowercase<M>}` extends keyof AppSchema[K] ? K : never) : never;
}[RoutePath];
/** Of the matching routes, those no other matching route is longer than. */
type MostSpecific<C extends string> = {
  [K in C]: true extends (
    Exclude<C, K> extends infer O extends string
      ? O extends unknown
        ? Segments<O> extends [...Segments<K>, unknown, ...unknown[]]
          ? true
          : never
        : never
      : never
  )
    ? never
    : K;
}[C];
type SuccessOutput<Endpoint> = Endpoint extends { status: 200 | 201; output: infer Output } ? Output : never;

export type ResponseBody<M extends string, P extends string> = [MostSpecific<Matching<M, P>>] extends [never]
  ? any
  : SuccessOutput<AppSchema[MostSpecific<Matching<M, P>>][`$${Lowercase<M>}` & keyof AppSchema[MostSpecific<Matching<M, P>>]]>;

/** A Response that knows its route's success body (a type-only marker). */
export type TypedResponse<T> = Response & { readonly __body?: T };

/** The error envelope every route answers failures with. */
export type ErrorBody = z.output<typeof ErrorSchema>;

export async function call<M extends string, P extends string>(
  method: M,
  path: P,
  options: CallOptions = {},
): Promise<TypedResponse<ResponseBody<M, P>>> {
  const headers = new Headers(options.headers);
  const isDebug = path.startsWith("/api/debug") || path.startsWith("/debug");
  const token = options.token === undefined ? (isDebug ? DEBUG_TOKEN : INGEST_TOKEN) : options.token;
  if (token !== null) headers.set("authorization", `Bearer ${token}`);
  let body: string | Uint8Array | undefined;
  if (options.bytes !== undefined) body = options.bytes;
  else if (options.raw !== undefined) body = options.raw;
  else if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    if (!headers.has("content-type")) headers.set("content-type", "application/json");
  }
  const request = new Request(`https://turnstore.test${path}`, { method, headers, body });
  const ctx = createExecutionContext();
  const response = await worker.fetch(request, { ...env, ...options.env } as Env, ctx);
  await waitOnExecutionContext(ctx);
  if (response.status >= 400) await expectDocumentedError(method, path, response);
  return response;
}

/** Each documented operation: its path as a pattern, and the error codes its OpenAPI responses list per status. */
let documentedOperations: Promise<Array<{ method: string; path: string; pattern: RegExp; codes: Map<number, string[]> }>> | null = null;

function operations() {
  documentedOperations ??= (async () => {
    const ctx = createExecutionContext();
    const doc = (await (await worker.fetch(new Request("https://turnstore.test/api/openapi.json"), env, ctx)).json()) as {
      paths: Record<string, Record<string, { responses: Record<string, any> }>>;
    };
    return Object.entries(doc.paths).flatMap(([path, byMethod]) =>
      Object.entries(byMethod).map(([method, operation]) => ({
        method: method.toUpperCase(),
        path,
        pattern: new RegExp(`^${path.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\{[^}]+\}/g, "[^/]+")}$`),
        codes: new Map(
          Object.entries(operation.responses).map(([status, response]) => [
            Number(status),
            (response?.content?.["application/json"]?.schema?.properties?.error?.properties?.code?.enum as string[] | undefined) ?? [],
          ]),
        ),
      })),
    );
  })();
  return documentedOperations;
}

/**
 * Every error a test provokes on a documented route must be one its OpenAPI responses list, under
 * its status: the document is generated from ERRORS and each route's codes (src/routes/schemas.ts),
 * and this keeps the two honest.
 */
async function expectDocumentedError(method: string, path: string, response: Response): Promise<void> {
  const pathname = new URL(`https://turnstore.test${path}`).pathname;
  const operation = (await operations()).find((o) => o.method === method && o.pattern.test(pathname));
  const code = (
    (await response
      .clone()
      .json()
      .catch(() => null)) as ErrorBody | null
  )?.error?.code;
  if (!operation || code === undefined) return;
  expect(
    operation.codes.get(response.status) ?? [],
    `${method} ${operation.path} answered ${response.status} ${code}, which its OpenAPI responses do not list`,
  ).toContain(code);
}

/**
 * The JSON body: typed by the route when the response came from call/get/post/put/del with a known
 * path (success body, plus the error envelope's fields for tests of failures), untyped otherwise.
 */
export async function json<T = any>(response: TypedResponse<T>): Promise<T & ErrorBody> {
  return (await response.json()) as T & ErrorBody;
}

/** A protected route with a request that would succeed given the right token. */
export interface ProtectedRoute {
  method: "GET" | "POST" | "PUT";
  path: string;
  token: string;
  body?: unknown;
}

/** The write routes (ingest token), each with a valid body for conversation `conv`. */
export function writeRoutes(conv: string): ProtectedRoute[] {
  const snapshot = turnBody({ conv_id: conv, session_id: "s", turn_id: "t", created_at_ms: 1 });
  return [
    { method: "POST", path: "/api/turns", token: INGEST_TOKEN, body: snapshot },
    { method: "POST", path: "/api/turns/batch", token: INGEST_TOKEN, body: { items: [snapshot] } },
    { method: "PUT", path: `/api/conversations/${conv}/runtime`, token: INGEST_TOKEN, body: { runtime_key: "p", session_id: "s" } },
  ];
}

/** The debug routes (debug token) for conversation `conv` (session "s", turn "t"). */
export function debugRoutes(conv: string): ProtectedRoute[] {
  return [
    "/api/debug/conversations",
    `/api/debug/conversations/${conv}`,
    `/api/debug/turns?conv_id=${conv}`,
    `/api/debug/turn/${conv}/s/t`,
    `/api/debug/conversations/${conv}/export?format=jsonl`,
  ].map((path) => ({ method: "GET", path, token: DEBUG_TOKEN }));
}

/**
 * A refused request: the status, the error code (and message pattern), the error envelope, and not
 * one row of any table changed.
 */
/** The error envelope: this status and code, a message (matching `message` when given). */
export async function expectError(res: Response, status: number, code: string, message?: RegExp): Promise<void> {
  const body = await json(res);
  expect({ status: res.status, code: body.error?.code }, body.error?.message).toEqual({ status, code });
  expect(typeof body.error.message).toBe("string");
  if (message) expect(body.error.message).toMatch(message);
}

export async function expectRejected(send: () => Promise<Response>, status: number, code: string, message?: RegExp): Promise<void> {
  const before = await databaseDigest();
  await expectError(await send(), status, code, message);
  expect(await databaseDigest()).toBe(before);
}

export const post = <P extends string>(path: P, body: unknown, options: CallOptions = {}) => call("POST", path, { ...options, body });
export const get = <P extends string>(path: P, options: CallOptions = {}) => call("GET", path, options);

/** Row counts of every table: a rejected request must leave them all unchanged. */
export const TABLES = [
  "turns",
  "turn_snapshots",
  "blocks",
  "block_nodes",
  "conversations",
  "conversation_deletions",
  "conversation_tombstones",
  "conversion_failures",
  "turn_block_membership",
];

/**
 * The tables "changes nothing" covers: the conversation tables above, and OpenTelemetry ingestion's
 * memory (POST /v1/traces: remembered trace context and held spans), which has no conv_id.
 */
export const DIGEST_TABLES = [...TABLES, "otlp_traces", "otlp_held_spans", "conversation_directory", "conversation_moves"];

/** A stable row order per table: the primary key of the WITHOUT ROWID tables, rowid for the others. */
const PRIMARY_KEY_ORDER: Record<string, string> = {
  block_nodes: "conv_id, chain",
  blocks: "block_id, content_hash",
  turn_snapshots: "conv_id, created_at_ms, id",
  conversation_tombstones: "conv_id",
  conversation_directory: "conv_id",
  conversation_moves: "conv_id",
  otlp_traces: "scope, trace_id",
  otlp_held_spans: "scope, trace_id, span_id",
};
export const ROW_ORDER = (table: string) => PRIMARY_KEY_ORDER[table] ?? "rowid";

/** Rows per table, summed over every conversation database. */
export async function tableCounts(): Promise<Record<string, number>> {
  const counts: Record<string, number> = Object.fromEntries(TABLES.map((t) => [t, 0]));
  for (const binding of CONVERSATION_BINDINGS) {
    const db = bound(binding);
    const rows = await db.batch(TABLES.map((t) => db.prepare(`SELECT count(*) AS n FROM ${t}`)));
    TABLES.forEach((t, i) => {
      counts[t]! += (rows[i]!.results[0] as { n: number }).n;
    });
  }
  return counts;
}

/** A digest of every row of every table of every database (for "changes nothing" checks stronger than counts). */
export async function databaseDigest(): Promise<string> {
  const all = [];
  for (const binding of CONVERSATION_BINDINGS) {
    const db = bound(binding);
    const rows = await db.batch(DIGEST_TABLES.map((t) => db.prepare(`SELECT * FROM ${t} ORDER BY ${ROW_ORDER(t)}`)));
    all.push(rows.map((r) => r.results));
  }
  return JSON.stringify(all);
}

/**
 * The real D1 binding, counting statements sent and round trips (a batch, or a statement run
 * alone), and recording, per round trip, the rows each statement returned.
 */
export function countingDb() {
  let statements = 0;
  let roundTrips = 0;
  const rowsReturned: number[][] = [];
  const rowsWritten: number[][] = [];
  const record = async <T>(result: Promise<T>): Promise<T> => {
    const value = await result;
    const results = (Array.isArray(value) ? value : [value]) as Array<{ results?: unknown[]; meta?: { rows_written?: number } } | null>;
    rowsReturned.push(results.map((r) => (r && Array.isArray(r.results) ? r.results.length : r === null ? 0 : 1)));
    rowsWritten.push(results.map((r) => r?.meta?.rows_written ?? 0));
    return value;
  };
  const RUNS = new Set<PropertyKey>(["first", "all", "run", "raw"]);
  const forward = (obj: object, value: unknown) => (typeof value === "function" ? value.bind(obj) : value);
  const statement = (stmt: D1PreparedStatement): D1PreparedStatement =>
    new Proxy(stmt, {
      get(s, p) {
        const v = Reflect.get(s, p, s) as (...a: unknown[]) => unknown;
        if (p === "bind") return (...a: unknown[]) => statement(v.apply(s, a) as D1PreparedStatement);
        if (RUNS.has(p))
          return (...a: unknown[]) => {
            roundTrips += 1;
            statements += 1;
            return record(v.apply(s, a) as Promise<unknown>);
          };
        return forward(s, v);
      },
    });
  const database = <T extends object>(target: T): T =>
    new Proxy(target, {
      get(obj, prop) {
        const value = Reflect.get(obj, prop, obj) as (...a: unknown[]) => unknown;
        if (prop === "withSession") return (...args: unknown[]) => database(value.apply(obj, args) as object);
        if (prop === "prepare") return (sql: string) => statement(value.call(obj, sql) as D1PreparedStatement);
        if (prop === "batch")
          return (list: unknown[]) => {
            roundTrips += 1;
            statements += list.length;
            return record(value.call(obj, list) as Promise<unknown>);
          };
        return forward(obj, value);
      },
    });
  return {
    db: database(env.DB),
    counts: () => ({ statements, roundTrips }),
    rowsReturned: () => rowsReturned.map((r) => [...r]),
    /** D1's meta.rows_written (B-tree entries, index entries included) per statement, per round trip. */
    rowsWritten: () => rowsWritten.map((r) => [...r]),
  };
}

/**
 * The rate limiter counts in fixed 10-second windows (wrangler.toml; miniflare's emulation too). A
 * test that needs its burst inside one window waits for a fresh one when less than `needMs` is left.
 */
export async function freshRateWindow(needMs = 5_000, periodMs = 10_000): Promise<void> {
  const left = periodMs - (Date.now() % periodMs);
  if (left < needMs) await new Promise((resolve) => setTimeout(resolve, left + 50));
}

let counter = 0;
/** A unique id per call, so tests sharing one D1 never collide. */
export function uid(prefix: string): string {
  counter += 1;
  return `${prefix}-${Date.now().toString(36)}-${counter}`;
}

export function turnBody(fields: {
  conv_id: string;
  session_id: string;
  turn_id?: string;
  phase?: string;
  created_at_ms?: number;
  runtime_key?: string;
  inference_id?: string;
  text?: string;
  metadata?: Record<string, unknown>;
  blocks?: unknown[];
}) {
  const { text, metadata, blocks, ...rest } = fields;
  return {
    ...rest,
    turn: {
      id: fields.turn_id,
      blocks: blocks ?? [
        { kind: "user", role: "user", payload: { text: `question for ${fields.turn_id}` } },
        { kind: "llm_text", payload: { text: text ?? `answer for ${fields.turn_id}` } },
      ],
      ...(metadata ? { metadata } : {}),
    },
  };
}
