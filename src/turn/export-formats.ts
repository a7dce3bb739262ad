/**
 * A conversation's export (CONTRACT §5.5) as text, written piece by piece so that a long
 * conversation is streamed page by page and never held whole: JSON, JSON Lines, YAML and the
 * Markdown transcript (markdown.ts). Pure; no I/O.
 *
 * Every exported snapshot is exactly an item of POST /api/turns/batch — conv_id, session_id, turn_id,
 * phase, created_at_ms, runtime_key, inference_id and the turn as JSON (turnToJson) — so a JSON Lines
 * file re-imports through the batch route unchanged.
 */
import { hasGenAiMetadata, modelMismatch } from "./gen-ai-models";
import { markdownNoTurns, markdownTitle, markdownTurn, type ShownTurn, type TranscriptSnapshot } from "./markdown";
import { objectOf, turnToJson } from "./turn";
import { writeYaml, writeYamlSequenceItem } from "./yaml";

export type ExportedSnapshot = TranscriptSnapshot;

export const EXPORT_FORMATS = {
  json: { contentType: "application/json; charset=utf-8", extension: "json" },
  jsonl: { contentType: "application/x-ndjson; charset=utf-8", extension: "jsonl" },
  yaml: { contentType: "application/yaml; charset=utf-8", extension: "yaml" },
  markdown: { contentType: "text/markdown; charset=utf-8", extension: "md" },
} as const;

export type ExportFormat = keyof typeof EXPORT_FORMATS;

export const EXPORT_FORMAT_NAMES = Object.keys(EXPORT_FORMATS) as ExportFormat[];

/** `turnstore-<conv id>.<ext>`, the id reduced to [A-Za-z0-9._-] (every other character → "_"). */
export function exportFilename(convId: string, format: ExportFormat): string {
  return `turnstore-${convId.replace(/[^A-Za-z0-9._-]/gu, "_")}.${EXPORT_FORMATS[format].extension}`;
}

/**
 * A snapshot as a batch item, keys in the order of the write API. A snapshot recorded from an
 * OpenTelemetry span (turnstore.gen_ai@v1 metadata) also says model_mismatch, which the write API
 * accepts and ignores (it is derived from the metadata), so the item still re-imports unchanged.
 */
export function snapshotEntries(s: ExportedSnapshot): Array<readonly [string, unknown]> {
  const genAi: Array<readonly [string, unknown]> = hasGenAiMetadata(s.turn.metadata)
    ? [["model_mismatch", modelMismatch(s.turn.metadata)]]
    : [];
  return [
    ["conv_id", s.convId],
    ["session_id", s.sessionId],
    ["turn_id", s.turnId],
    ["phase", s.phase],
    ["created_at_ms", s.createdAtMs],
    ["runtime_key", s.runtimeKey],
    ["inference_id", s.inferenceId],
    ...genAi,
    ["turn", turnToJson(s.turn)],
  ];
}

/**
 * Line breaks JSON.stringify leaves raw: NEL (U+0085), LS (U+2028) and PS (U+2029). Every other
 * character Unicode line splitting breaks at (LF, CR, VT, FF, FS, GS, RS) is a C0 control, which
 * JSON.stringify always escapes.
 */
const RAW_LINE_BREAKS = /[\u0085\u2028\u2029]/g;

/**
 * Compact JSON with NEL, LS and PS escaped (\u0085, \u2028, \u2029): valid JSON either way, and
 * the same values when parsed, but readers that split lines on them (Python's str.splitlines,
 * JavaScript source, Unicode-aware editors) would otherwise cut a JSON Lines record in two. They
 * can only occur inside JSON strings, where the escape means the same character.
 */
export function compactJson(value: unknown): string {
  return JSON.stringify(value).replace(RAW_LINE_BREAKS, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** One JSON Lines record: a POST /api/turns/batch item, then a line feed. */
export function snapshotJsonLine(s: ExportedSnapshot): string {
  return `${compactJson(objectOf(snapshotEntries(s)))}\n`;
}

/**
 * Writes one export: `begin()`, then `page()` for each page of snapshots in export order, then
 * `end()`; the pieces concatenated are the document.
 */
export interface ExportWriter {
  begin(): string;
  page(snapshots: readonly ExportedSnapshot[]): string;
  end(): string;
}

export interface ExportOptions {
  convId: string;
  exportedAtMs: number;
  /** The phase filter, when given (named by the Markdown transcript). */
  phase?: string;
}

export function exportWriter(format: ExportFormat, options: ExportOptions): ExportWriter {
  let written = 0;
  const count = (snapshots: readonly ExportedSnapshot[]) => {
    const first = written === 0;
    written += snapshots.length;
    return first;
  };
  switch (format) {
    case "json":
      // {"conv_id":…,"exported_at_ms":…,"snapshots":[ one snapshot per line ]}
      return {
        begin: () => `{"conv_id":${compactJson(options.convId)},"exported_at_ms":${options.exportedAtMs},"snapshots":[`,
        page: (snapshots) => {
          const first = count(snapshots);
          return snapshots.map((s, i) => `${first && i === 0 ? "" : ","}\n${compactJson(objectOf(snapshotEntries(s)))}`).join("");
        },
        end: () => (written === 0 ? "]}\n" : "\n]}\n"),
      };
    case "jsonl":
      return { begin: () => "", page: (snapshots) => snapshots.map(snapshotJsonLine).join(""), end: () => "" };
    case "yaml":
      // conv_id, exported_at_ms, then the snapshots sequence written item by item.
      return {
        begin: () =>
          writeYaml([
            ["conv_id", options.convId],
            ["exported_at_ms", options.exportedAtMs],
          ]),
        page: (snapshots) => {
          if (snapshots.length === 0) return "";
          const first = count(snapshots);
          return (first ? "snapshots:\n" : "") + snapshots.map((s) => writeYamlSequenceItem(snapshotEntries(s), "  ")).join("");
        },
        end: () => (written === 0 ? "snapshots: []\n" : ""),
      };
    case "markdown": {
      // Pages hold each turn's newest snapshot, in turn creation order.
      let shown: ShownTurn | null = null;
      return {
        begin: () => markdownTitle(options),
        page: (snapshots) => {
          count(snapshots);
          return snapshots
            .map((s) => {
              const text = markdownTurn(s, shown);
              shown = { turnId: s.turnId, blocks: s.turn.blocks };
              return text;
            })
            .join("");
        },
        end: () => (written === 0 ? markdownNoTurns(options.phase) : ""),
      };
    }
  }
}
