/**
 * Docs that run (issue 30): every example of README.md and docs/*.md runs, in document order, against
 * one fresh `wrangler dev` on a clean local D1, and prints exactly the output its doc shows (request
 * ids, tokens, bookmarks, cursors and times masked; tools/doc-examples.ts). A renamed response field,
 * a changed status or message, a stale sample: the example that shows it fails here. Every runnable
 * block is an example or says why it is skipped. `npm run docs:examples -- --write` regenerates the
 * outputs after an intended change.
 */
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import {
  examplesClock,
  maskOutput,
  planDoc,
  report,
  SHOWN_BASE,
  type Walk,
  WALK,
  walkDocs,
  withOutputs,
} from "../../../tools/doc-examples";
import { ROOT } from "../../../tools/wrangler-dev";

/** BENCHMARKS.md is rendered by the bench from bench/report.template.md; its commands are the bench's. */
const GENERATED = ["docs/BENCHMARKS.md"];
const DOCS = ["README.md", ...readdirSync(join(ROOT, "docs")).flatMap((f) => (f.endsWith(".md") ? [`docs/${f}`] : []))].filter(
  (doc) => !GENERATED.includes(doc),
);

describe("the docs' code blocks", () => {
  it("each runnable block of README.md and docs/*.md is an example or skipped with a reason; every doc with examples is walked", () => {
    const plans = DOCS.map((doc) => planDoc(doc));
    const problems = plans.flatMap((p) => p.problems);
    for (const plan of plans)
      if (plan.examples.length > 0 && !WALK.includes(plan.doc)) problems.push(`${plan.doc} has examples but is not in WALK`);
    expect(problems).toEqual([]);
    const counted = Object.fromEntries(plans.map((p) => [p.doc, { ran: p.examples.length, skipped: p.skipped.length }]));
    expect(counted["docs/API.md"]!.ran).toBeGreaterThan(20);
    for (const { block, reason } of plans.flatMap((p) => p.skipped)) expect(reason.length, block.content).toBeGreaterThan(10);
  });

  it("finds what is wrong with markers", () => {
    const doc = [
      "```sh\necho unmarked\n```",
      "<!-- example: skip -->\n```sh\necho no reason\n```",
      "<!-- example: vars -->\n```sh\nBASE=http://127.0.0.1:8787\n```",
      "<!-- example: a -->\n```sh\ncurl -H 'Authorization: Bearer dev-ingest-token' x\n```",
      "<!-- output: b -->\n```text\nnothing\n```",
      '<!-- example: c offline -->\n```sh\ncurl "$BASE/healthz"\n```',
      "<!-- example: d -->\n```js\nconsole.log(1)\n```",
    ].join("\n\n");
    const problems = planDoc("x.md", doc).problems.join("\n");
    expect(problems).toContain("x.md:1: a ```sh block without");
    expect(problems).toContain("needs a reason");
    expect(problems).toContain("output of b, which is not an example above it");
    expect(problems).toContain("marked offline but uses the walk's server");
    expect(problems).toContain("needs file=PATH");
    expect(problems).toContain("vars sets INGEST=(nothing)");
    expect(problems).toContain("example a spells out dev-ingest-token; use the variable");
  });
});

describe("masking and writing outputs", () => {
  const t = examplesClock(Date.UTC(2026, 11, 6, 12, 0, 0));
  const ctx = { baseUrl: "http://127.0.0.1:40123", dir: "/tmp/turnstore-docs-x", t };

  it("stands in for what varies, and for nothing else", () => {
    const out = maskOutput(
      [
        `{"created_at_ms":${t + 1000},"at":"${new Date(t + 60_000).toISOString()}","old":${t - 40 * 86_400_000},"expires_at_ms":${Date.now() + 3_600_000}}`,
        '{"token":"tsk1.dev-1.eyJjIjoiYyJ9.c2ln","next_cursor":"eyJpZCI6MX0.sig","request":"1b4e28ba-2fa1-41d2-883f-0016d3cca427"}',
        "X-D1-Bookmark: 00000002-00000004-00005013-abc",
        "local D1 (--persist-to /tmp/turnstore-docs-x/.rehearsal) at http://127.0.0.1:40123/healthz",
        '{"count":1234567890123456,"id":1000000000000,"hash":"2af4264fbe9dca8ded109273f9d8a6b59fc4893ebeca828fb08b875620c1e927"}',
      ].join("\n"),
      ctx,
    );
    expect(out.split("\n")).toEqual([
      `{"created_at_ms":<T+1000>,"at":"<T+60000>","old":<T-3456000000>,"expires_at_ms":<time>}`,
      '{"token":"tsk1.dev-1.<token>","next_cursor":"<cursor>","request":"<request-id>"}',
      "X-D1-Bookmark: <bookmark>",
      `local D1 (--persist-to .rehearsal) at ${SHOWN_BASE}/healthz`,
      '{"count":1234567890123456,"id":1000000000000,"hash":"2af4264fbe9dca8ded109273f9d8a6b59fc4893ebeca828fb08b875620c1e927"}',
    ]);
  });

  it("--write replaces an output block, adds a missing one, and fences output holding backticks", () => {
    const text = [
      "<!-- example: vars -->",
      "```sh",
      "BASE=x",
      "```",
      "",
      "  <!-- example: a -->",
      "  ```sh",
      "  echo a",
      "  ```",
      "  <!-- output: a -->",
      "  ```text",
      "  old",
      "  ```",
      "<!-- example: b -->",
      "```sh",
      "echo b",
      "```",
      "",
    ].join("\n");
    const plan = planDoc("x.md", text);
    const result = (name: string, actual: string) => ({ doc: "x.md", name, line: 1, expected: null, actual, failure: null, ms: 0 });
    const written = withOutputs(text, plan, [result("vars", ""), result("a", "new\n\nlines"), result("b", "```json\n{}\n```")]);
    expect(written.split("\n").slice(9)).toEqual([
      "  <!-- output: a -->",
      "  ```text",
      "  new",
      "",
      "  lines",
      "  ```",
      "<!-- example: b -->",
      "```sh",
      "echo b",
      "```",
      "<!-- output: b -->",
      "````text",
      "```json",
      "{}",
      "```",
      "````",
      "",
    ]);
    expect(planDoc("x.md", written).examples.map((e) => e.output?.content ?? null)).toEqual([null, "new\n\nlines\n", "```json\n{}\n```\n"]);
  });
});

describe("the walk: README.md and docs/*.md against wrangler dev", () => {
  let walk: Walk;
  const examples = WALK.flatMap((doc) => planDoc(doc).examples.map((e) => [doc, e.name] as const));

  beforeAll(async () => {
    for (const tool of ["bash", "curl", "jq"]) {
      if (spawnSync(tool, ["--version"]).error)
        throw new Error(`${tool} is needed to run the docs' examples (README, Prerequisites; scripts/ensure-chromium.sh installs jq)`);
    }
    walk = await walkDocs();
  }, 300_000);

  it.each(examples)("%s: %s prints what the doc shows", (doc, name) => {
    const result = walk.results.find((r) => r.doc === doc && r.name === name);
    expect(result, "it did not run").toBeDefined();
    expect(result!.failure, `${doc}:${result!.line} ${name}`).toBeNull();
    expect(result!.actual, `${doc}:${result!.line} ${name} (npm run docs:examples -- --write, after an intended change)`).toBe(
      result!.expected ?? "",
    );
  });

  it("reports nothing", () => {
    expect(report(walk)).toEqual([]);
  });
});
