/**
 * POST /v1/traces, what an exporter relies on: protobuf, OTLP JSON and gzip all record the same
 * snapshots; tool loops, metadata-only spans, model truth and model_mismatch; history stored once;
 * a re-sent export changes nothing; spans arriving over several requests in any order end as the
 * snapshots of one request. Through the Worker's fetch handler and a real miniflare D1.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { databaseDigest, get, json } from "./harness";
import { agentTrace, exportAnswer, exportSpans, T0 } from "./otlp-requests";

const turnsOf = async (conv: string) => (await json(await get(`/api/debug/turns?conv_id=${encodeURIComponent(conv)}`))).items;

describe("POST /v1/traces — recording", () => {
  it("records each inference span of an agent trace as a snapshot (protobuf)", async () => {
    const conv = `conv-${crypto.randomUUID()}`;
    const { spans, chats, trace } = agentTrace({ conv, calls: 2 });
    const res = await exportSpans(spans);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/x-protobuf");
    expect(await exportAnswer(res)).toEqual({ rejectedSpans: 0, errorMessage: "", empty: true });
    const items = await turnsOf(conv);
    expect(items.map((i: any) => [i.turn_id, i.phase, i.runtime_key, i.inference_id, i.created_at_ms])).toEqual(
      [...chats].reverse().map((chat) => [trace, `inference:${chat}`, "weather-agent", `resp-${chat}`, T0]),
    );
  });
});
