/**
 * Request ids (CONTRACT §5.7, §6.3): every response carries an `X-Request-Id` the Worker generated
 * (a random UUID), never one the client chose — operators correlate log lines by it, so a client
 * must not be able to pick it, repeat another request's or write arbitrary text into it. A value
 * the client sent is only logged, as `client_request_id`, and only when it is short printable ASCII.
 */
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "./bindings";

export const REQUEST_ID_HEADER = "X-Request-Id";

/** Longest client-sent id that is logged (longer ones are cut to this many characters). */
export const MAX_CLIENT_REQUEST_ID_LENGTH = 128;

const PRINTABLE_ASCII = /^[\x20-\x7e]+$/;

/** The client's own id as it may be logged: its first 128 characters, printable ASCII only; else undefined. */
export function clientRequestId(sent: string | undefined): string | undefined {
  if (sent === undefined || !PRINTABLE_ASCII.test(sent)) return undefined;
  return sent.slice(0, MAX_CLIENT_REQUEST_ID_LENGTH);
}

/** The log fields naming a request: `request_id`, and `client_request_id` when the client sent a loggable one. */
export function requestLogFields(c: { get(key: "requestId"): string; get(key: "clientRequestId"): string | undefined }) {
  const client = c.get("clientRequestId");
  return { request_id: c.get("requestId"), ...(client === undefined ? {} : { client_request_id: client }) };
}

/** Sets the request's id (ours) and the client's (for logs), and puts ours on the final response. */
export const assignRequestId: MiddlewareHandler<AppEnv> = async (c, next) => {
  const id = crypto.randomUUID();
  c.set("requestId", id);
  c.set("clientRequestId", clientRequestId(c.req.header(REQUEST_ID_HEADER)));
  await next();
  // Every response carries it — error envelopes, 404/405, refused preflights, pages and assets too,
  // whichever code built the Response (the id is set on the final one).
  if (c.res.headers.get(REQUEST_ID_HEADER) === id) return;
  try {
    c.res.headers.set(REQUEST_ID_HEADER, id);
  } catch {
    // Immutable headers (a Response passed through from elsewhere): copy it.
    c.res = new Response(c.res.body, c.res);
    c.res.headers.set(REQUEST_ID_HEADER, id);
  }
};
