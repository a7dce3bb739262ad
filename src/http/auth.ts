/**
 * Who is calling, decided once per request before its body or parameters are validated
 * (CONTRACT §4, §5.3), and what that credential may touch:
 *
 * | credential | may |
 * |---|---|
 * | INGEST_TOKEN (servers) | write anything, read the latest turn of any conversation, mint conversation tokens — never with an Origin header (a browser) |
 * | a conversation token (src/tokens/conversation-token.ts) | write items of its conversation (and session, when bound), switch that conversation's runtime, read its latest turn |
 * | DEBUG_TOKEN | the debug routes and viewer |
 * | ADMIN_TOKEN | deleting conversations |
 *
 * A missing, wrong, forged or expired credential is 401. A valid conversation token on a route or
 * item it does not grant is 403 FORBIDDEN; so is the ingest token from a browser. Tokens are
 * compared in constant time (Hono's timingSafeEqual; Web Crypto's HMAC verify).
 */
import type { Context, MiddlewareHandler } from "hono";
import { timingSafeEqual } from "hono/utils/buffer";
import {
  looksLikeConversationToken,
  parseSigningKeys,
  SigningKeyError,
  TokenError,
  verifyConversationToken,
  type ConversationGrant,
  type SigningKey,
} from "../tokens/conversation-token";
import type { AppEnv, Principal } from "./bindings";
import { maxClockSkewMs } from "./config";
import { ApiError, noRoute } from "./errors";
import { enforceRateLimits } from "./rate-limit";

/** RFC 6750 token68 after "Bearer" (the scheme is case-insensitive), as Hono's bearer-auth reads it. */
const BEARER = /^Bearer +([A-Za-z0-9._~+/-]+=*) *$/i;

const unauthorized = (why = "missing or wrong bearer token: send Authorization: Bearer <token>") =>
  new ApiError("UNAUTHORIZED", why, { "WWW-Authenticate": 'Bearer realm="turnstore"' });

export const forbidden = (why: string) => new ApiError("FORBIDDEN", why);

function bearerToken(c: Context<AppEnv>): string | null {
  const header = c.req.header("authorization");
  return header === undefined ? null : (BEARER.exec(header)?.[1] ?? null);
}

/** TOKEN_SIGNING_KEY parsed once per isolate and value. */
let cachedKeys: { value: string; keys: SigningKey[] } | null = null;

export function signingKeys(env: Env): SigningKey[] {
  const value = (env as unknown as Record<string, string | undefined>).TOKEN_SIGNING_KEY ?? "";
  if (cachedKeys?.value === value) return cachedKeys.keys;
  try {
    const keys = parseSigningKeys(value);
    cachedKeys = { value, keys };
    return keys;
  } catch (error) {
    if (error instanceof SigningKeyError) throw new ApiError("NOT_CONFIGURED", error.message);
    throw error;
  }
}

/** A conversation token's grant, or 401 (also when conversation tokens are not configured). */
async function verifyGrant(env: Env, token: string): Promise<ConversationGrant> {
  let keys: SigningKey[];
  try {
    keys = signingKeys(env);
  } catch {
    throw unauthorized("conversation tokens are not enabled on this Worker (TOKEN_SIGNING_KEY is not configured)");
  }
  try {
    return await verifyConversationToken(keys, token, { maxClockSkewMs: maxClockSkewMs(env) });
  } catch (error) {
    if (error instanceof TokenError) throw unauthorized(`conversation token refused: ${error.message}`);
    throw error;
  }
}

/** The credential as a principal: the ingest token or a valid conversation token; else 401. */
async function principalOf(c: Context<AppEnv>, ingestToken: string): Promise<Principal> {
  const token = bearerToken(c);
  if (token === null) throw unauthorized();
  if (looksLikeConversationToken(token)) return { kind: "conversation", grant: await verifyGrant(c.env, token) };
  if (!(await timingSafeEqual(token, ingestToken))) throw unauthorized();
  if (c.req.header("origin") !== undefined) {
    throw forbidden(
      "the ingest token is a server credential and is refused from browsers (a request with an Origin header); give the page a conversation token from POST /api/tokens",
    );
  }
  return { kind: "ingest" };
}

function ingestToken(c: Context<AppEnv>): string {
  const token = c.env.INGEST_TOKEN;
  if (!token) throw new ApiError("NOT_CONFIGURED", "ingestion is disabled: INGEST_TOKEN is not configured");
  return token;
}

/** Write routes and the latest-turn read: the ingest token or a conversation token, rate-limited. */
export const authenticateWriter: MiddlewareHandler<AppEnv> = async (c, next) => {
  const principal = await principalOf(c, ingestToken(c));
  c.set("principal", principal);
  await enforceRateLimits(c, principal);
  await next();
};

/** Server-only routes (minting tokens): the ingest token, never a conversation token. */
export const requireIngestToken: MiddlewareHandler<AppEnv> = async (c, next) => {
  const principal = await principalOf(c, ingestToken(c));
  if (principal.kind !== "ingest")
    throw forbidden("a conversation token cannot do this; it grants writes to its own conversation and its latest-turn read only");
  c.set("principal", principal);
  await enforceRateLimits(c, principal);
  await next();
};

/**
 * Surfaces that do not exist while their token is unset (404 for every path and method under them,
 * so they cannot even be probed): the debug API and viewer (DEBUG_TOKEN) and the admin routes
 * (ADMIN_TOKEN). createApp registers one gate per path pattern, before any route.
 */
export const GATED_SURFACES: ReadonlyArray<{ token: "DEBUG_TOKEN" | "ADMIN_TOKEN"; paths: readonly string[] }> = [
  { token: "DEBUG_TOKEN", paths: ["/api/debug", "/api/debug/*", "/debug", "/debug/*"] },
  { token: "ADMIN_TOKEN", paths: ["/api/conversations/:conv_id"] },
];

export function surfaceGate(token: "DEBUG_TOKEN" | "ADMIN_TOKEN"): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (!(c.env as unknown as Record<string, string | undefined>)[token]) throw noRoute(c);
    await next();
  };
}

/**
 * A route guarded by one fixed token (DEBUG_TOKEN, ADMIN_TOKEN): unset → the route does not exist
 * (404); a valid conversation token → 403; anything else but the token → 401.
 */
function fixedTokenGuard(name: "DEBUG_TOKEN" | "ADMIN_TOKEN"): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const expected = (c.env as unknown as Record<string, string | undefined>)[name];
    if (!expected) throw noRoute(c);
    const token = bearerToken(c);
    if (token === null) throw unauthorized();
    if (await timingSafeEqual(token, expected)) return next();
    if (looksLikeConversationToken(token)) {
      await verifyGrant(c.env, token);
      throw forbidden(
        `a conversation token cannot use ${c.req.path}; it grants writes to its own conversation and its latest-turn read only`,
      );
    }
    throw unauthorized();
  };
}

export const requireDebugToken = fixedTokenGuard("DEBUG_TOKEN");
export const requireAdminToken = fixedTokenGuard("ADMIN_TOKEN");

/** The conversation (and session) a conversation token is bound to; null for the ingest token. */
export function grantOf(c: Context<AppEnv>): ConversationGrant | null {
  const principal = c.get("principal");
  return principal?.kind === "conversation" ? principal.grant : null;
}

/**
 * Checks what a request touches against a conversation token's grant: every (conv_id, session_id)
 * named by the request. Values that are not strings are left to validation (400); a string naming
 * another conversation or session is 403.
 */
export function assertWithinGrant(
  grant: ConversationGrant | null,
  targets: ReadonlyArray<{ convId: unknown; sessionId?: unknown; where: string }>,
): void {
  if (grant === null) return;
  for (const { convId, sessionId, where } of targets) {
    if (typeof convId === "string" && convId !== grant.convId) {
      throw forbidden(`${where}conv_id is not the conversation this token is for`);
    }
    if (grant.sessionId !== null && typeof sessionId === "string" && sessionId !== grant.sessionId) {
      throw forbidden(`${where}session_id is not the session this token is for`);
    }
  }
}
