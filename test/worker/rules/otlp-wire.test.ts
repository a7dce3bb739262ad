/**
 * The OTLP wire layer (src/otlp/wire.ts) in workerd: protobuf-es's generated types decode and encode
 * here (no code built at run time), AnyValue becomes JSON as documented, span flags mark remote
 * parents, hex and base64 ids read the same, and the response is an ExportTraceServiceResponse.
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import {
  ExportTraceServiceRequestSchema,
  ExportTraceServiceResponseSchema,
} from "../../../src/otlp/gen/opentelemetry/proto/collector/trace/v1/trace_service_pb";
import { AnyValueSchema } from "../../../src/otlp/gen/opentelemetry/proto/common/v1/common_pb";
import { attributeValue, decodeExportRequest, encodeExportResponse, spansOf } from "../../../src/otlp/wire";

const any = (value: object) => create(AnyValueSchema, { value } as never);

describe("AnyValue → JSON", () => {
  it.each([
    ["a string", { case: "stringValue", value: "héllo" }, "héllo"],
    ["a bool", { case: "boolValue", value: true }, true],
    ["a safe int64", { case: "intValue", value: 42n }, 42],
    ["an int64 beyond 2^53 (as its decimal text)", { case: "intValue", value: 9007199254740993n }, "9007199254740993"],
    ["a negative int64", { case: "intValue", value: -5n }, -5],
    ["a double", { case: "doubleValue", value: 1.5 }, 1.5],
    ["NaN (as text: JSON cannot hold it)", { case: "doubleValue", value: Number.NaN }, "NaN"],
    ["bytes (base64)", { case: "bytesValue", value: Uint8Array.from([1, 2, 255]) }, "AQL/"],
    ["a dictionary reference (not used by traces)", { case: "stringValueStrindex", value: 3 }, null],
    ["unset", { case: undefined }, null],
  ])("%s", (_name, value, expected) => {
    expect(attributeValue(any(value))).toEqual(expected);
  });

  it("arrays and key-value lists nest; a repeated key keeps the last value", () => {
    const value = any({
      case: "kvlistValue",
      value: {
        values: [
          { key: "role", value: { value: { case: "stringValue", value: "user" } } },
          { key: "parts", value: { value: { case: "arrayValue", value: { values: [{ value: { case: "intValue", value: 1n } }] } } } },
          { key: "role", value: { value: { case: "stringValue", value: "assistant" } } },
        ],
      },
    });
    expect(attributeValue(value)).toEqual({ role: "assistant", parts: [1] });
  });
});

describe("requests and responses", () => {
  const span = (flags: number) => ({
    traceId: Uint8Array.from({ length: 16 }, (_, i) => i + 1),
    spanId: Uint8Array.from({ length: 8 }, (_, i) => i + 17),
    parentSpanId: Uint8Array.from({ length: 8 }, () => 9),
    flags,
    name: "chat m",
    endTimeUnixNano: 1_767_225_600_123_456_789n,
  });
  const request = (flags: number) =>
    toBinary(
      ExportTraceServiceRequestSchema,
      create(ExportTraceServiceRequestSchema, { resourceSpans: [{ scopeSpans: [{ spans: [span(flags)] }] }] } as never),
    );

  it("decodes protobuf into span records: hex ids, decimal nanoseconds, the remote-parent flag (bits 8 and 9)", () => {
    const local = spansOf(decodeExportRequest(request(0x100), "protobuf")).spans[0]!;
    expect(local).toMatchObject({
      traceId: "0102030405060708090a0b0c0d0e0f10",
      spanId: "1112131415161718",
      parentSpanId: "0909090909090909",
      parentIsRemote: false,
      endTimeUnixNano: "1767225600123456789",
    });
    expect(spansOf(decodeExportRequest(request(0x300), "protobuf")).spans[0]!.parentIsRemote).toBe(true);
    // Bit 9 without bit 8 says nothing.
    expect(spansOf(decodeExportRequest(request(0x200), "protobuf")).spans[0]!.parentIsRemote).toBe(false);
  });

  it("reads OTLP JSON ids as hex (any case) or base64, the same ids", () => {
    const json = (traceId: string, spanId: string) =>
      new TextEncoder().encode(
        JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: [{ traceId, spanId, endTimeUnixNano: "5" }] }] }] }),
      );
    const hex = spansOf(decodeExportRequest(json("0102030405060708090A0B0C0D0E0F10", "1112131415161718"), "json")).spans[0]!;
    const b64 = spansOf(decodeExportRequest(json("AQIDBAUGBwgJCgsMDQ4PEA==", "ERITFBUWFxg="), "json")).spans[0]!;
    expect([hex.traceId, hex.spanId]).toEqual(["0102030405060708090a0b0c0d0e0f10", "1112131415161718"]);
    expect([b64.traceId, b64.spanId]).toEqual([hex.traceId, hex.spanId]);
  });

  it("writes ExportTraceServiceResponse: empty on full success, partial_success otherwise, in either encoding", () => {
    const empty = encodeExportResponse("protobuf", null) as Uint8Array;
    expect(empty.length).toBe(0);
    expect(fromBinary(ExportTraceServiceResponseSchema, empty).partialSuccess).toBeUndefined();
    const partial = fromBinary(
      ExportTraceServiceResponseSchema,
      encodeExportResponse("protobuf", { rejectedSpans: 2, errorMessage: "why" }) as Uint8Array,
    );
    expect([partial.partialSuccess?.rejectedSpans, partial.partialSuccess?.errorMessage]).toEqual([2n, "why"]);
    expect(JSON.parse(encodeExportResponse("json", { rejectedSpans: 2, errorMessage: "why" }) as string)).toEqual({
      partialSuccess: { rejectedSpans: "2", errorMessage: "why" },
    });
    expect(encodeExportResponse("json", null)).toBe("{}");
  });
});
