/**
 * The viewer's stylesheet, served at /debug/assets/viewer.css (the CSP allows no inline styles).
 * Runtime colours are classes rt-0..rt-7 (a colour-blind-safe palette) plus rt-unknown.
 */
export const VIEWER_STYLE = `
:root {
  --fg: #1d2330; --muted: #5d6677; --bg: #f6f7f9; --card: #fff; --line: #dde1e8; --accent: #1f5fbf;
  --del: #fde8e8; --del-strong: #f5b5b5; --ins: #e5f6ea; --ins-strong: #a7dcb6;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  color: var(--fg); background: var(--bg); line-height: 1.45;
}
* { box-sizing: border-box; }
body { margin: 0; padding: 0 1rem 3rem; max-width: 72rem; margin-inline: auto; }
a { color: var(--accent); }
code, pre, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace; font-size: 0.88em; }
code.id { overflow-wrap: anywhere; }
h1 { font-size: 1.45rem; margin: 0.6rem 0 0.4rem; overflow-wrap: anywhere; }
h2 { font-size: 1.1rem; margin: 1.6rem 0 0.3rem; }
.muted { color: var(--muted); font-size: 0.9rem; margin: 0.2rem 0 0.7rem; }
.top { display: flex; align-items: center; justify-content: space-between; gap: 1rem; padding: 0.8rem 0; border-bottom: 1px solid var(--line); }
.brand { font-weight: 650; text-decoration: none; color: var(--fg); }
button, select, input { font: inherit; }
button { border: 1px solid var(--line); background: var(--card); border-radius: 6px; padding: 0.3rem 0.8rem; cursor: pointer; }
button:hover { border-color: var(--accent); }
.status { color: var(--muted); }
.status:empty { display: none; }
.status.error { color: #a4161a; font-weight: 600; }
.token-form { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 1rem; margin: 1.5rem 0; max-width: 32rem; }
.token-form label { font-weight: 600; display: block; margin-bottom: 0.4rem; }
.token-row { display: flex; gap: 0.5rem; }
.token-row input { flex: 1; min-width: 0; padding: 0.35rem 0.5rem; border: 1px solid var(--line); border-radius: 6px; }
.hint { font-size: 0.85rem; color: var(--muted); margin-bottom: 0; }
.crumbs { font-size: 0.9rem; margin-top: 0.8rem; color: var(--muted); overflow-wrap: anywhere; }

table.list { width: 100%; border-collapse: collapse; background: var(--card); border: 1px solid var(--line); border-radius: 8px; }
table.list th, table.list td { text-align: left; padding: 0.45rem 0.6rem; border-bottom: 1px solid var(--line); vertical-align: top; overflow-wrap: anywhere; }
table.list th { font-size: 0.8rem; text-transform: uppercase; letter-spacing: 0.03em; color: var(--muted); }
table.list .num { text-align: right; }
.more { margin: 0.8rem 0; }

.tag { display: inline-block; border-radius: 999px; padding: 0 0.55rem; font-size: 0.82rem; white-space: nowrap; border: 1px solid transparent; }
.tag.plain { border-color: var(--line); background: var(--card); }
.phase { display: inline-block; font-size: 0.8rem; padding: 0 0.45rem; border-radius: 4px; background: #e8ebf1; font-family: ui-monospace, monospace; }
.rt-0 { background: #0072b2; color: #fff; }
.rt-1 { background: #e69f00; color: #1d2330; }
.rt-2 { background: #009e73; color: #fff; }
.rt-3 { background: #cc79a7; color: #1d2330; }
.rt-4 { background: #56b4e9; color: #1d2330; }
.rt-5 { background: #d55e00; color: #fff; }
.rt-6 { background: #f0e442; color: #1d2330; }
.rt-7 { background: #6a3d9a; color: #fff; }
.rt-unknown { background: repeating-linear-gradient(135deg, #d5d9e0 0 6px, #c3c8d1 6px 12px); color: #1d2330; }

.facts { display: grid; grid-template-columns: max-content 1fr; gap: 0.2rem 1rem; margin: 0.6rem 0; font-size: 0.92rem; }
.facts dt { color: var(--muted); }
.facts dd { margin: 0; overflow-wrap: anywhere; }

/* Segment widths come from the script (band.ts: in proportion to turns, never below a minimum), so a
   long history (say a hundred switches) keeps readable segments and scrolls sideways inside the band. */
.band { display: flex; width: 100%; height: 2.6rem; border-radius: 8px; overflow-x: auto; overflow-y: hidden; border: 1px solid var(--line); background: var(--card); scrollbar-width: thin; }
.band .seg { flex: 1 1 0; display: block; line-height: 2.5rem; text-align: center; padding: 0 0.3rem; font-size: 0.85rem; font-weight: 600; overflow: hidden; white-space: nowrap; text-overflow: ellipsis; border-right: 2px solid var(--card); }
.band .seg:last-child { border-right: 0; }
.band-axis { display: flex; justify-content: space-between; font-size: 0.78rem; color: var(--muted); margin-top: 0.2rem; gap: 1rem; }
.band-axis span:last-child { text-align: right; }
.band-axis .segment-count { text-align: center; }
.legend { list-style: none; padding: 0; margin: 0.6rem 0 0; display: flex; flex-wrap: wrap; gap: 0.4rem 1.2rem; font-size: 0.9rem; }
.legend li { display: flex; align-items: center; gap: 0.4rem; }
.swatch { width: 1rem; height: 1rem; border-radius: 3px; display: inline-block; }

.filters { display: flex; flex-wrap: wrap; gap: 0.6rem 1.2rem; margin: 0.5rem 0 0.8rem; font-size: 0.92rem; }
.filters select { margin-left: 0.3rem; max-width: 14rem; }
#diff-form select { max-width: calc(100vw - 6rem); }
.turns { list-style: none; padding: 0; margin: 0; }
.turn { background: var(--card); border: 1px solid var(--line); border-radius: 8px; margin-bottom: 0.6rem; padding: 0.5rem 0.7rem; }
.turn-head { display: flex; flex-wrap: wrap; gap: 0.3rem 0.8rem; align-items: baseline; }
.turn-head a { font-weight: 600; overflow-wrap: anywhere; }
.snaps { list-style: none; padding: 0; margin: 0.35rem 0 0; }
.snaps li { display: flex; flex-wrap: wrap; gap: 0.25rem 0.7rem; align-items: center; padding: 0.2rem 0; border-top: 1px dashed var(--line); font-size: 0.9rem; }
.snaps .time, .blocks-count { color: var(--muted); font-size: 0.85rem; }
.inference { font-size: 0.85rem; color: var(--muted); overflow-wrap: anywhere; }
.inference.unknown, .unknown-text { font-style: italic; }

.toolbar { display: flex; flex-wrap: wrap; align-items: center; gap: 0.5rem; margin: 0.4rem 0 0.7rem; }
.toolbar .muted { margin: 0; }
details.snapshot { background: var(--card); border: 1px solid var(--line); border-radius: 8px; margin: 0 0 0.5rem; padding: 0.45rem 0.8rem; font-size: 1rem; }
details.snapshot[open] { margin-bottom: 1rem; padding-bottom: 0.6rem; }
details.snapshot > summary { list-style: none; cursor: pointer; color: var(--fg); }
details.snapshot > summary::-webkit-details-marker { display: none; }
details.snapshot > summary h3 { margin: 0; font-size: 1rem; display: flex; flex-wrap: wrap; gap: 0.3rem 0.7rem; align-items: center; font-weight: 500; }
details.snapshot > summary h3::before { content: "▸"; color: var(--muted); width: 0.8rem; }
details.snapshot[open] > summary h3::before { content: "▾"; }
.snapshot-body { margin-top: 0.5rem; }
.notice { background: var(--card); border: 1px solid var(--line); border-left: 4px solid #a4161a; border-radius: 8px; padding: 0.6rem 1rem; margin: 1rem 0; }
.notice p { margin: 0.3rem 0; overflow-wrap: anywhere; }
.notice .notice-title { font-weight: 650; font-size: 1.1rem; }
.blocks { list-style: none; padding: 0; margin: 0; display: grid; gap: 0.5rem; }
.block { border-left: 4px solid #9aa3b2; background: #fafbfc; border-radius: 4px; padding: 0.4rem 0.6rem; }
.block-head { display: flex; flex-wrap: wrap; gap: 0.2rem 0.6rem; align-items: baseline; font-size: 0.82rem; color: var(--muted); }
.block-head .kind { font-weight: 700; color: var(--fg); text-transform: uppercase; letter-spacing: 0.03em; }
.block .text { white-space: pre-wrap; overflow-wrap: anywhere; margin: 0.25rem 0 0; }
.block pre, .snapshot pre { white-space: pre-wrap; overflow-wrap: anywhere; background: #f0f2f6; padding: 0.4rem 0.5rem; border-radius: 4px; margin: 0.3rem 0 0; max-height: 28rem; overflow: auto; }
.kind-user { border-left-color: #0072b2; }
.kind-llm_text { border-left-color: #009e73; }
.kind-tool_call { border-left-color: #e69f00; }
.kind-tool_use { border-left-color: #cc79a7; }
.kind-system { border-left-color: #6a3d9a; }
.kind-reasoning { border-left-color: #56b4e9; }
details { margin-top: 0.35rem; font-size: 0.9rem; }
summary { cursor: pointer; color: var(--muted); }

.diff-summary { font-size: 0.9rem; margin: 0.3rem 0; }
table.diff { width: 100%; table-layout: fixed; border-collapse: collapse; background: var(--card); border: 1px solid var(--line); font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.8rem; }
table.diff col.ln { width: 2.8rem; }
table.diff td { padding: 0 0.35rem; vertical-align: top; white-space: pre-wrap; overflow-wrap: anywhere; }
table.diff td.ln { color: var(--muted); text-align: right; user-select: none; }
table.diff th { font-family: system-ui, sans-serif; text-align: left; font-weight: 600; padding: 0.3rem 0.35rem; border-bottom: 1px solid var(--line); overflow-wrap: anywhere; }
table.diff td.del { background: var(--del); }
table.diff td.ins { background: var(--ins); }
table.diff td.del.ln { background: var(--del-strong); }
table.diff td.ins.ln { background: var(--ins-strong); }
table.diff td.gap { text-align: center; color: var(--muted); background: #f0f2f6; font-style: italic; }

@media (max-width: 640px) {
  body { padding: 0 0.6rem 2rem; }
  table.list thead { display: none; }
  table.list, table.list tbody, table.list tr, table.list td { display: block; width: 100%; }
  table.list tr { border-bottom: 1px solid var(--line); padding: 0.3rem 0; }
  table.list td { border: 0; padding: 0.1rem 0.6rem; }
  table.list td::before { content: attr(data-label) ": "; color: var(--muted); font-size: 0.8rem; }
  table.list .num { text-align: left; }
  table.diff col.ln { width: 1.9rem; }
  table.diff { font-size: 0.72rem; }
}
`;

/** The tab icon: a runtime band of two colours (also spares the browser a 404 for /favicon.ico). */
export const VIEWER_ICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#1d2330"/><rect x="2" y="5" width="7" height="6" fill="#0072b2"/><rect x="9" y="5" width="5" height="6" fill="#e69f00"/></svg>`;
