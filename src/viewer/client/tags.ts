/** The small labels every page uses for a snapshot's own runtime and inference id. */
import type { Palette } from "./band";
import { h } from "./dom";
import { inferenceLabel, runtimeLabel } from "./format";

/** A runtime as a pill, coloured by the page's palette (plain without one); '' reads "unknown". */
export function runtimeTag(palette: Palette | null, runtimeKey: string): HTMLSpanElement {
  const colour = palette ? palette(runtimeKey) : "plain";
  return h(
    "span",
    {
      class: `tag ${colour}${runtimeKey === "" ? " unknown-text" : ""}`,
      title: runtimeKey === "" ? "runtime unknown (recorded as empty)" : `runtime ${runtimeKey}`,
      dataset: { runtime: runtimeKey },
    },
    runtimeLabel(runtimeKey),
  );
}

export function inferenceTag(inferenceId: string): HTMLSpanElement {
  return h(
    "span",
    { class: `inference${inferenceId === "" ? " unknown" : ""}`, dataset: { inference: inferenceId } },
    inferenceLabel(inferenceId),
  );
}
