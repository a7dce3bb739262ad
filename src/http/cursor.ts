/**
 * Opaque page cursors: a position plus an HMAC (keyed with the debug token) over the position, the
 * route and its filters — so a cursor from another query, or an edited one, is a clear 400.
 */
import { ApiError } from "./errors";

function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromBase64url(text: string): Uint8Array {
  const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(binary, (ch) => ch.charCodeAt(0));
}

async function sign(secret: string, material: string): Promise<string> {
  const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(material));
  return base64url(new Uint8Array(mac).slice(0, 16));
}

/** `scope` names the route and its filters; a cursor only continues the query that made it. */
export async function encodeCursor(secret: string, scope: unknown, position: unknown): Promise<string> {
  const body = JSON.stringify(position);
  return `${base64url(new TextEncoder().encode(body))}.${await sign(secret, JSON.stringify([scope, body]))}`;
}

export async function decodeCursor<T>(
  secret: string,
  scope: unknown,
  cursor: string,
  isPosition: (value: unknown) => value is T,
): Promise<T> {
  const invalid = () =>
    new ApiError("INVALID_CURSOR", "cursor is not one this endpoint returned for these filters; use next_cursor as given");
  const [encoded, mac, extra] = cursor.split(".");
  if (!encoded || !mac || extra !== undefined || cursor.length > 512) throw invalid();
  let body: string;
  try {
    body = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(fromBase64url(encoded));
  } catch {
    throw invalid();
  }
  // Not timing-sensitive in practice (the route is already behind the token), but compare fully anyway.
  const expected = await sign(secret, JSON.stringify([scope, body]));
  let diff = expected.length ^ mac.length;
  for (let i = 0; i < Math.min(expected.length, mac.length); i++) diff |= expected.charCodeAt(i) ^ mac.charCodeAt(i);
  if (diff !== 0) throw invalid();
  let position: unknown;
  try {
    position = JSON.parse(body);
  } catch {
    throw invalid();
  }
  if (!isPosition(position)) throw invalid();
  return position;
}
