/**
 * The chat page's backend, a Worker of its own (examples/webchat/wrangler.toml; not part of
 * Turnstore): serves the page (static assets from dist/) and gives each visitor a conversation token
 * for their conversation. The server credentials — INGEST_TOKEN or TOKEN_SIGNING_KEY — stay here;
 * the page only ever holds a token for one conversation, valid for TOKEN_TTL_SECONDS.
 *
 * TOKEN_SOURCE chooses how tokens are minted, both as an app backend would:
 * - "api" (default): POST /api/tokens on Turnstore with INGEST_TOKEN, one request per token;
 * - "offline": with `turnstore/tokens` and the Worker's TOKEN_SIGNING_KEY, no request at all.
 */
import { mintConversationToken, parseSigningKeys } from "turnstore/tokens";

interface Env {
  /** The page (wrangler.toml [assets]). */
  ASSETS: { fetch(request: Request): Promise<Response> };
  TURNSTORE_URL: string;
  TOKEN_SOURCE?: string;
  TOKEN_TTL_SECONDS?: string;
  /** Secret, for TOKEN_SOURCE=api. */
  INGEST_TOKEN?: string;
  /** Secret, for TOKEN_SOURCE=offline: the same value as Turnstore's. */
  TOKEN_SIGNING_KEY?: string;
}

/** What the page sends: the ids it has stored, or nothing for a new conversation. */
interface TokenRequest {
  conv_id?: unknown;
  session_id?: unknown;
}

const ID = /^[A-Za-z0-9._:-]{1,128}$/;

async function mint(env: Env, convId: string, sessionId: string): Promise<{ token: string; expires_at_ms: number }> {
  const ttlSeconds = Number(env.TOKEN_TTL_SECONDS ?? 3600);
  if (env.TOKEN_SOURCE === "offline") {
    const { token, expiresAtMs } = await mintConversationToken(parseSigningKeys(env.TOKEN_SIGNING_KEY), {
      convId,
      sessionId,
      ttlSeconds,
    });
    return { token, expires_at_ms: expiresAtMs };
  }
  const res = await fetch(`${env.TURNSTORE_URL}/api/tokens`, {
    method: "POST",
    headers: { authorization: `Bearer ${env.INGEST_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ conv_id: convId, session_id: sessionId, ttl_seconds: ttlSeconds }),
  });
  if (res.status !== 201) throw new Error(`POST /api/tokens answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as { token: string; expires_at_ms: number };
}

async function chatToken(request: Request, env: Env): Promise<Response> {
  const body = (await request.json().catch(() => ({}))) as TokenRequest;
  const given = typeof body.conv_id === "string" && typeof body.session_id === "string";
  if (given && !(ID.test(body.conv_id as string) && ID.test(body.session_id as string))) {
    return Response.json({ error: "conv_id and session_id must be 1–128 of A–Z a–z 0–9 . _ : -" }, { status: 400 });
  }
  // Your app decides here whether this visitor may write this conversation (its signed-in user owns
  // it). The example has no accounts: whoever knows a conversation's random id may continue it.
  const convId = given ? (body.conv_id as string) : `chat-${crypto.randomUUID().slice(0, 13)}`;
  const sessionId = given ? (body.session_id as string) : `web-${crypto.randomUUID().slice(0, 8)}`;
  try {
    const { token, expires_at_ms } = await mint(env, convId, sessionId);
    const minted_by = env.TOKEN_SOURCE === "offline" ? "offline" : "api";
    return Response.json(
      { conv_id: convId, session_id: sessionId, token, expires_at_ms, turnstore_url: env.TURNSTORE_URL, minted_by },
      { headers: { "cache-control": "no-store" } },
    );
  } catch (error) {
    return Response.json({ error: `could not mint a conversation token: ${(error as Error).message}` }, { status: 502 });
  }
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const { pathname } = new URL(request.url);
    if (pathname === "/api/chat-token" && request.method === "POST") return chatToken(request, env);
    if (pathname === "/healthz") return Response.json({ ok: true });
    // Files in dist/ are answered before the Worker runs; anything else is not found.
    return env.ASSETS.fetch(request);
  },
};
