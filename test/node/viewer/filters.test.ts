/**
 * The conversation page's filter state (src/viewer/client/filters.ts) and the API URLs the viewer
 * reads (src/viewer/client/api-paths.ts): filters round-trip through the query string, the phase
 * filter offers the phases present (custom ones too), and every list is read in bounded pages.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  conversationsUrl,
  conversationUrl,
  PHASE_SCAN,
  snapshotSummariesUrl,
  SNAPSHOTS_PAGE,
  TURN_SNAPSHOTS_PAGE,
  turnUrl,
} from "../../../src/viewer/client/api-paths";
import {
  ALL_PHASES,
  ALL_RUNTIMES,
  filtersSearch,
  NO_FILTERS,
  phaseFromOption,
  phaseOptions,
  readFilters,
  runtimeFromOption,
  runtimeOptions,
  runtimeOptionValue,
} from "../../../src/viewer/client/filters";

describe("filters in the query string", () => {
  it("reads phase and runtime; runtime= alone means the unknown runtime", () => {
    expect(readFilters("")).toEqual(NO_FILTERS);
    expect(readFilters("?phase=final&runtime=planner")).toEqual({ phase: "final", runtimeKey: "planner" });
    expect(readFilters("?runtime=")).toEqual({ phase: null, runtimeKey: "" });
    expect(readFilters("?phase=")).toEqual(NO_FILTERS);
  });

  it("writes them back the same way", () => {
    expect(filtersSearch(NO_FILTERS)).toBe("");
    expect(filtersSearch({ phase: null, runtimeKey: "inventory" })).toBe("?runtime=inventory");
    expect(filtersSearch({ phase: "final", runtimeKey: "" })).toBe("?phase=final&runtime=");
  });

  it("round-trips any phase and runtime, however odd", () => {
    const text = fc.string({ unit: "grapheme", maxLength: 12 });
    fc.assert(
      fc.property(
        fc.option(
          text.filter((p) => p !== ""),
          { nil: null },
        ),
        fc.option(text, { nil: null }),
        (phase, runtimeKey) => {
          expect(readFilters(filtersSearch({ phase, runtimeKey }))).toEqual({ phase, runtimeKey });
        },
      ),
    );
  });

  it("maps select values to filters, the unknown runtime included", () => {
    expect(phaseFromOption(ALL_PHASES)).toBeNull();
    expect(phaseFromOption("failed")).toBe("failed");
    expect(runtimeFromOption(ALL_RUNTIMES)).toBeNull();
    expect(runtimeFromOption(runtimeOptionValue(""))).toBe("");
    expect(runtimeFromOption(runtimeOptionValue("planner"))).toBe("planner");
  });
});

describe("filter options", () => {
  it("offers the phases present, custom ones included, named ones in lifecycle order", () => {
    expect(phaseOptions(["final", "failed", "pre_inference", "final", "aborted"], null)).toEqual([
      "pre_inference",
      "final",
      "aborted",
      "failed",
    ]);
    expect(phaseOptions(["final"], null)).toEqual(["final"]);
  });

  it("keeps the selected phase even when none of the loaded snapshots has it", () => {
    expect(phaseOptions([], "post_tools")).toEqual(["post_tools"]);
    expect(phaseOptions(["final"], "retry")).toEqual(["final", "retry"]);
  });

  it("offers the runtimes of the history, then others seen, unknown and the selected one, each once", () => {
    expect(runtimeOptions(["inventory", "planner", "inventory"], ["planner", "returns"], null)).toEqual([
      "inventory",
      "planner",
      "returns",
      "",
    ]);
    expect(runtimeOptions([], [], "gone")).toEqual(["", "gone"]);
  });
});

describe("debug API URLs", () => {
  it("pages the conversation list 50 at a time", () => {
    expect(conversationsUrl(null)).toBe("/api/debug/conversations?limit=50");
    expect(conversationsUrl("c/1+2")).toBe("/api/debug/conversations?limit=50&cursor=c%2F1%2B2");
  });

  it("encodes ids in paths", () => {
    expect(conversationUrl("conv/1 %?")).toBe("/api/debug/conversations/conv%2F1%20%25%3F");
    expect(turnUrl("c/1", "s?2", "t#3", null)).toBe(`/api/debug/turn/c%2F1/s%3F2/t%233?limit=${TURN_SNAPSHOTS_PAGE}`);
    expect(turnUrl("c", "s", "t", "next")).toBe(`/api/debug/turn/c/s/t?limit=${TURN_SNAPSHOTS_PAGE}&cursor=next`);
  });

  it("reads a conversation's snapshots as summaries, in pages, with the filters", () => {
    expect(snapshotSummariesUrl("c 1", NO_FILTERS, null)).toBe(`/api/debug/turns?conv_id=c%201&payload=none&limit=${SNAPSHOTS_PAGE}`);
    expect(snapshotSummariesUrl("c", { phase: "failed", runtimeKey: "" }, "k", 7)).toBe(
      "/api/debug/turns?conv_id=c&payload=none&limit=7&phase=failed&runtime_key=&cursor=k",
    );
    expect(snapshotSummariesUrl("c", NO_FILTERS, null, PHASE_SCAN)).toContain("limit=1000");
  });

  it("never asks for more than the API's largest page", () => {
    expect(Math.max(SNAPSHOTS_PAGE, TURN_SNAPSHOTS_PAGE, PHASE_SCAN)).toBeLessThanOrEqual(1000);
  });
});
