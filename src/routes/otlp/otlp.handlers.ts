import type { RouteHandler } from "@hono/zod-openapi";
import type { AppEnv } from "../../http/bindings";
import { maxClockSkewMs } from "../../http/config";
import { ApiError } from "../../http/errors";
import { otlpEncodingOf, readOtlpBody } from "../../http/otlp-body";
import { isInferenceSpan } from "../../otlp/genai-mapping";
import { recordExport } from "../../otlp/recording";
import type { RefusedSpan } from "../../otlp/saving";
import { INGEST_SCOPE, conversationScope } from "../../otlp/scope";
import { chargeWork } from "../../http/rate-limit";
import {
  OTLP_CONTENT_TYPES,
  OtlpFormatError,
  OtlpTooLargeError,
  decodeExportRequest,
  encodeExportResponse,
  spansOf,
  type PartialSuccess,
} from "../../otlp/wire";
import { projectSnapshot } from "../../turn/snapshot";
import type { exportTracesRoute } from "./otlp.routes";

/** Reasons named in partial_success.error_message (the count covers them all). */
const REASONS_SHOWN = 10;

function partialSuccess(refused: readonly RefusedSpan[]): PartialSuccess | null {
  if (refused.length === 0) return null;
  const shown = refused.slice(0, REASONS_SHOWN).map((r) => `${r.traceId}/${r.spanId}: ${r.reason}`);
  const more = refused.length > REASONS_SHOWN ? `; and ${refused.length - REASONS_SHOWN} more` : "";
  return {
    rejectedSpans: refused.length,
    errorMessage: `${refused.length} span${refused.length === 1 ? "" : "s"} not recorded: ${shown.join("; ")}${more}`,
  };
}

export const exportTraces: RouteHandler<typeof exportTracesRoute, AppEnv> = async (c) => {
  const encoding = otlpEncodingOf(c);
  const bytes = await readOtlpBody(c);
  let request: ReturnType<typeof decodeExportRequest>;
  try {
    request = decodeExportRequest(bytes, encoding);
  } catch (error) {
    if (error instanceof OtlpTooLargeError) throw new ApiError("PAYLOAD_TOO_LARGE", error.message);
    if (error instanceof OtlpFormatError) throw new ApiError("INVALID_OTLP", error.message);
    throw error;
  }
  const { spans, unreadable } = spansOf(request);
  // Rate limits count work (CONTRACT §6.3): an export costs its inference spans, charged before anything is recorded.
  await chargeWork(c, spans.filter(isInferenceSpan).length);
  const principal = c.get("principal");
  const scope =
    principal.kind === "ingest"
      ? INGEST_SCOPE
      : conversationScope(principal.grant.convId, principal.grant.sessionId, principal.grant.issuedAtMs);
  const result = await recordExport(
    c.var.databases.recording(principal.kind === "conversation" ? principal.grant.placement : null),
    scope,
    spans,
    { nowMs: Date.now(), maxClockSkewMs: maxClockSkewMs(c.env) },
  );
  const refused: RefusedSpan[] = [...unreadable.map((u) => ({ ...u, reason: `${u.where}: ${u.problem}` })), ...result.refused];
  c.set("writeLog", {
    snapshots: result.saved.map((s) => ({ ...projectSnapshot(s.snapshot), outcome: s.outcome })),
    spans: spans.length + unreadable.length,
    held: result.held,
    released: result.released,
    refused: refused.length,
    rows_written: result.rowsWritten,
    rows_read: result.rowsRead,
    nodes_added: result.nodesAdded,
  });
  return c.body(encodeExportResponse(encoding, partialSuccess(refused)) as never, 200, { "Content-Type": OTLP_CONTENT_TYPES[encoding] });
};
