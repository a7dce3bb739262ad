/**
 * Rate limits with the Workers Rate Limiting binding (CONTRACT §5.3): limits live in wrangler.toml
 * ([[ratelimits]]), one binding per budget. Every write (and token mint) is counted before its body
 * is read, so refused requests count too and nothing is stored for a 429.
 *
 * | budget | key | default (wrangler.toml) |
 * |---|---|---|
 * | RATE_LIMIT_CONVERSATION | the conversation a conversation token is for | 100 requests / 10 s |
 * | RATE_LIMIT_ADDRESS | the client address of a request with a conversation token | 300 requests / 10 s |
 * | RATE_LIMIT_SERVER | the ingest token (the app backend) | 1000 requests / 10 s |
 *
 * RATE_LIMITS=off switches the checks off (load tests; a deployment that limits in front of the Worker).
 */
import type { Context } from "hono";
import type { Principal } from "./auth";
import type { AppEnv } from "./bindings";
import { ApiError } from "./errors";

/** Every binding here uses a 10-second period (the binding offers 10 or 60). */
export const RATE_LIMIT_PERIOD_SECONDS = 10;

type Budget = "RATE_LIMIT_CONVERSATION" | "RATE_LIMIT_ADDRESS" | "RATE_LIMIT_SERVER";

function limiter(env: Env, budget: Budget): RateLimit | undefined {
  return (env as unknown as Record<string, RateLimit | undefined>)[budget];
}

export async function enforceRateLimits(c: Context<AppEnv>, principal: Principal): Promise<void> {
  if ((c.env as unknown as Record<string, unknown>).RATE_LIMITS === "off") return;
  const checks: Array<[Budget, string]> =
    principal.kind === "ingest"
      ? [["RATE_LIMIT_SERVER", "ingest"]]
      : [
          ["RATE_LIMIT_CONVERSATION", `conv:${principal.grant.convId}`],
          ["RATE_LIMIT_ADDRESS", `ip:${c.req.header("cf-connecting-ip") ?? "unknown"}`],
        ];
  for (const [budget, key] of checks) {
    const binding = limiter(c.env, budget);
    if (!binding) throw new ApiError("NOT_CONFIGURED", `the rate limiting binding ${budget} is missing (see wrangler.toml)`);
    const { success } = await binding.limit({ key });
    if (!success) {
      const who =
        budget === "RATE_LIMIT_ADDRESS" ? "this client address" : budget === "RATE_LIMIT_SERVER" ? "the ingest token" : "this conversation";
      throw new ApiError("RATE_LIMITED", `too many requests for ${who}; retry after ${RATE_LIMIT_PERIOD_SECONDS} s`, {
        "Retry-After": String(RATE_LIMIT_PERIOD_SECONDS),
      });
    }
  }
}
