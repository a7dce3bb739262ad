/**
 * The export is a debug route (CONTRACT §4, §5.5): DEBUG_TOKEN only — 404 while it is unset, 401
 * without it (the ingest token included), 403 for a conversation token — checked before the
 * parameters; then 400 for an unknown format and 404 for an unknown conversation.
 */
import { describe, expect, it } from "vitest";
import { call, expectError, json, post, turnBody, uid } from "../harness";

const path = (conv: string, query = "?format=jsonl") => `/api/debug/conversations/${encodeURIComponent(conv)}/export${query}`;

describe("who may export", () => {
  it("no token, a wrong token, the ingest token → 401 (before the parameters)", async () => {
    for (const token of [null, "wrong", "test-ingest-token"]) {
      await expectError(await call("GET", path("c1"), { token }), 401, "UNAUTHORIZED");
      await expectError(await call("GET", path("c1", "?format=xml"), { token }), 401, "UNAUTHORIZED");
    }
  });

  it("a conversation token, even for that conversation → 403", async () => {
    const conv = uid("conv-export-sec");
    await post("/api/turns", turnBody({ conv_id: conv, session_id: "s", turn_id: "t", created_at_ms: 1 }));
    const { token } = await json(await post("/api/tokens", { conv_id: conv }));
    await expectError(await call("GET", path(conv), { token }), 403, "FORBIDDEN", /conversation token cannot use/);
    await expectError(await call("GET", path(conv), { token, headers: { origin: "https://chat.example.com" } }), 403, "FORBIDDEN");
  });

  it("404 while DEBUG_TOKEN is unset, whatever the token or method", async () => {
    for (const method of ["GET", "POST", "DELETE"]) {
      for (const token of [null, "test-debug-token"]) {
        await expectError(await call(method, path("c1"), { token, env: { DEBUG_TOKEN: "" } }), 404, "NOT_FOUND");
      }
    }
  });

  it("GET only: other methods are 405", async () => {
    const res = await call("POST", path("c1"), { body: {} });
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("GET");
  });
});

describe("bad requests", () => {
  it.each(["xml", "JSON", "md", "", "csv"])("format=%s → 400 INVALID_PARAMETER naming the formats", async (format) => {
    await expectError(
      await call("GET", path("c1", `?format=${format}`)),
      400,
      "INVALID_PARAMETER",
      /format must be json, jsonl, yaml or markdown/,
    );
  });

  it("an unknown conversation → 404, in every format", async () => {
    for (const format of ["json", "jsonl", "yaml", "markdown"]) {
      await expectError(await call("GET", path(uid("conv-nope"), `?format=${format}`)), 404, "NOT_FOUND", /not found/);
    }
  });

  it("an undecodable path → 400", async () => {
    await expectError(await call("GET", "/api/debug/conversations/%FF/export"), 400, "INVALID_PARAMETER", /percent-encoded/);
  });

  it("a phase over 256 characters → 400", async () => {
    await expectError(await call("GET", path("c1", `?phase=${"p".repeat(257)}`)), 400, "INVALID_PARAMETER", /phase/);
  });
});

describe("hostile content", () => {
  const exportText = async (conv: string, query: string) => {
    const res = await call("GET", path(conv, query));
    expect(res.status).toBe(200);
    return new TextDecoder().decode(await res.arrayBuffer());
  };

  it("Markdown labels roles from its own table only: `constructor`, `__proto__`, `toString` are shown as written", async () => {
    const conv = uid("conv-export-roles");
    const roles = ["constructor", "__proto__", "toString", "hasOwnProperty", "valueOf", "isPrototypeOf", "USER", "Assistant"];
    const res = await post(
      "/api/turns",
      turnBody({
        conv_id: conv,
        session_id: "s",
        turn_id: "t",
        created_at_ms: 1,
        blocks: roles.map((role) => ({ kind: "llm_text", role, payload: { text: `said by ${role}` } })),
      }),
    );
    expect(res.status).toBe(201);
    const md = await exportText(conv, "?format=markdown");
    expect(md).not.toMatch(/native code|function|\[object Object\]/);
    expect(md.match(/^\*\*.*\*\*$/gm)).toEqual([
      "**Constructor**",
      "**\\_\\_proto\\_\\_**",
      "**ToString**",
      "**HasOwnProperty**",
      "**ValueOf**",
      "**IsPrototypeOf**",
      "**User**",
      "**Assistant**",
    ]);
  });

  /**
   * Every character Unicode line splitting treats as a line break (Python's str.splitlines):
   * LF, CR, CR LF, VT, FF, FS, GS, RS, NEL, LS, PS. JSON.stringify escapes the C0 ones; NEL, LS and
   * PS it leaves raw, so a reader splitting lines that way would cut a record in two.
   */
  const LINE_BREAKS = ["\n", "\r", "\r\n", "\u000b", "\u000c", "\u001c", "\u001d", "\u001e", "\u0085", "\u2028", "\u2029"];
  const splitLines = (text: string) => text.split(/\r\n|[\n\r\u000b\u000c\u001c-\u001e\u0085\u2028\u2029]/);

  it("JSON Lines escapes every line break, so a Unicode-aware reader sees one record per snapshot; the file re-imports unchanged", async () => {
    const conv = uid("conv-export-breaks");
    const breaks = LINE_BREAKS.join("|");
    const items = [0, 1, 2].map((i) => ({
      conv_id: conv,
      // LS and PS are not control or format characters: legal in ids and runtime keys.
      session_id: `s\u2028${i}`,
      turn_id: `t\u2029${i}`,
      phase: "final",
      created_at_ms: 100 + i,
      runtime_key: `rt\u2028${i}`,
      turn: {
        blocks: [{ kind: "user", role: `r\u2029${i}`, payload: { text: `a${breaks}b`, [`key${breaks}`]: breaks } }],
        metadata: { note: breaks, [`\u0085${i}`]: "\u2028" },
        data: { [breaks]: [breaks] },
        "extra\u2029": breaks,
      },
    }));
    expect((await post("/api/turns/batch", { items })).status).toBe(201);

    const text = await exportText(conv, "?format=jsonl");
    expect(text).not.toMatch(/[\u000b\u000c\u001c-\u001e\u0085\u2028\u2029\r]/);
    expect(text).toMatch(/\\u0085/);
    const records = splitLines(text).filter((line) => line !== "");
    expect(records).toHaveLength(items.length);
    const parsed = records.map((line) => JSON.parse(line) as Record<string, unknown>);
    // The same values the JSON export holds (and every value as posted).
    expect(parsed).toEqual((JSON.parse(await exportText(conv, "?format=json")) as { snapshots: unknown[] }).snapshots);
    expect(parsed.map((r) => [r.session_id, r.turn_id, r.runtime_key])).toEqual(items.map((i) => [i.session_id, i.turn_id, i.runtime_key]));
    expect(parsed.map((r) => (r.turn as { metadata: unknown }).metadata)).toEqual(items.map((i) => i.turn.metadata));

    // Re-imported line by line into a copy: stored as the same snapshots, exported as the same lines.
    const copy = uid("conv-export-breaks-copy");
    const res = await post("/api/turns/batch", { items: parsed.map((r) => ({ ...r, conv_id: copy })) });
    expect(res.status).toBe(201);
    const again = splitLines(await exportText(copy, "?format=jsonl")).filter((line) => line !== "");
    expect(again).toEqual(records.map((line) => line.replace(JSON.stringify(conv), JSON.stringify(copy))));
    // Posting the original file again is an identical replay.
    expect((await post("/api/turns/batch", { items: parsed })).status).toBe(200);
  });
});
