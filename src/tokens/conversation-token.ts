/**
 * Conversation tokens (CONTRACT §5.3): signed, stateless, expiring credentials a chat page may hold.
 * A token authorizes writes for one conversation (and one session when bound) and the latest-turn
 * read of that conversation — nothing else.
 *
 * Pure Web Crypto (HMAC-SHA-256), no Worker-only API: an app backend can import this module to mint
 * tokens offline (Node 20+, Deno, Bun, Workers) with the same TOKEN_SIGNING_KEY as the Worker.
 *
 * Format (docs/API.md, "Browser clients"):
 *
 *     tsk1.<key id>.<payload>.<signature>
 *
 * payload = base64url(JSON {"c": conv_id, "s": session_id (optional), "d": the D1 binding the conversation
 * lives in (optional; the mint route adds it when there are several databases), "exp": expires_at_ms,
 * "iat": issued_at_ms}),
 * signature = base64url(HMAC-SHA-256(secret of <key id>, "tsk1.<key id>.<payload>")), all without padding.
 *
 * TOKEN_SIGNING_KEY lists keys as `<key id>:<secret>` separated by commas; the first signs, every
 * listed key verifies. Rotation: add the new key after the old one (it verifies), make it first (it
 * signs), and drop the old one once the longest lifetime (24 h) has passed.
 */

export const TOKEN_PREFIX = "tsk1";
export const DEFAULT_TTL_SECONDS = 3600;
export const MAX_TTL_SECONDS = 86_400;
/** Secrets shorter than this are refused: HMAC-SHA-256 wants at least 256 bits of key. */
export const MIN_SECRET_LENGTH = 32;

const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

export interface SigningKey {
  id: string;
  secret: string;
}

export interface ConversationGrant {
  convId: string;
  /**
   * The D1 binding the conversation was placed on when the token was minted (CONTRACT §6.4), so a
   * write needs no directory lookup; null when minted without one (offline, or one database). A hint:
   * a database the conversation has left refuses the write, and it is routed again.
   */
  placement: string | null;
  /** null: any session of the conversation. */
  sessionId: string | null;
  expiresAtMs: number;
  issuedAtMs: number;
  keyId: string;
}

/** TOKEN_SIGNING_KEY is unset or malformed. */
export class SigningKeyError extends Error {
  override name = "SigningKeyError";
}

/** A token that is not one of ours, forged, signed with a retired key, or expired. */
export class TokenError extends Error {
  override name = "TokenError";
}

/** Parses TOKEN_SIGNING_KEY: `<key id>:<secret>[,<key id>:<secret>…]`, the first signs. */
export function parseSigningKeys(value: string | undefined): SigningKey[] {
  if (!value || value.trim() === "") throw new SigningKeyError("TOKEN_SIGNING_KEY is not configured");
  const keys = value.split(",").map((entry) => {
    const at = entry.indexOf(":");
    const id = entry.slice(0, at).trim();
    const secret = entry.slice(at + 1).trim();
    if (at <= 0 || !KEY_ID.test(id))
      throw new SigningKeyError("TOKEN_SIGNING_KEY entries must be <key id>:<secret>, key ids of 1–32 letters, digits, _ or -");
    if (secret.length < MIN_SECRET_LENGTH)
      throw new SigningKeyError(`TOKEN_SIGNING_KEY secrets must be at least ${MIN_SECRET_LENGTH} characters (key ${id})`);
    return { id, secret };
  });
  if (new Set(keys.map((k) => k.id)).size !== keys.length) throw new SigningKeyError("TOKEN_SIGNING_KEY lists a key id twice");
  return keys;
}

const utf8 = new TextEncoder();

function toBase64url(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromBase64url(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(binary, (ch) => ch.charCodeAt(0));
}

/**
 * The bytes of a part spelled canonically — base64url without padding, the unused low bits of the
 * last character zero — or null. atob ignores those bits, so up to four spellings (sixteen, for a
 * part of length 4n+2) decode to the same bytes; only the one that re-encodes to itself is accepted,
 * so a token has exactly one spelling.
 */
function canonicalBytes(text: string): Uint8Array<ArrayBuffer> | null {
  let bytes: Uint8Array<ArrayBuffer>;
  try {
    bytes = fromBase64url(text);
  } catch {
    return null;
  }
  return toBase64url(bytes) === text ? bytes : null;
}

const cryptoKeys = new Map<string, Promise<CryptoKey>>();

function hmacKey(secret: string): Promise<CryptoKey> {
  let key = cryptoKeys.get(secret);
  if (!key) {
    key = crypto.subtle.importKey("raw", utf8.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
    cryptoKeys.set(secret, key);
  }
  return key;
}

export interface MintOptions {
  convId: string;
  sessionId?: string | null;
  /** Lifetime, 1..MAX_TTL_SECONDS (default DEFAULT_TTL_SECONDS). */
  ttlSeconds?: number;
  /** The clock (ms since the epoch); default Date.now(). */
  nowMs?: number;
  /** The D1 binding the conversation lives in (the Worker's mint route sets it when there are several). */
  placement?: string | null;
}

/** Mints a token with the first key of `keys` (parseSigningKeys of TOKEN_SIGNING_KEY). */
export async function mintConversationToken(
  keys: readonly SigningKey[],
  options: MintOptions,
): Promise<{ token: string; expiresAtMs: number }> {
  const key = keys[0];
  if (!key) throw new SigningKeyError("no signing key");
  const ttl = options.ttlSeconds ?? DEFAULT_TTL_SECONDS;
  if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_TTL_SECONDS)
    throw new RangeError(`ttlSeconds must be an integer 1..${MAX_TTL_SECONDS}`);
  const issuedAtMs = options.nowMs ?? Date.now();
  const expiresAtMs = issuedAtMs + ttl * 1000;
  const claims: Record<string, unknown> = { c: options.convId, exp: expiresAtMs, iat: issuedAtMs };
  if (options.sessionId !== undefined && options.sessionId !== null) claims.s = options.sessionId;
  if (options.placement) claims.d = options.placement;
  const signed = `${TOKEN_PREFIX}.${key.id}.${toBase64url(utf8.encode(JSON.stringify(claims)))}`;
  const signature = new Uint8Array(await crypto.subtle.sign("HMAC", await hmacKey(key.secret), utf8.encode(signed)));
  return { token: `${signed}.${toBase64url(signature)}`, expiresAtMs };
}

/** True when `token` has the shape of a conversation token (not a proof of anything). */
export function looksLikeConversationToken(token: string): boolean {
  return token.startsWith(`${TOKEN_PREFIX}.`);
}

/**
 * The default of MAX_CLOCK_SKEW_MS (src/turn/event-time.ts DEFAULT_MAX_CLOCK_SKEW_MS): how far ahead of
 * the clock `iat` may be. Restated here so that an app backend minting offline imports this module alone.
 */
export const DEFAULT_TOKEN_CLOCK_SKEW_MS = 300_000;

export interface VerifyOptions {
  /** The clock (ms since the epoch); default Date.now(). */
  nowMs?: number;
  /** How far ahead of nowMs a token's `iat` may be (the Worker's MAX_CLOCK_SKEW_MS); default 5 minutes. */
  maxClockSkewMs?: number;
}

/**
 * Verifies a token against `keys` (constant-time HMAC verification by Web Crypto), its spelling
 * and its times. Throws TokenError with a reason that never echoes the token. Refused besides a
 * bad signature or an expiry in the past (CONTRACT §6.3):
 *  - a signature or payload not spelled canonically (base64url, no padding, unused bits zero);
 *  - a lifetime `exp − iat` beyond MAX_TTL_SECONDS, what the mint route allows — a key holder
 *    minting offline cannot hand out a token that lives for years;
 *  - an `iat` more than maxClockSkewMs ahead of the clock (which would also stretch the lifetime).
 */
export async function verifyConversationToken(
  keys: readonly SigningKey[],
  token: string,
  options: VerifyOptions = {},
): Promise<ConversationGrant> {
  const nowMs = options.nowMs ?? Date.now();
  const maxClockSkewMs = options.maxClockSkewMs ?? DEFAULT_TOKEN_CLOCK_SKEW_MS;
  const parts = token.split(".");
  if (parts.length !== 4 || parts[0] !== TOKEN_PREFIX || !parts.slice(1).every((p) => BASE64URL.test(p!))) {
    throw new TokenError("not a conversation token");
  }
  const [, keyId, payload, signature] = parts as [string, string, string, string];
  const key = keys.find((k) => k.id === keyId);
  if (!key) throw new TokenError("the token's signing key is not (or no longer) configured");
  const signatureBytes = canonicalBytes(signature);
  if (!signatureBytes) throw new TokenError("the signature is not spelled canonically (base64url without padding, unused bits zero)");
  const valid = await crypto.subtle.verify(
    "HMAC",
    await hmacKey(key.secret),
    signatureBytes,
    utf8.encode(`${TOKEN_PREFIX}.${keyId}.${payload}`),
  );
  if (!valid) throw new TokenError("bad signature");
  const payloadBytes = canonicalBytes(payload);
  if (!payloadBytes) throw new TokenError("the payload is not spelled canonically (base64url without padding, unused bits zero)");
  let claims: { c?: unknown; s?: unknown; d?: unknown; exp?: unknown; iat?: unknown };
  try {
    claims = JSON.parse(new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(payloadBytes));
  } catch {
    throw new TokenError("malformed payload");
  }
  if (
    typeof claims.c !== "string" ||
    !Number.isSafeInteger(claims.exp) ||
    !Number.isSafeInteger(claims.iat) ||
    (claims.s !== undefined && typeof claims.s !== "string") ||
    (claims.d !== undefined && typeof claims.d !== "string")
  ) {
    throw new TokenError("malformed payload");
  }
  const exp = claims.exp as number;
  const iat = claims.iat as number;
  if (iat > nowMs + maxClockSkewMs) {
    throw new TokenError(
      `the token is issued in the future (iat is ${iat - nowMs} ms ahead of the clock; at most ${maxClockSkewMs} ms of skew is accepted)`,
    );
  }
  if (exp - iat > MAX_TTL_SECONDS * 1000 || exp < iat) {
    throw new TokenError(`the token's lifetime (exp − iat) must be 0..${MAX_TTL_SECONDS} s, what POST /api/tokens mints; mint a new one`);
  }
  if (exp <= nowMs) throw new TokenError("the token has expired; mint a new one");
  return {
    convId: claims.c,
    sessionId: (claims.s as string | undefined) ?? null,
    placement: (claims.d as string | undefined) ?? null,
    expiresAtMs: claims.exp as number,
    issuedAtMs: claims.iat as number,
    keyId,
  };
}
