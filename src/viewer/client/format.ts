/** How values read: times, counts, runtimes, JSON. Pure: no DOM. */

/** The largest |ms| a JavaScript Date holds (±100,000,000 days around the epoch). */
const DATE_LIMIT_MS = 8.64e15;

/**
 * A stored time as "2026-04-20 09:00:00.000 UTC". Any stored number renders: one a Date cannot hold
 * (say 9007199254740991) is shown as its raw value, "9007199254740991 ms", because toISOString throws
 * on it and one bad row must not blank the page.
 */
export function formatTime(ms: number | null | undefined): string {
  if (typeof ms !== "number" || Number.isNaN(ms)) return "—";
  if (!Number.isFinite(ms) || Math.abs(ms) > DATE_LIMIT_MS) return `${ms} ms`;
  return new Date(ms).toISOString().replace("T", " ").replace("Z", " UTC");
}

/** "1 turn", "3 turns". */
export const count = (n: number, noun: string) => `${n} ${noun}${n === 1 ? "" : "s"}`;

/** The unknown runtime is recorded as ''; it is shown as "unknown", never as the pointer. */
export const runtimeLabel = (runtimeKey: string) => (runtimeKey === "" ? "unknown" : runtimeKey);

export const inferenceLabel = (inferenceId: string) => `inference ${inferenceId === "" ? "unknown" : inferenceId}`;

export const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** A value as readable text: JSON indented, a string holding JSON parsed and indented, other strings as they are. */
export function pretty(value: unknown): string {
  if (value === undefined) return "(none)";
  if (typeof value === "string") {
    const trimmed = value.trim();
    if (trimmed.startsWith("{") || trimmed.startsWith("[")) {
      try {
        return JSON.stringify(JSON.parse(trimmed), null, 2);
      } catch {
        return value;
      }
    }
    return value;
  }
  return JSON.stringify(value, null, 2) ?? String(value);
}
