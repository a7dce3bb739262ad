/**
 * The conversation page's filters and where they live: the page's query string (?phase=final&runtime=planner;
 * "runtime=" alone means the unknown runtime ''), and the values of the two <select>s. Pure: no DOM.
 */

export interface SnapshotFilters {
  /** Only snapshots of this phase; null for every phase. */
  phase: string | null;
  /** Only snapshots with this runtime_key ('' = unknown); null for every runtime. */
  runtimeKey: string | null;
}

export const NO_FILTERS: SnapshotFilters = { phase: null, runtimeKey: null };

export function readFilters(search: string): SnapshotFilters {
  const params = new URLSearchParams(search);
  return { phase: params.get("phase") || null, runtimeKey: params.get("runtime") };
}

/** The query string for these filters ("" when there are none), as the page's own URL keeps them. */
export function filtersSearch(filters: SnapshotFilters): string {
  const params = new URLSearchParams();
  if (filters.phase !== null) params.set("phase", filters.phase);
  if (filters.runtimeKey !== null) params.set("runtime", filters.runtimeKey);
  const text = params.toString();
  return text ? `?${text}` : "";
}

// <select> values. The phase select uses "" for "all" (a phase is never empty). The runtime select
// needs a value for the unknown runtime '' too, so it uses "*" for "all" and "=" + key otherwise.
export const ALL_PHASES = "";
export const ALL_RUNTIMES = "*";
export const phaseFromOption = (value: string): string | null => (value === ALL_PHASES ? null : value);
export const runtimeOptionValue = (runtimeKey: string) => `=${runtimeKey}`;
export const runtimeFromOption = (value: string): string | null => (value.startsWith("=") ? value.slice(1) : null);

/** The contract's named phases in lifecycle order: only an order for the list, never a list of what exists. */
const LIFECYCLE = ["draft", "pre_inference", "post_inference", "post_tools", "final"];

/**
 * The phases the phase filter offers: those seen in the conversation (any name, e.g. "failed") plus
 * the one selected, each once; named phases in lifecycle order, then the others alphabetically.
 */
export function phaseOptions(seen: Iterable<string>, selected: string | null): string[] {
  const phases = new Set(seen);
  if (selected !== null) phases.add(selected);
  const rank = (phase: string) => {
    const index = LIFECYCLE.indexOf(phase);
    return index === -1 ? LIFECYCLE.length : index;
  };
  return [...phases].sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * The runtimes the runtime filter offers: those of the runtime history (in its order), then any other
 * seen on a snapshot, then unknown ('') and the one selected, each once.
 */
export function runtimeOptions(history: Iterable<string>, seen: Iterable<string>, selected: string | null): string[] {
  const keys = new Set([...history, ...seen, ""]);
  if (selected !== null) keys.add(selected);
  return [...keys];
}
