/**
 * Runtime colours and the runtime history band, as data: which colour class a runtime gets, and the
 * segments and legend the conversation page draws. Pure: no DOM.
 */
import type { RuntimeSegment } from "./api-types";
import { count, formatTime, runtimeLabel } from "./format";

/** Colour classes rt-0 … rt-7 in viewer.style.ts (a colour-blind-safe palette); '' is always rt-unknown. */
export const PALETTE_SIZE = 8;

export type Palette = (runtimeKey: string) => string;

/** One colour class per runtime key, in the order the page first meets them. */
export function makePalette(): Palette {
  const seen = new Map<string, number>();
  return (runtimeKey) => {
    if (runtimeKey === "") return "rt-unknown";
    let index = seen.get(runtimeKey);
    if (index === undefined) {
      index = seen.size % PALETTE_SIZE;
      seen.set(runtimeKey, index);
    }
    return `rt-${index}`;
  };
}

/**
 * Width of a segment per turn, in rem. A segment's flex basis is its turn count times this, and it
 * may grow by its turn count: a short history fills the band in proportion, a long one (a hundred
 * switches) keeps every segment at least SEGMENT_MIN_REM wide and the band scrolls sideways instead
 * of squeezing segments into slivers.
 */
export const REM_PER_TURN = 1.5;
export const SEGMENT_MIN_REM = 4;

export interface BandSegment {
  runtimeKey: string;
  label: string;
  colour: string;
  /** flex-grow */
  grow: number;
  /** flex-basis in rem (never below SEGMENT_MIN_REM) */
  basisRem: number;
  title: string;
}

export function bandSegments(history: readonly RuntimeSegment[], palette: Palette): BandSegment[] {
  return history.map((segment) => ({
    runtimeKey: segment.runtime_key,
    label: runtimeLabel(segment.runtime_key),
    colour: palette(segment.runtime_key),
    grow: segment.turn_count,
    basisRem: Math.max(SEGMENT_MIN_REM, segment.turn_count * REM_PER_TURN),
    title: [
      runtimeLabel(segment.runtime_key),
      count(segment.turn_count, "turn"),
      `${segment.first_turn_id} → ${segment.last_turn_id}`,
      `${formatTime(segment.from_ms)} → ${formatTime(segment.to_ms)}`,
    ].join(" · "),
  }));
}

export interface LegendEntry {
  runtimeKey: string;
  label: string;
  colour: string;
  turns: number;
  segments: number;
}

/** One legend entry per runtime (however many segments it has), in order of first appearance. */
export function legendEntries(history: readonly RuntimeSegment[], palette: Palette): LegendEntry[] {
  const entries = new Map<string, LegendEntry>();
  for (const segment of history) {
    const entry = entries.get(segment.runtime_key) ?? {
      runtimeKey: segment.runtime_key,
      label: runtimeLabel(segment.runtime_key),
      colour: palette(segment.runtime_key),
      turns: 0,
      segments: 0,
    };
    entry.turns += segment.turn_count;
    entry.segments += 1;
    entries.set(segment.runtime_key, entry);
  }
  return [...entries.values()];
}

/**
 * "inventory → planner", or "no turns yet". A long history keeps its first and last segments around
 * an ellipsis and says how many there are ("a → b → a → … → b → a (100 segments)").
 */
export function historySequence(history: readonly RuntimeSegment[], longest = 8): string {
  if (history.length === 0) return "no turns yet";
  const labels = history.map((segment) => runtimeLabel(segment.runtime_key));
  if (labels.length <= longest) return labels.join(" → ");
  return `${[...labels.slice(0, 3), "…", ...labels.slice(-2)].join(" → ")} (${count(labels.length, "segment")})`;
}
