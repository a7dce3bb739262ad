/** One D1 database against four (issue 26 §7): two `wrangler dev` side by side, the same writes, measured alternately. */
import { randomUUID } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { placeConversation } from "../src/turn/placement";
import { ROOT, wranglerSync, type DevServer } from "../tools/wrangler-dev";
import { postedConversation, throughputSnapshot } from "./conversation";
import { copyDatabase, LOREM } from "./databases";
import { alternate, type Bench, hammer, rotatedRounds } from "./http";
import { median, sum } from "./stats";
import { TARGETS } from "./targets";
import { BENCH_ENTRY } from "./write-throughput";

const BINDINGS = ["DB", "DB_1", "DB_2", "DB_3"];
type Options = { conversations: number; snapshots: number; samples: number; rounds: number; requests: number; seconds: number };
/** wrangler.toml with absolute paths and DB_1..DB_3 bound too, in `dir`. */
function fourDatabaseConfig(dir: string): string {
  const abs = (path: string) => JSON.stringify(join(ROOT, path));
  const id = (i: number) => `00000000-0000-0000-0000-00000000000${i}`;
  const more = [1, 2, 3].map(
    (i) => `\n[[d1_databases]]\nbinding = "DB_${i}"\ndatabase_name = "turnstore-${i}"\ndatabase_id = "${id(i)}"\n`,
  );
  const toml = `${readFileSync(join(ROOT, "wrangler.toml"), "utf8")}${more.map((t) => `${t}migrations_dir = "drizzle"\n`).join("")}`
    .replace('main = "src/index.ts"', `main = ${abs("src/index.ts")}`)
    .replace('watch_dir = "src"', `watch_dir = ${abs("src")}\ncwd = ${JSON.stringify(ROOT)}`);
  writeFileSync(join(dir, "wrangler.toml"), toml.replaceAll('"drizzle"', abs("drizzle")));
  return join(dir, "wrangler.toml");
}

/** Snapshot k of conversation c: one block; 12 sessions shared by the conversations, so a session's page crosses databases. */
const body = (run: string, c: number, k: number) => {
  const turn = {
    id: `t${k}`,
    blocks: [{ id: `${run}-${c}-b${k}`, kind: "llm_text", role: "assistant", payload: { text: LOREM.slice(k) } }],
  };
  const [conv_id, session_id, created_at_ms] = [`${run}-${c}`, `${run}-s${c % 12}`, 1_760_000_000_000 + c * 100 + k];
  return JSON.stringify({ conv_id, session_id, phase: "final", created_at_ms, turn });
};

/** A request the Worker answers with its D1 round trips per binding (bench/worker.ts); throws on an unexpected status. */
async function call(server: DevServer, method: string, path: string, token: string, payload?: string) {
  const headers = { authorization: `Bearer ${token}`, "content-type": "application/json", "x-bench-count-d1": "1" };
  const res = await fetch(server.url + path, { method, headers, body: payload });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${path} answered ${res.status}: ${text.slice(0, 300)}`);
  return { json: JSON.parse(text), trips: JSON.parse(res.headers.get("x-bench-d1-calls") ?? "{}") as Record<string, number> };
}

/** Posts each conversation's bodies in order to every server, 8 conversations at a time. */
async function load(servers: DevServer[], token: string, conversations: number, bodies: (c: number) => AsyncIterable<string> | string[]) {
  const post = async (s: DevServer, c: number) => {
    for await (const b of bodies(c)) await call(s, "POST", "/api/turns", token, b);
  };
  for (let c = 0; c < conversations; c += 8)
    await Promise.all(servers.flatMap((s) => [...Array(Math.min(8, conversations - c)).keys()].map((i) => post(s, c + i))));
}

const spread = (values: number[]) => ({ median: median(values), min: Math.min(...values), max: Math.max(...values), values });
export async function measureManyDatabases(b: Bench, o: Options, move: { conversations: number; turns: number }) {
  const dir = copyDatabase(b.migrated, b.dirFor("four-databases"));
  const config = fourDatabaseConfig(dir);
  for (const binding of BINDINGS.slice(1))
    wranglerSync(["d1", "migrations", "apply", binding, "--local", "--persist-to", dir, "--config", config]);
  const servers: DevServer[] = [];
  const { ingest, debug, admin } = b.tokens;
  try {
    servers.push(await b.serve(copyDatabase(b.migrated, b.dirFor("one-database")), { entry: BENCH_ENTRY }));
    servers.push(await b.serve(dir, { entry: BENCH_ENTRY, config, vars: { CONVERSATION_DATABASES: BINDINGS.join(",") } }));
    const [one, four] = servers as [DevServer, DevServer];
    await load([one, four], ingest, o.conversations, (c) => Array.from({ length: o.snapshots }, (_, k) => body("page", c, k)));
    // A write that places a new conversation, then its next write (placed, and remembered by the isolate).
    const trips = async (s: DevServer) => {
      const [first, placed] = [[], []] as [Array<Record<string, number>>, Array<Record<string, number>>];
      for (let i = 0; i < o.samples; i++) {
        first.push((await call(s, "POST", "/api/turns", ingest, body("rt", i, 0))).trips);
        placed.push((await call(s, "POST", "/api/turns", ingest, body("rt", i, 1))).trips);
      }
      const total = (list: Array<Record<string, number>>) => median(list.map((t) => sum(Object.values(t))));
      return { first: total(first), placed: total(placed), firstByBinding: first.at(-1)!, placedByBinding: placed.at(-1)! };
    };
    const [tripsOne, tripsFour] = [await trips(one), await trips(four)];
    const perSecond = (v: number) => median(runs[v]!.map((r) => r.perSecond));
    // Cross-conversation pages, requests alternating between the servers, `rounds` times.
    const paths = ["/api/debug/conversations?limit=50", "/api/debug/turns?session_id=page-s3&limit=200&payload=none"];
    const [timed, targets] = [[] as number[][], paths.flatMap((path) => [one, four].map((server) => ({ server, path })))];
    for (let r = 0; r < o.rounds; r++) timed.push((await alternate(targets, debug, 2, o.requests)).map((t) => t.medianMs));
    const page = (k: number) => {
      const [oneMs, fourMs] = [0, 1].map((s) => timed.map((round) => round[2 * k + s]!));
      const ratio = spread(fourMs!.map((ms, i) => ms / oneMs![i]!));
      return { oneMs: median(oneMs!), fourMs: median(fourMs!), ratio, met: ratio.median <= TARGETS.manyPageRatio };
    };
    // Write throughput: the throughput stream's conversations (one write in 21 places a new one), rounds rotated.
    const sent = [0, 0];
    const headers = { authorization: `Bearer ${ingest}`, "content-type": "application/json" };
    const runs = await rotatedRounds(2, o.rounds, async (v, round) => {
      const next = () => throughputSnapshot(`many${v}`, sent[v]!++, 8);
      const r = await hammer([one, four][v]!, { path: "/api/turns", headers, next, seconds: round ? o.seconds : 2, connections: 4 });
      const created = r.statuses["201"] ?? 0;
      return { perSecond: created / r.seconds, failures: r.errors + sum(Object.values(r.statuses)) - created };
    });
    // Moves: conversations written to the four databases, each moved to the next binding, call after call until complete.
    const moved: Array<{ snapshots: number; seconds: number; calls: number }> = [];
    const moveIds = Array.from({ length: move.conversations }, (_, c) => `move-${c}`);
    await load([four], ingest, move.conversations, async function* (c) {
      for await (const s of postedConversation({ convId: moveIds[c]!, turns: move.turns })) yield s.body;
    });
    for (const convId of moveIds) {
      const to = BINDINGS[(BINDINGS.indexOf(placeConversation(convId, BINDINGS)) + 1) % BINDINGS.length]!;
      const started = performance.now();
      let [answer, calls] = [{ complete: false, snapshots: 0 }, 0];
      while (!answer.complete && calls++ < 100)
        answer = (await call(four, "POST", `/api/conversations/${convId}/move`, admin, JSON.stringify({ to }))).json;
      const seconds = (performance.now() - started) / 1000;
      const stored = (await call(four, "GET", `/api/debug/conversations/${convId}`, debug)).json.snapshot_count;
      if (!answer.complete || stored !== move.turns * 3)
        throw new Error(`${convId}: move ${JSON.stringify(answer)}, ${stored} snapshots read back`);
      moved.push({ snapshots: answer.snapshots, seconds, calls });
    }
    const skew = (ids: string[]) => {
      const counts = BINDINGS.map((binding) => ids.filter((id) => placeConversation(id, BINDINGS) === binding).length);
      return { counts, maxOverMean: Math.max(...counts) / (ids.length / BINDINGS.length) };
    };
    const sequential = skew(Array.from({ length: 10_000 }, (_, i) => `conv-${i}`));
    const uuids = skew(Array.from({ length: 10_000 }, () => randomUUID()));
    const [snapshots, seconds] = [sum(moved.map((m) => m.snapshots)), sum(moved.map((m) => m.seconds))];
    return {
      ...{ bindings: BINDINGS, ...o, moveConversations: move.conversations, moveTurns: move.turns },
      roundTrips: { one: tripsOne, four: tripsFour, met: tripsFour.first <= tripsOne.first + 1 && tripsFour.placed <= tripsOne.placed },
      pages: { conversations: page(0), sessionTurns: page(1) },
      throughput: { one: perSecond(0), four: perSecond(1), ratio: spread(runs[1]!.map((r, k) => r.perSecond / runs[0]![k]!.perSecond)) },
      failures: sum(runs.flat().map((r) => r.failures)),
      placement: { sequential, uuids, met: Math.max(sequential.maxOverMean, uuids.maxOverMean) <= TARGETS.placementSkew },
      move: { snapshots, seconds, perSecond: snapshots / seconds, callsPerMove: median(moved.map((m) => m.calls)) },
    };
  } finally {
    for (const s of servers) await b.stop(s);
  }
}

export type ManyDatabaseFigures = Awaited<ReturnType<typeof measureManyDatabases>>;
