/**
 * The body of an OTLP/HTTP export (POST /v1/traces), after limitBody (json-body.ts) has bounded it
 * to MAX_BODY_BYTES as sent: its encoding from Content-Type (415 for anything but protobuf and JSON),
 * and its bytes — gunzipped when Content-Encoding is gzip, reading at most MAX_OTLP_DECODED_BYTES of
 * output: a gzip bomb is refused with 413 having inflated no more than that (the stream is
 * cancelled there). A corrupt gzip stream is 400.
 */
import type { Context } from "hono";
import type { OtlpEncoding } from "../otlp/wire";
import type { AppEnv } from "./bindings";
import { ApiError } from "./errors";
import { MAX_BODY_BYTES } from "./json-body";

/** Largest body once decompressed: the same 4 MiB as any write request. */
export const MAX_OTLP_DECODED_BYTES = MAX_BODY_BYTES;

const PROTOBUF = /^application\/(x-)?protobuf\s*(;|$)/i;
const JSON_TYPE = /^application\/json\s*(;|$)/i;

export function otlpEncodingOf(c: Context<AppEnv>): OtlpEncoding {
  const type = c.req.header("content-type") ?? "";
  if (PROTOBUF.test(type)) return "protobuf";
  if (JSON_TYPE.test(type)) return "json";
  throw new ApiError(
    "UNSUPPORTED_MEDIA_TYPE",
    `Content-Type must be application/x-protobuf or application/json (OTLP/HTTP), got ${JSON.stringify(type || "(none)")}`,
  );
}

const tooLarge = () =>
  new ApiError(
    "PAYLOAD_TOO_LARGE",
    `the request body is larger than ${MAX_OTLP_DECODED_BYTES} bytes (4 MiB) decompressed; export smaller batches`,
  );

/** Reads `stream` to its end, or throws 413 (cancelling it) once more than `max` bytes came out. */
async function readBounded(stream: ReadableStream<Uint8Array>, max: number): Promise<Uint8Array> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    let next: ReadableStreamReadResult<Uint8Array>;
    try {
      next = await reader.read();
    } catch {
      throw new ApiError("INVALID_OTLP", "the body is not valid gzip (Content-Encoding: gzip)");
    }
    if (next.done) break;
    size += next.value.byteLength;
    if (size > max) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge();
    }
    chunks.push(next.value);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

/** The body's bytes, decompressed (gzip) or as sent (identity); 415 for another Content-Encoding. */
export async function readOtlpBody(c: Context<AppEnv>): Promise<Uint8Array> {
  const encoding = (c.req.header("content-encoding") ?? "identity").trim().toLowerCase();
  // Read outside any try: limitBody's 413 surfaces as a read error and must propagate as is.
  const sent = new Uint8Array(await c.req.arrayBuffer());
  if (encoding === "identity" || encoding === "") return sent;
  if (encoding !== "gzip" && encoding !== "x-gzip") {
    throw new ApiError("UNSUPPORTED_MEDIA_TYPE", `Content-Encoding must be gzip or identity, got ${JSON.stringify(encoding)}`);
  }
  const inflated = new Blob([sent]).stream().pipeThrough(new DecompressionStream("gzip"));
  return readBounded(inflated, MAX_OTLP_DECODED_BYTES);
}
