/**
 * /debug/c/:conv_id: the conversation's facts, its runtime history band, and its snapshots newest
 * first, grouped by turn. The list reads summaries only (payload=none: no YAML, a block count), 100 at a
 * time; full snapshots are read on the turn page, for one turn.
 */
import { turnHref } from "../../links";
import { debugApi, NotFound } from "../api";
import type { ConversationDetail, SnapshotSummary } from "../api-types";
import { PHASE_SCAN } from "../api-paths";
import { bandSegments, historySequence, legendEntries, makePalette, type Palette } from "../band";
import { h, shellElement, type Child } from "../dom";
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
  type SnapshotFilters,
} from "../filters";
import { count, formatTime, runtimeLabel } from "../format";
import { run, setStatus, showNotFound } from "../page";
import { inferenceTag, runtimeTag } from "../tags";

function renderFacts(conversation: ConversationDetail, palette: Palette): void {
  const rows: Array<[string, Child | Child[]]> = [
    ["Session", h("code", { class: "id" }, conversation.session_id)],
    ["Current runtime", [runtimeTag(palette, conversation.resolved_runtime_key), h("span", { class: "muted" }, " (pointer)")]],
    ["History", h("span", { id: "history-sequence" }, historySequence(conversation.runtime_history))],
    ["Turns", `${conversation.turn_count} (${count(conversation.snapshot_count, "snapshot")})`],
    ["Created", formatTime(conversation.created_at_ms)],
    ["Last activity", formatTime(conversation.last_activity_ms)],
  ];
  shellElement("facts", HTMLElement).replaceChildren(...rows.flatMap(([label, value]) => [h("dt", null, label), h("dd", null, value)]));
}

function renderBand(conversation: ConversationDetail, palette: Palette): void {
  const runtimeHistory = conversation.runtime_history;
  const band = shellElement("band", HTMLDivElement);
  const axis = shellElement("band-axis", HTMLDivElement);
  const legend = shellElement("legend", HTMLUListElement);
  if (runtimeHistory.length === 0) {
    band.replaceChildren(h("div", { class: "seg rt-unknown" }, "no turns yet"));
    axis.replaceChildren();
    legend.replaceChildren();
    return;
  }
  band.replaceChildren(
    ...bandSegments(runtimeHistory, palette).map((segment) => {
      const node = h(
        "div",
        { class: `seg ${segment.colour}`, role: "listitem", dataset: { runtime: segment.runtimeKey }, title: segment.title },
        segment.label,
      );
      // Width through the CSSOM, which the CSP allows (a style attribute it would not).
      node.style.flex = `${segment.grow} 0 ${segment.basisRem}rem`;
      return node;
    }),
  );
  const first = runtimeHistory[0]!;
  const last = runtimeHistory[runtimeHistory.length - 1]!;
  // A band wider than the page says so, between the times of its two ends.
  const scrolls = band.scrollWidth > band.clientWidth;
  axis.replaceChildren(h("span", null, formatTime(first.from_ms)));
  if (scrolls) axis.append(h("span", { class: "segment-count" }, `${count(runtimeHistory.length, "segment")} · scroll sideways`));
  axis.append(h("span", null, formatTime(last.to_ms)));
  legend.replaceChildren(
    ...legendEntries(runtimeHistory, palette).map((entry) =>
      h("li", { dataset: { runtime: entry.runtimeKey } }, [
        h("span", { class: `swatch ${entry.colour}` }),
        h("span", { class: entry.runtimeKey === "" ? "unknown-text" : "mono" }, entry.label),
        h("span", { class: "muted" }, `${count(entry.turns, "turn")}, ${count(entry.segments, "segment")}`),
      ]),
    ),
  );
}

/** Fills a <select> with options, keeping the value it should show. */
function fillSelect(select: HTMLSelectElement, options: Array<[value: string, label: string]>, value: string): void {
  select.replaceChildren(...options.map(([optionValue, label]) => h("option", { value: optionValue }, label)));
  select.value = value;
}

/** The conversation, or null once the page says it is not found. */
async function loadConversation(convId: string): Promise<ConversationDetail | null> {
  try {
    return await debugApi.conversation(convId);
  } catch (error) {
    if (error instanceof NotFound) {
      showNotFound(`Conversation “${convId}”`, error);
      return null;
    }
    throw error;
  }
}

/**
 * The phase and runtime selects: they offer what the conversation holds — its runtime history, and
 * the phases and runtimes of the snapshots seen so far — and show the filters in force.
 */
function filterSelects(conversation: ConversationDetail, current: () => SnapshotFilters) {
  const phaseSelect = shellElement("filter-phase", HTMLSelectElement);
  const runtimeSelect = shellElement("filter-runtime", HTMLSelectElement);
  const seenPhases = new Set<string>();
  const seenRuntimes = new Set<string>();
  const historyRuntimes = conversation.runtime_history.map((segment) => segment.runtime_key);
  const fill = () => {
    const filters = current();
    fillSelect(
      phaseSelect,
      [[ALL_PHASES, "all"], ...phaseOptions(seenPhases, filters.phase).map((phase): [string, string] => [phase, phase])],
      filters.phase ?? ALL_PHASES,
    );
    fillSelect(
      runtimeSelect,
      [
        [ALL_RUNTIMES, "all"],
        ...runtimeOptions(historyRuntimes, seenRuntimes, filters.runtimeKey).map((key): [string, string] => [
          runtimeOptionValue(key),
          runtimeLabel(key),
        ]),
      ],
      filters.runtimeKey === null ? ALL_RUNTIMES : runtimeOptionValue(filters.runtimeKey),
    );
  };
  /** Snapshots seen: the selects are filled again only when they bring a new phase or runtime. */
  const see = (items: readonly SnapshotSummary[]) => {
    const before = seenPhases.size + seenRuntimes.size;
    for (const item of items) {
      seenPhases.add(item.phase);
      seenRuntimes.add(item.runtime_key);
    }
    if (seenPhases.size + seenRuntimes.size !== before) fill();
  };
  return { phaseSelect, runtimeSelect, fill, see };
}

/** The snapshot list, newest first: consecutive snapshots of one turn share the turn's group. */
function turnList(list: HTMLOListElement, conversation: ConversationDetail, palette: Palette) {
  let lastGroup: { key: string; snaps: HTMLUListElement } | null = null;
  const append = (item: SnapshotSummary) => {
    const groupKey = `${item.session_id}\u0000${item.turn_id}`;
    if (!lastGroup || lastGroup.key !== groupKey) {
      const snaps = h("ul", { class: "snaps" });
      const head = h("div", { class: "turn-head" }, [
        h("a", { href: turnHref(item.conv_id, item.session_id, item.turn_id), class: "mono" }, item.turn_id),
        item.session_id !== conversation.session_id ? h("span", { class: "muted" }, `session ${item.session_id}`) : null,
      ]);
      list.append(h("li", { class: "turn", dataset: { turnId: item.turn_id } }, [head, snaps]));
      lastGroup = { key: groupKey, snaps };
    }
    lastGroup.snaps.append(
      h("li", { class: "snap", dataset: { phase: item.phase } }, [
        h("span", { class: "phase" }, item.phase),
        h("span", { class: "time" }, formatTime(item.created_at_ms)),
        runtimeTag(palette, item.runtime_key),
        inferenceTag(item.inference_id),
        h("span", { class: "blocks-count" }, item.block_count === undefined ? "" : count(item.block_count, "block")),
      ]),
    );
  };
  const clear = () => {
    list.replaceChildren();
    lastGroup = null;
  };
  return { append, clear };
}

export async function conversationPage(view: HTMLElement): Promise<void> {
  const convId = view.dataset.convId ?? "";
  setStatus("Loading conversation…");
  const conversation = await loadConversation(convId);
  if (conversation === null) return;
  const palette = makePalette();
  for (const segment of conversation.runtime_history) palette(segment.runtime_key);
  renderFacts(conversation, palette);
  renderBand(conversation, palette);

  // Filters start from the query string; the selects offer what the conversation holds.
  let filters = readFilters(location.search);
  const selects = filterSelects(conversation, () => filters);
  const phaseNote = shellElement("phase-note", HTMLElement);
  const list = shellElement("turns", HTMLOListElement);
  const more = shellElement("more", HTMLButtonElement);
  const empty = shellElement("empty", HTMLParagraphElement);
  const turns = turnList(list, conversation, palette);
  selects.fill();

  let cursor: string | null = null;
  // Bumped on every filter change: a response to an older query is dropped, not appended.
  let generation = 0;

  const load = async () => {
    const mine = generation;
    setStatus("Loading snapshots…");
    more.disabled = true;
    const page = await debugApi.snapshotSummaries(convId, filters, cursor).finally(() => {
      more.disabled = false;
    });
    if (mine !== generation) return;
    selects.see(page.items);
    for (const item of page.items) turns.append(item);
    cursor = page.next_cursor;
    more.hidden = cursor === null;
    empty.hidden = list.children.length > 0;
    setStatus("");
  };

  // The phases present: one page of summaries of the whole conversation (no payloads, no rows drawn).
  const scanPhases = async () => {
    const page = await debugApi.snapshotSummaries(convId, NO_FILTERS, null, PHASE_SCAN);
    selects.see(page.items);
    phaseNote.hidden = page.next_cursor === null;
    phaseNote.textContent = `Phases seen in the newest ${PHASE_SCAN} snapshots and in those loaded below.`;
  };

  const applyFilters = (next: SnapshotFilters) => {
    filters = next;
    window.history.replaceState(null, "", location.pathname + filtersSearch(filters));
    generation++;
    turns.clear();
    cursor = null;
    selects.fill();
    return run(load);
  };
  const { phaseSelect, runtimeSelect } = selects;
  phaseSelect.onchange = () => void applyFilters({ ...filters, phase: phaseFromOption(phaseSelect.value) });
  runtimeSelect.onchange = () => void applyFilters({ ...filters, runtimeKey: runtimeFromOption(runtimeSelect.value) });
  more.onclick = () => void run(load);
  turns.clear();
  await Promise.all([load(), run(scanPhases)]);
}
