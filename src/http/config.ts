/**
 * Worker vars with defaults, read and checked in one place. A var that is set but malformed is a
 * deployment mistake: the request answers 503 NOT_CONFIGURED naming it, rather than guessing.
 */
import { DEFAULT_MAX_CLOCK_SKEW_MS } from "../turn/event-time";
import { ApiError } from "./errors";

export { DEFAULT_MAX_CLOCK_SKEW_MS };

/** A non-negative integer var, or `fallback` when unset or empty. */
export function integerVar(env: Env, name: string, fallback: number): number {
  const raw = (env as unknown as Record<string, unknown>)[name];
  if (raw === undefined || raw === null || raw === "") return fallback;
  const text = String(raw).trim();
  if (!/^[0-9]{1,15}$/.test(text)) {
    throw new ApiError("NOT_CONFIGURED", `the Worker var ${name} must be a non-negative integer, got ${JSON.stringify(String(raw))}`);
  }
  return Number(text);
}

export const maxClockSkewMs = (env: Env) => integerVar(env, "MAX_CLOCK_SKEW_MS", DEFAULT_MAX_CLOCK_SKEW_MS);
