/**
 * /debug/t/:conv_id/:session_id/:turn_id: the turn's snapshots newest first, 50 at a time ("Load
 * more" follows next_cursor). Each snapshot is a <details>: the newest open, the others folded, and a
 * folded one builds its blocks only when first opened, so a turn of thousands of snapshots stays a
 * short page. Below, a side-by-side diff of the YAML payloads of any two loaded snapshots.
 */
import { debugApi, NotFound } from "../api";
import type { TurnDetail, TurnSnapshot } from "../api-types";
import { makePalette, type Palette } from "../band";
import { renderBlock } from "../blocks";
import { diffCounts, foldUnchanged, lineDiff, payloadLines, sideBySide } from "../diff";
import { folded, h, shellElement, type Child } from "../dom";
import { count, formatTime, isObject } from "../format";
import { run, setStatus, showNotFound } from "../page";
import { inferenceTag, runtimeTag } from "../tags";

/** Snapshots are numbered from the newest (#1): the oldest is not known until the last page is read. */
const snapshotLabel = (item: TurnSnapshot, index: number) => `#${index + 1} · ${item.phase} · ${formatTime(item.created_at_ms)}`;

const blocksOf = (item: TurnSnapshot): unknown[] => (Array.isArray(item.parsed.blocks) ? item.parsed.blocks : []);

function snapshotBody(item: TurnSnapshot): Child[] {
  const blocks = blocksOf(item);
  const parts: Child[] = [
    blocks.length > 0 ? h("ol", { class: "blocks" }, blocks.map(renderBlock)) : h("p", { class: "muted" }, "No blocks in this snapshot."),
  ];
  for (const field of ["metadata", "data"] as const) {
    const value = isObject(item.parsed[field]) ? item.parsed[field] : {};
    const keys = Object.keys(value).length;
    if (keys > 0) parts.push(folded(`turn ${field} (${keys})`, JSON.stringify(value, null, 2)));
  }
  parts.push(folded("YAML payload", item.payload));
  return parts;
}

interface ShownSnapshot {
  element: HTMLDetailsElement;
  /** Opens it, building its body first if this is the first time. */
  open(): void;
}

function snapshotElement(item: TurnSnapshot, index: number, palette: Palette): ShownSnapshot {
  const element = h(
    "details",
    { class: "snapshot", id: `snapshot-${index + 1}`, dataset: { phase: item.phase, runtime: item.runtime_key } },
    [
      h(
        "summary",
        null,
        h("h3", null, [
          h("span", { class: "mono" }, `#${index + 1}`),
          h("span", { class: "phase" }, item.phase),
          h("span", { class: "time" }, formatTime(item.created_at_ms)),
          runtimeTag(palette, item.runtime_key),
          inferenceTag(item.inference_id),
          h("span", { class: "blocks-count" }, count(blocksOf(item).length, "block")),
        ]),
      ),
    ],
  );
  let built = false;
  const build = () => {
    if (built) return;
    built = true;
    element.append(h("div", { class: "snapshot-body" }, snapshotBody(item)));
  };
  // Opened by hand (a click on the summary) or by "Expand all".
  element.addEventListener("toggle", () => {
    if (element.open) build();
  });
  return {
    element,
    open: () => {
      build();
      element.open = true;
    },
  };
}

function renderDiff(items: readonly TurnSnapshot[], leftIndex: number, rightIndex: number): void {
  const target = shellElement("diff", HTMLDivElement);
  const leftItem = items[leftIndex];
  const rightItem = items[rightIndex];
  if (!leftItem || !rightItem) return;
  const left = payloadLines(leftItem.payload);
  const right = payloadLines(rightItem.payload);
  const rows = sideBySide(lineDiff(left, right));
  const { removed, added } = diffCounts(rows);
  const identical = removed === 0 && added === 0;
  target.replaceChildren(
    h(
      "p",
      { class: "diff-summary" },
      identical ? "The two payloads are identical." : `−${removed} line(s) on the left, +${added} line(s) on the right (YAML payloads).`,
    ),
  );
  if (identical) return;
  const cells = (lines: readonly string[], index: number | null, change: string): HTMLTableCellElement[] =>
    index === null
      ? [h("td", { class: "ln" }), h("td")]
      : [h("td", { class: `ln ${change}` }, String(index + 1)), h("td", { class: change }, lines[index] ?? "")];
  const body = h(
    "tbody",
    null,
    foldUnchanged(rows).map((shown) =>
      "folded" in shown
        ? h("tr", null, h("td", { colspan: 4, class: "gap" }, `${shown.folded} unchanged line(s)`))
        : h("tr", { class: shown.row.change ? "change" : "same" }, [
            ...cells(left, shown.row.left, shown.row.change ? "del" : ""),
            ...cells(right, shown.row.right, shown.row.change ? "ins" : ""),
          ]),
    ),
  );
  target.append(
    h("table", { class: "diff" }, [
      h("colgroup", null, [h("col", { class: "ln" }), h("col"), h("col", { class: "ln" }), h("col")]),
      h(
        "thead",
        null,
        h("tr", null, [
          h("th", { colspan: 2 }, snapshotLabel(leftItem, leftIndex)),
          h("th", { colspan: 2 }, snapshotLabel(rightItem, rightIndex)),
        ]),
      ),
      body,
    ]),
  );
}

export async function turnPage(view: HTMLElement): Promise<void> {
  const convId = view.dataset.convId ?? "";
  const sessionId = view.dataset.sessionId ?? "";
  const turnId = view.dataset.turnId ?? "";
  setStatus("Loading turn…");
  let firstPage: TurnDetail;
  try {
    firstPage = await debugApi.turn(convId, sessionId, turnId, null);
  } catch (error) {
    if (error instanceof NotFound) return showNotFound(`Turn “${turnId}”`, error);
    throw error;
  }

  const container = shellElement("snapshots", HTMLDivElement);
  const more = shellElement("more", HTMLButtonElement);
  const loaded = shellElement("loaded", HTMLElement);
  const leftSelect = shellElement("diff-left", HTMLSelectElement);
  const rightSelect = shellElement("diff-right", HTMLSelectElement);
  const palette = makePalette();
  const items: TurnSnapshot[] = [];
  const shown: ShownSnapshot[] = [];
  let cursor: string | null = null;

  const updateDiff = () => renderDiff(items, Number(leftSelect.value), Number(rightSelect.value));
  const add = (page: TurnDetail) => {
    for (const item of page.items) {
      const index = items.length;
      items.push(item);
      const snapshot = snapshotElement(item, index, palette);
      shown.push(snapshot);
      container.append(snapshot.element);
      for (const select of [leftSelect, rightSelect]) select.append(h("option", { value: String(index) }, snapshotLabel(item, index)));
    }
    cursor = page.next_cursor;
    more.hidden = cursor === null;
    loaded.textContent =
      cursor === null
        ? `All ${count(items.length, "snapshot")} loaded.`
        : `The newest ${count(items.length, "snapshot")}; older ones below “Load more”.`;
  };

  container.replaceChildren();
  leftSelect.replaceChildren();
  rightSelect.replaceChildren();
  add(firstPage);
  shown[0]?.open();

  if (items.length < 2) {
    shellElement("diff-form", HTMLFormElement).hidden = true;
    shellElement("diff", HTMLDivElement).replaceChildren(
      h("p", { class: "muted" }, "This turn has one snapshot; there is nothing to compare."),
    );
  } else {
    leftSelect.value = "1";
    rightSelect.value = "0";
    leftSelect.onchange = updateDiff;
    rightSelect.onchange = updateDiff;
    updateDiff();
  }

  more.onclick = () =>
    void run(async () => {
      setStatus("Loading snapshots…");
      more.disabled = true;
      const page = await debugApi.turn(convId, sessionId, turnId, cursor).finally(() => {
        more.disabled = false;
      });
      add(page);
      setStatus("");
    });
  shellElement("expand-all", HTMLButtonElement).onclick = () => shown.forEach((snapshot) => snapshot.open());
  shellElement("collapse-all", HTMLButtonElement).onclick = () => shown.forEach((snapshot) => (snapshot.element.open = false));
  setStatus("");
}
