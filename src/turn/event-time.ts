/**
 * The event-time bound (CONTRACT §5.1): an event time is a positive safe integer of milliseconds
 * since the epoch, at most MAX_CLOCK_SKEW_MS ahead of the clock — for the Worker's requests
 * (snapshots, runtime switches) and the rows the import tool reads.
 */
import { TurnFormatError } from "./turn";

/** CONTRACT §5.1: event times more than this far ahead of the clock are refused (the MAX_CLOCK_SKEW_MS default). */
export const DEFAULT_MAX_CLOCK_SKEW_MS = 300_000;

/** How far ahead of nowMs `atMs` is beyond the allowed skew, as a sentence; null when it is not. */
function futureProblem(field: string, atMs: number, nowMs: number, maxClockSkewMs: number, clock: string): string | null {
  return atMs > nowMs + maxClockSkewMs
    ? `${field} ${atMs} is ${atMs - nowMs} ms ahead of ${clock} (${nowMs}); at most ${maxClockSkewMs} ms of clock skew is accepted`
    : null;
}

/** The event-time bound (CONTRACT §5.1): refused when more than maxClockSkewMs ahead of nowMs. */
export function assertNotInFuture(field: string, atMs: number, nowMs: number, maxClockSkewMs: number): void {
  const problem = futureProblem(field, atMs, nowMs, maxClockSkewMs, "the server clock");
  if (problem) throw new TurnFormatError("EVENT_TIME_IN_FUTURE", problem);
}

/**
 * The rule for an event time wherever it comes from (the Worker's requests validate the first half
 * in their schema, epochMs): a positive safe integer of milliseconds since the epoch, and not more
 * than maxClockSkewMs ahead of nowMs — a time at 2^53 − 1 would stay the newest event forever and pin
 * a conversation's pointer. What is wrong, or null. (The import tool applies it to rows it imports.)
 */
export function eventTimeProblem(field: string, atMs: number, nowMs: number, maxClockSkewMs: number, clock = "the clock"): string | null {
  if (!Number.isSafeInteger(atMs) || atMs <= 0) {
    return `${field} must be a positive safe integer (milliseconds since the epoch), got ${atMs}`;
  }
  return futureProblem(field, atMs, nowMs, maxClockSkewMs, clock);
}
