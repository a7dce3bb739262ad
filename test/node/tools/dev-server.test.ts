/**
 * Against the Worker as the README starts it, `npm run dev` (scripts/dev.mjs: .dev.vars, the
 * migrations, then `wrangler dev`; the real HTTP stack, one process for the file): it serves the
 * migrated schema, the OpenAPI document passes `redocly lint` with the recommended rules, and an
 * oversized body answered 413 leaves its keep-alive connection usable for the next request.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { latestMigration } from "../../../tools/migrations";
import { ROOT, startDev, type DevServer } from "../../../tools/wrangler-dev";

const PORT = 8792;
const INGEST = "dev-server-ingest";
const dir = mkdtempSync(join(tmpdir(), "turnstore-dev-server-"));
let server: DevServer;

beforeAll(async () => {
  server = await startDev({ port: PORT, persistTo: dir, npmRunDev: true, vars: { INGEST_TOKEN: INGEST, RATE_LIMITS: "off" } });
}, 120_000);
afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("npm run dev", () => {
  it("serves the Worker on the local D1 it migrated, with the flags it was given", async () => {
    expect(await (await fetch(`${server.url}/healthz`)).json()).toMatchObject({ ok: true, schema: latestMigration() });
    // --var INGEST_TOKEN reached the Worker: its token is taken, .dev.vars' is not.
    const post = (token: string) =>
      fetch(`${server.url}/api/turns`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ conv_id: "dev-conv", session_id: "s", turn: { id: "t1", blocks: [] } }),
      });
    expect((await post(INGEST)).status).toBe(201);
    expect((await post("dev-ingest-token")).status).toBe(401);
  });
});

describe("the OpenAPI document", () => {
  it("is clean under redocly lint's recommended rules, with operationIds, security, servers and headers", async () => {
    const doc = await (await fetch(`${server.url}/api/openapi.json`)).json();
    const file = join(dir, "openapi.json");
    writeFileSync(file, JSON.stringify(doc));
    const lint = spawnSync(join(ROOT, "node_modules/.bin/redocly"), ["lint", file, "--format=json"], { cwd: dir, encoding: "utf8" });
    const report = JSON.parse(lint.stdout) as {
      totals: { errors: number; warnings: number };
      problems: Array<{ ruleId: string; message: string }>;
    };
    expect(report.problems.map((p) => `${p.ruleId}: ${p.message}`)).toEqual([]);
    expect(report.totals).toMatchObject({ errors: 0, warnings: 0 });
    expect(lint.status).toBe(0);

    expect(doc.servers).toEqual([expect.objectContaining({ url: "/" })]);
    const operations = Object.entries(doc.paths as Record<string, Record<string, Record<string, any>>>).flatMap(([path, item]) =>
      Object.entries(item).map(([method, op]) => ({ path, method, op })),
    );
    const ids = operations.map((o) => o.op.operationId);
    expect(new Set(ids).size).toBe(operations.length);
    for (const { path, method, op } of operations) {
      expect(op.operationId, `${method} ${path}`).toMatch(/^[a-z][A-Za-z]+$/);
      expect(Array.isArray(op.security), `${method} ${path} security`).toBe(true);
      expect(op.responses["405"], `${method} ${path} 405`).toBeDefined();
      for (const [status, response] of Object.entries(op.responses as Record<string, { headers?: Record<string, unknown> }>)) {
        expect(response.headers?.["X-Request-Id"], `${method} ${path} ${status}`).toEqual({ $ref: "#/components/headers/X-Request-Id" });
        if (status === "429" || status === "503") expect(response.headers?.["Retry-After"]).toBeDefined();
      }
    }
    expect(doc.paths["/healthz"].get.security).toEqual([]);
    expect(doc.paths["/api/turns"].post.responses["201"].headers["X-D1-Bookmark"]).toBeDefined();
    expect(doc.components.schemas.SnapshotRequest.oneOf).toEqual([{ required: ["turn"] }, { required: ["payload"] }]);
    const limit = doc.paths["/api/debug/turns"].get.parameters.find((p: { name: string }) => p.name === "limit");
    expect(limit.schema).toMatchObject({ type: "integer", minimum: 1, maximum: 1000 });
  });
});

describe("an oversized body on a keep-alive connection", () => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  afterAll(() => agent.destroy());

  function send(body: Buffer, chunked: boolean): Promise<{ status: number; ms: number; port: number | undefined; text: string }> {
    return new Promise((resolve, reject) => {
      const started = Date.now();
      const req = http.request(
        {
          host: "127.0.0.1",
          port: PORT,
          path: "/api/turns",
          method: "POST",
          agent,
          headers: {
            authorization: `Bearer ${INGEST}`,
            "content-type": "application/json",
            ...(chunked ? { "transfer-encoding": "chunked" } : { "content-length": body.length }),
          },
        },
        (res) => {
          let text = "";
          res.on("data", (d) => (text += d));
          res.on("end", () => resolve({ status: res.statusCode!, ms: Date.now() - started, port: req.socket?.localPort, text }));
        },
      );
      req.on("error", reject);
      for (let i = 0; i < body.length; i += 64 * 1024) req.write(body.subarray(i, i + 64 * 1024));
      req.end();
    });
  }

  const small = (at: number) =>
    Buffer.from(JSON.stringify({ conv_id: "keep-alive", session_id: "s", created_at_ms: at, turn: { id: `t${at}` } }));
  const big = Buffer.from(
    JSON.stringify({ conv_id: "keep-alive", session_id: "s", turn: { id: "big" }, pad: "x".repeat(6 * 1024 * 1024) }),
  );

  it.each([
    ["chunked (Transfer-Encoding)", true],
    ["with Content-Length", false],
  ])(
    "%s: 413, and the next request on the same connection is answered at once",
    async (_name, chunked) => {
      const first = await send(big, chunked);
      expect(first.status).toBe(413);
      expect(JSON.parse(first.text).error.code).toBe("PAYLOAD_TOO_LARGE");
      const at = chunked ? 1 : 2;
      const next = await send(small(at), false);
      expect(next.port).toBe(first.port);
      expect(next.status, next.text).toBe(201);
      expect(next.ms).toBeLessThan(5_000);
    },
    60_000,
  );
});
