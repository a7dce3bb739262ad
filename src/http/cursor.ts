/**
 * Opaque page cursors: a position plus an HMAC (keyed with the debug token) over the position, the
 * route and its filters — so a cursor from another query, or an edited one, is a clear 400.
 *
 * A position carries ids (a conversation's in every debug list, so that ties on a time are broken
 * by id), so a cursor's length follows its ids'. The cap is computed for the longest position there
 * can be, so that every position a list can stop at has a cursor that is accepted back.
 */
import { MAX_ID_LENGTH } from "../turn/identifier";
import { ApiError } from "./errors";

/** The most ids one position carries: a snapshot's conv_id, session_id and turn_id (the debug lists use one). */
export const MAX_IDS_PER_POSITION = 3;
/**
 * The most UTF-8 bytes JSON.stringify writes for one UTF-16 unit of a string: 6, for a character
 * it escapes as \u001f. Ids following today's rules take at most 3 (a CJK character); the cap also
 * holds ids of old rows, whatever characters they have.
 */
const MAX_JSON_BYTES_PER_UNIT = 6;
/** Keys, safe integers and punctuation of a position around its ids. */
const POSITION_OVERHEAD_BYTES = 256;
const MAC_BYTES = 16;
const base64urlLength = (bytes: number) => Math.ceil((bytes * 4) / 3);

/** The longest cursor any position gives: base64url of the position's JSON, ".", base64url of the MAC. */
export const MAX_CURSOR_LENGTH =
  base64urlLength(MAX_IDS_PER_POSITION * MAX_ID_LENGTH * MAX_JSON_BYTES_PER_UNIT + POSITION_OVERHEAD_BYTES) +
  1 +
  base64urlLength(MAC_BYTES);

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
  return base64url(new Uint8Array(mac).slice(0, MAC_BYTES));
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
  if (!encoded || !mac || extra !== undefined || cursor.length > MAX_CURSOR_LENGTH) throw invalid();
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
