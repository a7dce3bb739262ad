/**
 * Rate limits with the Workers Rate Limiting binding (CONTRACT §5.3, §6.3): limits live in
 * wrangler.toml ([[ratelimits]]), one binding per budget, and count work — one unit per snapshot.
 * A request is counted once before its body is read (so refused requests count too and nothing is
 * stored for a 429), and a request of n snapshots is charged its n − 1 further units once its body
 * is read and bounded (limits.ts requestCost), before anything is hashed or written.
 *
 * | budget | key | default (wrangler.toml) |
 * |---|---|---|
 * | RATE_LIMIT_CONVERSATION | the conversation a conversation token is for | 100 snapshots / 10 s |
 * | RATE_LIMIT_ADDRESS | the client address of a request with a conversation token | 300 snapshots / 10 s |
 * | RATE_LIMIT_SERVER | the ingest token (the app backend) | 5000 snapshots / 10 s |
 *
 * RATE_LIMITS=off switches the checks off (load tests; a deployment that limits in front of the Worker).
 */
import type { Context } from "hono";
import type { AppEnv, Principal } from "./bindings";
import { ApiError } from "./errors";

/** Every binding here uses a 10-second period (the binding offers 10 or 60). */
export const RATE_LIMIT_PERIOD_SECONDS = 10;

type Budget = "RATE_LIMIT_CONVERSATION" | "RATE_LIMIT_ADDRESS" | "RATE_LIMIT_SERVER";

function limiter(env: Env, budget: Budget): RateLimit | undefined {
  return (env as unknown as Record<string, RateLimit | undefined>)[budget];
}

function budgetsOf(c: Context<AppEnv>, principal: Principal): Array<[Budget, string]> {
  return principal.kind === "ingest"
    ? [["RATE_LIMIT_SERVER", "ingest"]]
    : [
        ["RATE_LIMIT_CONVERSATION", `conv:${principal.grant.convId}`],
        ["RATE_LIMIT_ADDRESS", `ip:${c.req.header("cf-connecting-ip") ?? "unknown"}`],
      ];
}

/** Takes `units` from each of the caller's budgets; 429 when one of them runs out. */
async function charge(c: Context<AppEnv>, principal: Principal, units: number): Promise<void> {
  if ((c.env as unknown as Record<string, unknown>).RATE_LIMITS === "off" || units <= 0) return;
  for (const [budget, key] of budgetsOf(c, principal)) {
    const binding = limiter(c.env, budget);
    if (!binding) throw new ApiError("NOT_CONFIGURED", `the rate limiting binding ${budget} is missing (see wrangler.toml)`);
    // The binding takes one unit per call: a request's units are taken together.
    const answers = await Promise.all(Array.from({ length: units }, () => binding.limit({ key })));
    if (answers.some((a) => !a.success)) {
      const who =
        budget === "RATE_LIMIT_ADDRESS" ? "this client address" : budget === "RATE_LIMIT_SERVER" ? "the ingest token" : "this conversation";
      throw new ApiError(
        "RATE_LIMITED",
        `too many snapshots for ${who}${units > 1 ? ` (this request holds ${units + 1})` : ""}; retry after ${RATE_LIMIT_PERIOD_SECONDS} s`,
        { "Retry-After": String(RATE_LIMIT_PERIOD_SECONDS) },
      );
    }
  }
}

/** The request itself: one unit, before its body is read. */
export async function enforceRateLimits(c: Context<AppEnv>, principal: Principal): Promise<void> {
  await charge(c, principal, 1);
}

/** The rest of a request's work: a request of `snapshots` snapshots costs that many units in all. */
export async function chargeWork(c: Context<AppEnv>, snapshots: number): Promise<void> {
  await charge(c, c.get("principal"), snapshots - 1);
}
