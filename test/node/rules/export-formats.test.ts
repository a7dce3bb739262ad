/**
 * The export's pure renderers (src/turn/export-formats.ts, src/turn/markdown.ts): JSON, JSON Lines
 * and YAML written piece by piece read back as the same snapshots, and the Markdown transcript read
 * by a real CommonMark reader (markdown-it, raw HTML enabled) shows stored text as exactly its
 * characters — nothing in a message becomes markup or breaks out of a code block.
 */
import fc from "fast-check";
import MarkdownIt from "markdown-it";
import { parse as parseYaml } from "yaml";
import { describe, expect, it } from "vitest";
import {
  compactJson,
  EXPORT_FORMATS,
  exportFilename,
  exportWriter,
  snapshotJsonLine,
  type ExportedSnapshot,
  type ExportFormat,
} from "../../../src/turn/export-formats";
import {
  codeBlock,
  codeSpan,
  isoTime,
  markdownBlock,
  markdownText,
  markdownTitle,
  markdownTurn,
  prettyJson,
} from "../../../src/turn/markdown";
import type { Block, Turn } from "../../../src/turn/turn";
import { readYaml, writeYaml, writeYamlSequenceItem } from "../../../src/turn/yaml";

const reader = new MarkdownIt({ html: true });

const block = (fields: Partial<Block> & Pick<Block, "kind">): Block => ({
  id: "b",
  role: "",
  payload: {},
  metadata: {},
  extra: {},
  ...fields,
});
const turn = (id: string, blocks: Block[], extra: Record<string, unknown> = {}): Turn => ({ id, blocks, metadata: {}, data: {}, extra });

const HOSTILE =
  "# Heading?\n1. not a list\n- nor this\n> no quote\n    <script>alert(1)</script>\n```\n~~~\n| a | b |\n|---|---|\n**bold** _it_ [link](http://x) ![img](y) &amp; &#65; $x$ \\ ~~del~~\n===\n---\n</details>";

const snapshot = (fields: Partial<ExportedSnapshot> = {}): ExportedSnapshot => ({
  convId: "conv-1",
  sessionId: "sess-1",
  turnId: "t1",
  phase: "final",
  createdAtMs: Date.UTC(2026, 3, 20, 9, 7, 0),
  runtimeKey: "planner",
  inferenceId: "inf-1",
  turn: turn(
    "t1",
    [
      block({ id: "u", kind: "user", role: "user", payload: { text: "Hello 👋 — ünïcödé" } }),
      block({ id: "c", kind: "tool_call", payload: { id: "call-1", name: "get_weather", args: { city: "Zürich ``` `" } } }),
      block({ id: "r", kind: "tool_use", payload: { id: "call-1", result: { temp: 21 } } }),
      block({ id: "z", kind: "reasoning", payload: { text: "think </details> <b>x</b>" } }),
      block({ id: "a", kind: "llm_text", role: "assistant", payload: { text: "Sunny." }, extra: { turn_id: "t1" } }),
    ],
    { run_id: "run-9" },
  ),
  ...fields,
});

/** The text a reader shows, tags removed and entities decoded. */
function shownText(html: string): string {
  return html
    .replace(/<[^>]+>/g, "")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, "&");
}

const tagsOf = (html: string) => [...new Set(html.match(/<\/?[a-z0-9]+/gi) ?? [])].sort();

describe("markdownText: stored text shows as exactly its characters", () => {
  const markdownChars = fc.constantFrom(
    ..."#>-+=*_`~|[]()!<>&;$\\.:)1234567890 \t\nabcXYZ\u00e9\u{1F600}".split(""),
    "\r\n",
    "&amp;",
    "&#65;",
    "<div>",
    "</details>",
    "```",
    "    ",
  );

  it("no markup, no lost or added characters (whitespace aside, as in any HTML rendering)", () => {
    fc.assert(
      fc.property(
        fc.array(markdownChars, { maxLength: 60 }).map((parts) => parts.join("")),
        (text) => {
          const html = reader.render(markdownText(text));
          // Only paragraphs and line breaks: no heading, list, quote, code, table, link, emphasis, raw HTML.
          for (const tag of tagsOf(html)) expect(["<p", "</p", "<br"]).toContain(tag);
          expect(shownText(html).replace(/\s+/g, "")).toBe(text.replace(/\s+/g, ""));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("keeps line breaks, paragraphs and indentation", () => {
    expect(reader.render(markdownText("one\ntwo\n\nthree\n  four"))).toBe("<p>one<br>\ntwo</p>\n<p>three<br>\n\u00a0\u00a0four</p>\n");
    expect(markdownText("42.")).toBe("42\\.");
    expect(markdownText("a.b 3) c")).toBe("a.b 3) c");
    expect(markdownText("plain words, nothing to escape!")).toBe("plain words, nothing to escape!");
  });

  it("the hostile sample", () => {
    const html = reader.render(markdownText(HOSTILE));
    expect(tagsOf(html)).toEqual(["</p", "<br", "<p"]);
    expect(html).not.toContain("<script");
    expect(shownText(html)).toContain("<script>alert(1)</script>");
  });
});

describe("code blocks and code spans cannot be broken out of", () => {
  const codeChars = fc.constantFrom(...'`~ \nab{}"<>&'.split(""), "```", "````", "\n```\n", "~~~");

  it("codeBlock: one code block holding the content verbatim", () => {
    fc.assert(
      fc.property(
        fc.array(codeChars, { maxLength: 40 }).map((p) => p.join("")),
        (content) => {
          const html = reader.render(codeBlock(content, "json"));
          const body = content.endsWith("\n") ? content : `${content}\n`;
          const escaped = body.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
          expect(html).toBe(`<pre><code class="language-json">${escaped}</code></pre>\n`);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it("codeSpan: inline code showing exactly the text (a line break shows as a space)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(..."` ab<&".split(""), "``", "\n"), { minLength: 1, maxLength: 20 }).map((p) => p.join("")),
        (text) => {
          const flat = text.replace(/\n/g, " ");
          const escaped = flat.replace(/&/g, "&amp;").replace(/</g, "&lt;");
          expect(reader.renderInline(codeSpan(text))).toBe(`<code>${escaped}</code>`);
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe("markdownTurn", () => {
  it("a heading with turn id, runtime and time, then every block labelled", () => {
    const md = markdownTurn(snapshot());
    expect(md.split("\n")[0]).toBe("## Turn `t1` · runtime `planner` · 2026-04-20T09:07:00.000Z");
    const html = reader.render(md);
    expect(html.match(/<h2>/g)).toHaveLength(1);
    expect(html).toContain("<strong>User</strong>");
    expect(html).toContain("<strong>Tool call</strong> <code>get_weather</code>");
    expect(html).toContain("<strong>Tool result</strong> <code>call-1</code>");
    expect(html).toContain("<strong>Assistant</strong>");
    expect(html.match(/<pre><code class="language-json">/g)).toHaveLength(2);
    // The tool call's arguments, backticks and all, stay inside their code block.
    expect(html).toContain("Zürich ``` `");
    // Reasoning is folded, and its text cannot close the fold or add markup.
    expect(html).toMatch(/<details><summary>Reasoning<\/summary>\n<p>think &lt;\/details&gt; &lt;b&gt;x&lt;\/b&gt;<\/p>\n<\/details>/);
    expect(html.match(/<\/details>/g)).toHaveLength(1);
  });

  it("an unknown runtime, an unrepresentable time, no blocks, other kinds, payload besides text", () => {
    const md = markdownTurn(
      snapshot({
        runtimeKey: "",
        inferenceId: "",
        createdAtMs: Number.MAX_SAFE_INTEGER,
        turn: turn("t1", []),
      }),
    );
    expect(md.split("\n")[0]).toBe("## Turn `t1` · runtime _unknown_ · 9007199254740991 ms");
    expect(md).toContain("_(no blocks)_");
    expect(md).not.toContain("inference");
    expect(markdownBlock(block({ kind: "other", role: "critic", payload: { text: "meh" } }))).toBe(
      "**Other block** (role `critic`)\n\nmeh",
    );
    expect(markdownBlock(block({ kind: "system", payload: { text: "Be brief." } }))).toBe("**System**\n\nBe brief.");
    expect(markdownBlock(block({ kind: "user", role: "user", payload: { text: "see", images: ["a.png"] } }))).toBe(
      '**User**\n\nsee\n\n```json\n{\n  "images": [\n    "a.png"\n  ]\n}\n```',
    );
    expect(markdownBlock(block({ kind: "llm_text", role: "**boss**", payload: {} }))).toBe("**\\*\\*boss\\*\\***\n\n_(no content)_");
  });

  it("lays a payload's JSON out two levels deep: as JSON.stringify(v, null, 2) to that depth, one line below it, the same value (property)", () => {
    // Levels of non-empty collections: an empty one is written `{}` or `[]` either way.
    const depthOf = (v: unknown): number =>
      typeof v === "object" && v !== null && Object.keys(v).length > 0 ? 1 + Math.max(...Object.values(v).map(depthOf)) : 0;
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 5 }), (value) => {
        const laidOut = prettyJson(value);
        expect(JSON.parse(laidOut)).toEqual(JSON.parse(JSON.stringify(value)));
        if (depthOf(value) <= 2) expect(laidOut).toBe(JSON.stringify(value, null, 2));
        else expect(laidOut.length).toBeLessThan(JSON.stringify(value, null, 2).length);
      }),
      { numRuns: 2000 },
    );
    expect(prettyJson({ args: { q: "x", filter: { tags: ["a", "b"] } } })).toBe(
      '{\n  "args": {\n    "q": "x",\n    "filter": {"tags":["a","b"]}\n  }\n}',
    );
  });

  it("hostile text in every place stays text", () => {
    const hostileTurn = snapshot({
      turnId: "t`1` # x",
      runtimeKey: "rt\n# injected",
      phase: "final",
      turn: turn("t`1` # x", [
        block({ kind: "user", role: "user", payload: { text: HOSTILE } }),
        block({ kind: "reasoning", payload: { text: HOSTILE } }),
        block({ kind: "tool_call", payload: { name: "n`a```me", args: { text: HOSTILE } } }),
        block({ kind: "llm_text", role: "boss\n\n# <i>x</i>", payload: { text: "ok" } }),
      ]),
    });
    const html = reader.render(markdownTitle({ convId: "c`<b>`", exportedAtMs: 0 }) + markdownTurn(hostileTurn));
    expect(html.match(/<h1>/g)).toHaveLength(1);
    expect(html.match(/<h2>/g)).toHaveLength(1);
    expect(html.match(/<details>/g)).toHaveLength(1);
    expect(html.match(/<\/details>/g)).toHaveLength(1);
    expect(html.match(/<pre>/g)).toHaveLength(1);
    expect(html).not.toMatch(/<(script|div|table|ol|ul|blockquote|hr|a|img|em|del|b)\b/);
    expect(html).toContain("<h2>Turn <code>t`1` # x</code> · runtime <code>rt # injected</code>");
    expect(html).toContain("<p><strong>Boss # &lt;i&gt;x&lt;/i&gt;</strong></p>");
  });

  it("isoTime: UTC, and the raw value beyond what a Date holds", () => {
    expect(isoTime(0)).toBe("1970-01-01T00:00:00.000Z");
    expect(isoTime(8.64e15)).toBe("+275760-09-13T00:00:00.000Z");
    expect(isoTime(8.64e15 + 1)).toBe("8640000000000001 ms");
  });
});

describe("JSON, JSON Lines and YAML, written page by page", () => {
  const snapshots = [
    snapshot({ turnId: "t0", phase: "draft", createdAtMs: 1, turn: turn("t0", []) }),
    snapshot({ turnId: "t1", createdAtMs: 2 }),
    snapshot({
      turnId: "t2",
      createdAtMs: 3,
      runtimeKey: "",
      turn: turn("t2", [block({ kind: "user", payload: { text: "line\u2028sep 1.0 yes 0777 ~ null" } })], { "10": "integer-like key" }),
    }),
  ];
  const write = (format: ExportFormat, pages: ExportedSnapshot[][]) => {
    const writer = exportWriter(format, { convId: "conv-1", exportedAtMs: 1234 });
    return writer.begin() + pages.map((p) => writer.page(p)).join("") + writer.end();
  };
  const asItem = (s: ExportedSnapshot) => JSON.parse(snapshotJsonLine(s));
  const pagings = [[snapshots], [[snapshots[0]!], [], [snapshots[1]!, snapshots[2]!]], [[], snapshots.map((s) => s)]];

  it("a JSON Lines record is a POST /api/turns/batch item, on one line", () => {
    const line = snapshotJsonLine(snapshots[2]!);
    expect(line.endsWith("\n")).toBe(true);
    expect(line.slice(0, -1)).not.toMatch(/[\n\r\u2028\u2029]/);
    expect(Object.keys(JSON.parse(line))).toEqual([
      "conv_id",
      "session_id",
      "turn_id",
      "phase",
      "created_at_ms",
      "runtime_key",
      "inference_id",
      "turn",
    ]);
    expect(JSON.parse(line).turn).toEqual({
      id: "t2",
      blocks: [{ id: "b", kind: "user", role: "", payload: { text: "line\u2028sep 1.0 yes 0777 ~ null" }, metadata: {} }],
      metadata: {},
      data: {},
      "10": "integer-like key",
    });
    expect(compactJson("\u2029")).toBe('"\\u2029"');
  });

  it.each(pagings.map((pages, i) => [i, pages] as const))("paging %i: every format reads back as the same snapshots", (_i, pages) => {
    const items = snapshots.map(asItem);
    const json = JSON.parse(write("json", pages));
    expect(json).toEqual({ conv_id: "conv-1", exported_at_ms: 1234, snapshots: items });
    expect(
      write("jsonl", pages)
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l)),
    ).toEqual(items);
    const yamlText = write("yaml", pages);
    // The project's strict reader (what POST /api/turns accepts) and a general one agree.
    expect(readYaml(yamlText, "export", 128)).toEqual(json);
    expect(parseYaml(yamlText)).toEqual(json);
    // Written item by item, it is exactly the document writeYaml writes at once.
    expect(yamlText).toBe(
      writeYaml([
        ["conv_id", "conv-1"],
        ["exported_at_ms", 1234],
        ["snapshots", items],
      ]),
    );
    const md = write("markdown", pages);
    expect(md.match(/^## Turn /gm)).toHaveLength(3);
  });

  it("no snapshots", () => {
    expect(JSON.parse(write("json", [[]]))).toEqual({ conv_id: "conv-1", exported_at_ms: 1234, snapshots: [] });
    expect(write("jsonl", [[]])).toBe("");
    expect(readYaml(write("yaml", [[]]), "export", 8)).toEqual({ conv_id: "conv-1", exported_at_ms: 1234, snapshots: [] });
    expect(write("markdown", [[]])).toMatch(/_No turns\._\n$/);
    const writer = exportWriter("markdown", { convId: "c", exportedAtMs: 0, phase: "final" });
    expect(writer.begin() + writer.end()).toContain("_No turn has a snapshot in phase `final`._");
  });

  it("writeYamlSequenceItem is one item of writeYaml's sequence", () => {
    const entries: Array<readonly [string, unknown]> = [
      ["a", "multi\nline"],
      ["b", { c: [1, { d: "" }] }],
      ["e", []],
    ];
    const item = writeYamlSequenceItem(entries, "  ");
    expect(`k:\n${item}`).toBe(writeYaml([["k", [{ a: "multi\nline", b: { c: [1, { d: "" }] }, e: [] }]]]));
    expect(writeYamlSequenceItem([], "  ")).toBe("  - {}\n");
  });
});

describe("file names and media types", () => {
  it("names the file after the conversation, reduced to [A-Za-z0-9._-]", () => {
    expect(exportFilename("conv-1", "json")).toBe("turnstore-conv-1.json");
    expect(exportFilename('a/b "c"\\ü😀.x', "markdown")).toBe("turnstore-a_b__c____.x.md");
    expect(exportFilename("..", "jsonl")).toBe("turnstore-...jsonl");
  });

  it("media types", () => {
    expect(Object.fromEntries(Object.entries(EXPORT_FORMATS).map(([k, v]) => [k, v.contentType]))).toEqual({
      json: "application/json; charset=utf-8",
      jsonl: "application/x-ndjson; charset=utf-8",
      yaml: "application/yaml; charset=utf-8",
      markdown: "text/markdown; charset=utf-8",
    });
  });
});
