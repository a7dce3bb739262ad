import { createRoute, z } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import { authenticateWriter } from "../../http/auth";
import type { AppEnv } from "../../http/bindings";
import { writeRoutesCors } from "../../http/cors";
import { writeSession } from "../../http/sessions";
import { limitBody } from "../../http/json-body";
import { errorResponses, WRITE_AUTH_ERRORS, SERVER_ERRORS } from "../schemas";

/** The ingest token (servers, collectors) or a conversation token (a browser exporter). */
const writerSecurity: Array<Record<string, string[]>> = [{ ingestToken: [] }, { conversationToken: [] }];

/**
 * Before the handler, in order: CORS, credential and rate limits (before the body is read), the body
 * bounded as sent (413), then the D1 session. Content-Type (415), Content-Encoding and the decoded
 * size are the handler's (http/otlp-body.ts): the body is not JSON for the validators to read.
 */
const exportMiddleware: MiddlewareHandler<AppEnv>[] = [writeRoutesCors, authenticateWriter, limitBody, writeSession];

const PartialSuccessSchema = z
  .object({
    rejectedSpans: z.string().optional().openapi({ description: "Spans not recorded (int64, as a string in OTLP JSON)" }),
    errorMessage: z.string().optional().openapi({ description: "Why, span by span (trace id/span id: reason), the first ten" }),
  })
  .openapi("ExportTracePartialSuccess");

const ExportResponseJsonSchema = z
  .object({
    partialSuccess: PartialSuccessSchema.optional().openapi({
      description: "Present when a span was not recorded; absent when every span was accepted",
    }),
  })
  .openapi("ExportTraceServiceResponse", {
    description: "OTLP's ExportTraceServiceResponse (opentelemetry-proto v1.11.0), in the request's encoding",
  });

const binary = (description: string) => ({ schema: { type: "string" as const, format: "binary", description } });

export const exportTracesRoute = createRoute({
  method: "post",
  path: "/v1/traces",
  operationId: "exportTraces",
  tags: ["ingestion"],
  summary: "Record OpenTelemetry GenAI spans (OTLP/HTTP trace export) as turn snapshots",
  description:
    "OTLP/HTTP: an ExportTraceServiceRequest as binary protobuf or OTLP JSON, optionally gzip-compressed (Content-Encoding: gzip). Each inference span becomes one snapshot (docs/API.md, Recording from OpenTelemetry); spans whose ancestors have not arrived yet are held until they do. The answer is an ExportTraceServiceResponse in the request's encoding, with partial_success counting and explaining the spans not recorded. Errors are Turnstore's JSON envelope: OTLP exporters read only the status (and Retry-After).",
  security: writerSecurity,
  middleware: exportMiddleware,
  request: {
    body: {
      required: true,
      content: {
        // Plain OpenAPI schemas (not zod): the handler decodes the body itself.
        "application/x-protobuf": binary("opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest, binary protobuf"),
        "application/json": {
          schema: {
            type: "object" as const,
            description:
              "ExportTraceServiceRequest in OTLP JSON: trace and span ids as hex (base64 accepted), enums as integers, int64 as strings or numbers; unknown fields ignored",
            properties: { resourceSpans: { type: "array" as const, items: { type: "object" as const } } },
          },
        },
      },
    },
  },
  responses: {
    200: {
      description: "Accepted: every span recorded or held, except those partial_success counts",
      content: {
        "application/x-protobuf": binary("opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse, binary protobuf"),
        "application/json": { schema: ExportResponseJsonSchema },
      },
    },
    ...errorResponses(
      ...WRITE_AUTH_ERRORS,
      ...SERVER_ERRORS,
      "PAYLOAD_TOO_LARGE",
      "UNSUPPORTED_MEDIA_TYPE",
      "INVALID_OTLP",
      "TOO_MANY_HELD_SPANS",
      "TOO_MANY_BLOCKS",
      "TOO_MANY_ROWS",
      "SNAPSHOT_TOO_LARGE",
    ),
  },
});
