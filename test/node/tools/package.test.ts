/**
 * The package entries other projects use (package.json "exports", built by scripts/build-package.mjs
 * as npm's `prepare`): `npm pack` makes the tarball a registry or git install would unpack; from it a
 * plain Node ESM program imports turnstore/client and turnstore/tokens, mints a conversation token
 * offline and records a conversation in a real Turnstore (`wrangler dev`), and TypeScript checks a
 * program against the shipped declarations. An install by path (`npm install ../turnstore`) works
 * offline too.
 *
 * The tarball is unpacked into node_modules/turnstore by hand rather than by `npm install <tgz>`:
 * npm would look up Turnstore's own dependencies (the Worker's: hono, zod, …) in the registry, and the
 * test must run offline. The entries need none of them at run time: each is one bundled module.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyConversationToken, parseSigningKeys } from "../../../src/tokens/conversation-token";
import { ROOT, startDev, type DevServer } from "../../../tools/wrangler-dev";

const SIGNING_KEY = "pkg-1:package-test-signing-secret-0123456789abcdef";
const INGEST_TOKEN = "package-test-ingest-token";
const DEBUG_TOKEN = "package-test-debug-token";
/** A consumer's compiler: TypeScript 5.9 (the JavaScript one many tools still embed) and TypeScript 7 (the native one). */
const COMPILERS = { "5.9": join(ROOT, "node_modules/typescript/bin/tsc"), "7": join(ROOT, "node_modules/typescript-native/bin/tsc") };
const CONSUMERS = (["nodenext", "bundler"] as const).flatMap((resolution) =>
  (["5.9", "7"] as const).map((ts) => [resolution, ts] as const),
);

const work = mkdtempSync(join(tmpdir(), "turnstore-package-"));
const app = join(work, "app");
let server: DevServer;
let packed: string[];

/** A consumer project: Node ESM, with the packed Turnstore unpacked where npm would put it. */
function consumerProject(dir: string, tarball: string): void {
  mkdirSync(join(dir, "node_modules", "turnstore"), { recursive: true });
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
  execFileSync("tar", ["-xzf", tarball, "-C", join(dir, "node_modules", "turnstore"), "--strip-components=1"]);
}

beforeAll(async () => {
  // npm pack runs `prepare` (scripts/build-package.mjs) first, as a git install does.
  const pack = spawnSync("npm", ["pack", "--pack-destination", work, "--json"], { cwd: ROOT, encoding: "utf8" });
  expect(pack.status, pack.stderr).toBe(0);
  const [info] = JSON.parse(pack.stdout.slice(pack.stdout.indexOf("["))) as Array<{ filename: string; files: Array<{ path: string }> }>;
  packed = info!.files.map((f) => f.path).sort();
  consumerProject(app, join(work, info!.filename));
  server = await startDev({
    persistTo: join(work, "d1"),
    vars: { INGEST_TOKEN, DEBUG_TOKEN, TOKEN_SIGNING_KEY: SIGNING_KEY, RATE_LIMITS: "off" },
  });
}, 180_000);

afterAll(async () => {
  await server?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe("the package", () => {
  it("ships the built entries and their declarations, not the sources", () => {
    expect(packed).toEqual(expect.arrayContaining(["package.json", "lib/client.js", "lib/tokens.js"]));
    expect(packed).toEqual(expect.arrayContaining(["lib/types/client/turnstore-client.d.ts", "lib/types/tokens/conversation-token.d.ts"]));
    expect(packed.filter((path) => path.startsWith("src/") || path.startsWith("test/"))).toEqual([]);
  });

  it("imports from plain Node ESM: mints offline and records a conversation in Turnstore", async () => {
    writeFileSync(
      join(app, "record.mjs"),
      `import { TurnstoreClient } from "turnstore/client";
import { mintConversationToken, parseSigningKeys } from "turnstore/tokens";

// An app backend mints with TOKEN_SIGNING_KEY, without calling Turnstore.
const keys = parseSigningKeys(process.env.TOKEN_SIGNING_KEY);
const { token } = await mintConversationToken(keys, { convId: "conv-pkg", sessionId: "sess-pkg", ttlSeconds: 300 });
const client = new TurnstoreClient({ baseUrl: process.env.TURNSTORE_URL, token });
const ask = { id: "u1", kind: "user", role: "user", payload: { text: "How many widgets?" } };
const answer = { id: "a1", kind: "llm_text", payload: { text: "42." } };
const first = await client.postSnapshot({ conv_id: "conv-pkg", session_id: "sess-pkg", phase: "pre_inference", created_at_ms: 1000, runtime_key: "inventory", turn: { id: "t1", blocks: [ask] } });
const second = await client.postSnapshot({ conv_id: "conv-pkg", session_id: "sess-pkg", phase: "final", created_at_ms: 2000, runtime_key: "inventory", turn: { id: "t1", blocks: [ask, answer] } });
const latest = await client.getLatestTurn("conv-pkg");
console.log(JSON.stringify({ token, sent: [first.status, first.sent, second.status, second.sent], latest }));
`,
    );
    const run = spawnSync(process.execPath, ["record.mjs"], {
      cwd: app,
      encoding: "utf8",
      env: { ...process.env, TOKEN_SIGNING_KEY: SIGNING_KEY, TURNSTORE_URL: server.url },
    });
    expect(run.stderr).toBe("");
    const out = JSON.parse(run.stdout);
    expect(out.sent).toEqual([201, "full", 201, "delta"]);
    expect(out.latest).toMatchObject({ conv_id: "conv-pkg", turn_id: "t1", phase: "final", runtime_key: "inventory" });
    // The Worker's own verification accepts the offline token.
    expect(await verifyConversationToken(parseSigningKeys(SIGNING_KEY), out.token)).toMatchObject({
      convId: "conv-pkg",
      sessionId: "sess-pkg",
    });
    const stored = await fetch(`${server.url}/api/debug/turns?conv_id=conv-pkg`, { headers: { authorization: `Bearer ${DEBUG_TOKEN}` } });
    expect((await stored.json()).items.map((i: { phase: string }) => i.phase)).toEqual(["final", "pre_inference"]);
  });

  it.each(CONSUMERS)("typechecks a TypeScript program against its declarations (moduleResolution %s, TypeScript %s)", (resolution, ts) => {
    writeFileSync(
      join(app, "check.ts"),
      `import { TurnstoreClient, TurnstoreError, type LatestTurn, type RetryNotice } from "turnstore/client";
import { mintConversationToken, parseSigningKeys, type SigningKey } from "turnstore/tokens";

const keys: SigningKey[] = parseSigningKeys("k1:0123456789abcdef0123456789abcdef");
const minted: { token: string; expiresAtMs: number } = await mintConversationToken(keys, { convId: "c", ttlSeconds: 60 });
const client = new TurnstoreClient({
  baseUrl: "https://turnstore.example.com",
  token: minted.token,
  refreshToken: async (refused) => (refused.code === "UNAUTHORIZED" ? "new-token" : null),
  onRetry: (notice: RetryNotice) => console.log(notice.waitMs),
});
const latest: LatestTurn | null = await client.getLatestTurn("c", { phase: "final" });
const runtime: string | undefined = latest?.runtime_key;
const pointer: string = (await client.switchRuntime("c", { runtime_key: "planner", session_id: "s" })).resolved_runtime_key;
const status: number = (await client.postSnapshot({ conv_id: "c", session_id: "s", turn: { id: "t", blocks: [] } })).status;
// @ts-expect-error runtime_key is required
await client.switchRuntime("c", { session_id: "s" });
export const seen = [runtime, pointer, status, TurnstoreError.name];
`,
    );
    writeFileSync(
      join(app, `tsconfig.${resolution}.json`),
      JSON.stringify({
        compilerOptions: {
          target: "ES2022",
          module: resolution === "bundler" ? "ES2022" : "NodeNext",
          moduleResolution: resolution,
          lib: ["ES2022", "DOM"],
          types: [],
          strict: true,
          noEmit: true,
          // The shipped declarations are checked; TypeScript's own lib files (DOM: seconds each run) are not.
          skipLibCheck: false,
          skipDefaultLibCheck: true,
        },
        files: ["check.ts"],
      }),
    );
    const tsc = spawnSync(process.execPath, [COMPILERS[ts], "-p", `tsconfig.${resolution}.json`], { cwd: app, encoding: "utf8" });
    expect(tsc.stdout + tsc.stderr).toBe("");
    expect(tsc.status).toBe(0);
  });

  it("installs by path with npm, offline", () => {
    const byPath = join(work, "by-path");
    mkdirSync(byPath);
    writeFileSync(join(byPath, "package.json"), JSON.stringify({ name: "by-path", private: true, type: "module" }));
    const install = spawnSync("npm", ["install", "--offline", "--no-audit", "--no-fund", ROOT], { cwd: byPath, encoding: "utf8" });
    expect(install.status, install.stderr).toBe(0);
    expect(readdirSync(join(byPath, "node_modules"))).toContain("turnstore");
    const run = spawnSync(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        'import { TurnstoreClient } from "turnstore/client"; import { mintConversationToken } from "turnstore/tokens"; console.log(typeof TurnstoreClient, typeof mintConversationToken);',
      ],
      { cwd: byPath, encoding: "utf8" },
    );
    expect(run.stderr).toBe("");
    expect(run.stdout.trim()).toBe("function function");
  });
});
