/**
 * OTLP/HTTP trace export on the wire (opentelemetry-proto v1.11.0, src/otlp/proto/): the request in
 * its binary protobuf or JSON encoding → spans as plain JSON-able records; the response
 * (ExportTraceServiceResponse, partial_success) in the request's encoding. Pure; no I/O.
 *
 * The decoding is protobuf-es's (generated types in src/otlp/gen/: reflection, no code built at run
 * time, so it runs in workerd). OTLP's JSON is proto3 JSON with two exceptions, handled here: trace
 * and span ids are hex strings (proto3 JSON would be base64; both are accepted, told apart by their
 * length), and enums are integers (protobuf-es accepts integers and names). int64 values may be
 * strings or numbers; unknown fields are ignored in both encodings.
 */
import { create, fromBinary, fromJson, toBinary, toJson, type JsonValue } from "@bufbuild/protobuf";
import { base64Encode, BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import {
  ExportTraceServiceRequestSchema,
  ExportTraceServiceResponseSchema,
  type ExportTraceServiceRequest,
} from "./gen/opentelemetry/proto/collector/trace/v1/trace_service_pb";
import type { AnyValue, KeyValue } from "./gen/opentelemetry/proto/common/v1/common_pb";
import type { Span } from "./gen/opentelemetry/proto/trace/v1/trace_pb";

/** The two encodings of OTLP/HTTP: a response is written in the request's. */
export type OtlpEncoding = "protobuf" | "json";

export const OTLP_CONTENT_TYPES: Record<OtlpEncoding, string> = {
  protobuf: "application/x-protobuf",
  json: "application/json",
};

/** A request body that is not an ExportTraceServiceRequest in its declared encoding. */
export class OtlpFormatError extends Error {
  override name = "OtlpFormatError";
}

/** An attribute value as JSON: AnyValue's kvlist is an object, its array an array, bytes base64. */
export type AttributeValue = string | number | boolean | null | AttributeValue[] | { [key: string]: AttributeValue };
export type Attributes = Record<string, AttributeValue>;

/** One span as the mapping reads it (and as a held span is stored): ids as lowercase hex, times as decimal nanoseconds. */
export interface SpanRecord {
  traceId: string;
  spanId: string;
  /** "" for a root span. */
  parentSpanId: string;
  /** The span's parent lives in another process (flags bits 8 and 9 of OTLP 1.1+): the trace is cut there. */
  parentIsRemote: boolean;
  name: string;
  /** Span.SpanKind (0 unspecified … 5 consumer). */
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: Attributes;
  /** Status code (0 unset, 1 ok, 2 error). */
  statusCode: number;
}

/** A span the decoder could not read (bad ids, attributes nested too deep): named by position and ids. */
export interface UnreadableSpan {
  where: string;
  traceId: string;
  spanId: string;
  problem: string;
}

/** Attribute values nested deeper than this are refused (the span, not the request). */
export const MAX_ATTRIBUTE_DEPTH = 32;

const SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE = 0x100;
const SPAN_FLAGS_CONTEXT_IS_REMOTE = 0x200;

const TRACE_ID_BYTES = 16;
const SPAN_ID_BYTES = 8;

const utf8Strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/** Why the request could not be read, without echoing payload text. */
function problemOf(error: unknown): string {
  const message = String((error as Error)?.message ?? error);
  if (error instanceof RangeError && /call stack/i.test(message)) return "it is nested too deeply";
  // protobuf-es names the field and the problem; JSON.parse may quote the body, so its text is dropped.
  return message.includes('"') && error instanceof SyntaxError ? "unexpected token" : message.slice(0, 300);
}

/**
 * A body that would build too many objects: a few bytes of protobuf (an empty attribute, a boolean
 * in an array) become a JavaScript object of a hundred bytes or more, so the decoded size alone does
 * not bound the memory a request takes. Counted before anything is built.
 */
export class OtlpTooLargeError extends Error {
  override name = "OtlpTooLargeError";
}

/** Messages (and, for JSON, objects and arrays) one request may hold: about 50 MB of decoded objects at most. */
export const MAX_OTLP_MESSAGES = 250_000;

/** Message nesting a request may have (attribute values nest: arrays and key-value lists of values). */
export const MAX_OTLP_NESTING = 64;

/** The message fields of the OTLP trace request, by field number (scalars, strings and bytes are skipped). */
type MessageShape = { [field: number]: MessageShape };
const ANY_VALUE: MessageShape = {};
const KEY_VALUE: MessageShape = { 2: ANY_VALUE };
ANY_VALUE[5] = { 1: ANY_VALUE }; // ArrayValue.values
ANY_VALUE[6] = { 1: KEY_VALUE }; // KeyValueList.values
const SPAN: MessageShape = { 9: KEY_VALUE, 11: { 3: KEY_VALUE }, 13: { 4: KEY_VALUE }, 15: {} };
const SCOPE_SPANS: MessageShape = { 1: { 3: KEY_VALUE }, 2: SPAN };
const RESOURCE_SPANS: MessageShape = { 1: { 1: KEY_VALUE, 3: {} }, 2: SCOPE_SPANS };
const EXPORT_REQUEST: MessageShape = { 1: RESOURCE_SPANS };

/**
 * Walks the protobuf wire format of an ExportTraceServiceRequest counting its messages, without
 * building any: OtlpTooLargeError past MAX_OTLP_MESSAGES, OtlpFormatError past MAX_OTLP_NESTING or
 * on a truncated field. Iterative, so hostile nesting cannot overflow the stack.
 */
export function assertProtobufBounds(bytes: Uint8Array): void {
  let messages = 0;
  const stack: Array<{ buf: Uint8Array; reader: BinaryReader; shape: MessageShape }> = [
    { buf: bytes, reader: new BinaryReader(bytes), shape: EXPORT_REQUEST },
  ];
  try {
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      if (top.reader.pos >= top.reader.len) {
        stack.pop();
        continue;
      }
      const [field, wireType] = top.reader.tag();
      const child = top.shape[field];
      if (wireType !== WireType.LengthDelimited || child === undefined) {
        top.reader.skip(wireType, field);
        continue;
      }
      const length = top.reader.uint32();
      const start = top.reader.pos;
      if (start + length > top.reader.len)
        throw new OtlpFormatError("the body is not a protobuf ExportTraceServiceRequest: a field runs past its end");
      top.reader.pos = start + length;
      messages += 1;
      if (messages > MAX_OTLP_MESSAGES) {
        throw new OtlpTooLargeError(`the request holds more than ${MAX_OTLP_MESSAGES} protobuf messages; export smaller batches`);
      }
      if (stack.length >= MAX_OTLP_NESTING) throw new OtlpFormatError(`the body is nested deeper than ${MAX_OTLP_NESTING} messages`);
      // A view, not a copy: the nested message's bytes within its parent's.
      const buf = top.buf.subarray(start, start + length);
      stack.push({ buf, reader: new BinaryReader(buf), shape: child });
    }
  } catch (error) {
    if (error instanceof OtlpTooLargeError || error instanceof OtlpFormatError) throw error;
    throw new OtlpFormatError(`the body is not a protobuf ExportTraceServiceRequest: ${problemOf(error)}`);
  }
}

/** The same bound over parsed JSON: objects and arrays counted, iteratively. */
function assertJsonBounds(json: unknown): void {
  let containers = 0;
  const stack: Array<[unknown, number]> = [[json, 0]];
  while (stack.length > 0) {
    const [value, depth] = stack.pop()!;
    if (typeof value !== "object" || value === null) continue;
    containers += 1;
    if (containers > MAX_OTLP_MESSAGES) {
      throw new OtlpTooLargeError(`the request holds more than ${MAX_OTLP_MESSAGES} JSON objects and arrays; export smaller batches`);
    }
    if (depth >= 2 * MAX_OTLP_NESTING) throw new OtlpFormatError(`the body is nested deeper than ${2 * MAX_OTLP_NESTING} levels`);
    for (const child of Array.isArray(value) ? value : Object.values(value)) stack.push([child, depth + 1]);
  }
}

/** ExportTraceServiceRequest from a body in `encoding`; OtlpFormatError when it is not one. */
export function decodeExportRequest(bytes: Uint8Array, encoding: OtlpEncoding): ExportTraceServiceRequest {
  if (encoding === "protobuf") {
    assertProtobufBounds(bytes);
    try {
      return fromBinary(ExportTraceServiceRequestSchema, bytes, { readUnknownFields: false });
    } catch (error) {
      throw new OtlpFormatError(`the body is not a protobuf ExportTraceServiceRequest: ${problemOf(error)}`);
    }
  }
  let text: string;
  try {
    text = utf8Strict.decode(bytes);
  } catch {
    throw new OtlpFormatError("the body is not valid UTF-8");
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new OtlpFormatError(`the body is not valid JSON: ${problemOf(error)}`);
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new OtlpFormatError("the body must be a JSON object (an ExportTraceServiceRequest)");
  }
  assertJsonBounds(json);
  try {
    hexIdsToBase64(json);
    return fromJson(ExportTraceServiceRequestSchema, json as JsonValue, { ignoreUnknownFields: true });
  } catch (error) {
    throw new OtlpFormatError(`the body is not an OTLP JSON ExportTraceServiceRequest: ${problemOf(error)}`);
  }
}

const HEX = /^[0-9a-fA-F]*$/;

function hexToBytes(hex: string): Uint8Array {
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return bytes;
}

/** An OTLP JSON id as proto3 JSON wants it: hex of the id's length → base64; anything else as is (base64, or wrong). */
function idAsBase64(value: unknown, bytes: number): unknown {
  return typeof value === "string" && value.length === 2 * bytes && HEX.test(value) ? base64Encode(hexToBytes(value)) : value;
}

const asObject = (value: unknown): Record<string, unknown> | null =>
  typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;

const asArray = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);

/** Rewrites hex ids in place (spans and their links), under either spelling of each field. */
function hexIdsToBase64(request: object): void {
  const idFields = (target: Record<string, unknown>, fields: ReadonlyArray<[string, number]>) => {
    for (const [name, bytes] of fields) if (name in target) target[name] = idAsBase64(target[name], bytes);
  };
  const both = (camel: string, snake: string, bytes: number): Array<[string, number]> => [
    [camel, bytes],
    [snake, bytes],
  ];
  const req = request as Record<string, unknown>;
  for (const rs of asArray(req.resourceSpans ?? req.resource_spans)) {
    const resourceSpans = asObject(rs);
    if (!resourceSpans) continue;
    for (const ss of asArray(resourceSpans.scopeSpans ?? resourceSpans.scope_spans)) {
      const scopeSpans = asObject(ss);
      if (!scopeSpans) continue;
      for (const s of asArray(scopeSpans.spans)) {
        const span = asObject(s);
        if (!span) continue;
        idFields(span, [
          ...both("traceId", "trace_id", TRACE_ID_BYTES),
          ...both("spanId", "span_id", SPAN_ID_BYTES),
          ...both("parentSpanId", "parent_span_id", SPAN_ID_BYTES),
        ]);
        for (const l of asArray(span.links)) {
          const link = asObject(l);
          if (link) idFields(link, [...both("traceId", "trace_id", TRACE_ID_BYTES), ...both("spanId", "span_id", SPAN_ID_BYTES)]);
        }
      }
    }
  }
}

const hexOf = (bytes: Uint8Array): string => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

class DepthError extends Error {}

/** An AnyValue as JSON (see AttributeValue); deeper than MAX_ATTRIBUTE_DEPTH throws DepthError. */
export function attributeValue(value: AnyValue | undefined, depth = 0): AttributeValue {
  if (depth > MAX_ATTRIBUTE_DEPTH) throw new DepthError();
  const v = value?.value;
  switch (v?.case) {
    case "stringValue":
    case "boolValue":
      return v.value;
    case "intValue": {
      const n = Number(v.value);
      return Number.isSafeInteger(n) ? n : v.value.toString();
    }
    case "doubleValue":
      return Number.isFinite(v.value) ? v.value : String(v.value);
    case "bytesValue":
      return base64Encode(v.value);
    case "arrayValue":
      return v.value.values.map((item) => attributeValue(item, depth + 1));
    case "kvlistValue":
      return attributesOf(v.value.values, depth + 1);
    default:
      // unset, or a dictionary reference (string_value_strindex) that traces do not use
      return null;
  }
}

/** Key-value pairs as an object (a repeated key: the last one wins). */
export function attributesOf(pairs: readonly KeyValue[], depth = 0): Attributes {
  const out: Attributes = {};
  for (const pair of pairs) {
    Object.defineProperty(out, pair.key, {
      value: attributeValue(pair.value, depth),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

function idProblem(name: string, bytes: Uint8Array, size: number, optional: boolean): string | null {
  if (optional && bytes.length === 0) return null;
  if (bytes.length !== size) return `${name} must be ${size} bytes, got ${bytes.length}`;
  if (bytes.every((b) => b === 0)) return `${name} must not be all zeros`;
  return null;
}

function spanRecord(span: Span): SpanRecord {
  const flags = span.flags;
  return {
    traceId: hexOf(span.traceId),
    spanId: hexOf(span.spanId),
    parentSpanId: hexOf(span.parentSpanId),
    parentIsRemote: (flags & SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE) !== 0 && (flags & SPAN_FLAGS_CONTEXT_IS_REMOTE) !== 0,
    name: span.name,
    kind: span.kind,
    startTimeUnixNano: span.startTimeUnixNano.toString(),
    endTimeUnixNano: span.endTimeUnixNano.toString(),
    attributes: attributesOf(span.attributes),
    statusCode: span.status?.code ?? 0,
  };
}

/** Every span of the request, in order, as records — and those that could not be read, with why. */
export function spansOf(request: ExportTraceServiceRequest): { spans: SpanRecord[]; unreadable: UnreadableSpan[] } {
  const spans: SpanRecord[] = [];
  const unreadable: UnreadableSpan[] = [];
  request.resourceSpans.forEach((rs, r) => {
    rs.scopeSpans.forEach((ss, s) => {
      ss.spans.forEach((span, i) => {
        const where = `resource_spans[${r}].scope_spans[${s}].spans[${i}]`;
        const problem =
          idProblem("trace_id", span.traceId, TRACE_ID_BYTES, false) ??
          idProblem("span_id", span.spanId, SPAN_ID_BYTES, false) ??
          idProblem("parent_span_id", span.parentSpanId, SPAN_ID_BYTES, true);
        const ids = { where, traceId: hexOf(span.traceId), spanId: hexOf(span.spanId) };
        if (problem) {
          unreadable.push({ ...ids, problem });
          return;
        }
        try {
          spans.push(spanRecord(span));
        } catch (error) {
          if (!(error instanceof DepthError)) throw error;
          unreadable.push({ ...ids, problem: `an attribute value is nested deeper than ${MAX_ATTRIBUTE_DEPTH} levels` });
        }
      });
    });
  });
  return { spans, unreadable };
}

/** The spans the request carries, counted without reading them (for the per-request bound). */
export function spanCount(request: ExportTraceServiceRequest): number {
  let n = 0;
  for (const rs of request.resourceSpans) for (const ss of rs.scopeSpans) n += ss.spans.length;
  return n;
}

export interface PartialSuccess {
  rejectedSpans: number;
  errorMessage: string;
}

/**
 * ExportTraceServiceResponse in `encoding`: partial_success only when a span was rejected or there
 * is something to say (OTLP: an empty response means full success).
 */
export function encodeExportResponse(encoding: OtlpEncoding, partial: PartialSuccess | null): Uint8Array | string {
  const response = create(ExportTraceServiceResponseSchema, {
    partialSuccess: partial ? { rejectedSpans: BigInt(partial.rejectedSpans), errorMessage: partial.errorMessage } : undefined,
  });
  return encoding === "protobuf"
    ? toBinary(ExportTraceServiceResponseSchema, response)
    : JSON.stringify(toJson(ExportTraceServiceResponseSchema, response));
}
