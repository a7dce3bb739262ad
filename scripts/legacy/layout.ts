/**
 * Which legacy layout a turns database has, decided from its table and column names alone. Pure.
 *
 * A  pre-cutover normalized store: turns (with updated_at_ms), blocks, turn_block_membership
 * B  the same, older: turns without updated_at_ms
 * C  the original single-table snapshot store: turns(conv_id, session_id | run_id, turn_id, phase,
 *    created_at_ms, payload) with one YAML payload per snapshot
 * G  geppetto's single-table store (pkg/js/modules/geppetto/provider/sqlite_turn_store.go):
 *    geppetto_turns(conv_id, session_id, turn_id, phase, runtime_key, inference_id, created_at_ms,
 *    payload), one YAML payload per row, with the runtime and inference geppetto recorded for it
 * A or B may also carry runtime_key / inference_id on turns (a database the Go implementation
 * already migrated): those values are kept.
 */
import { InputError } from "../../tools/cli";

export type LayoutId = "A" | "B" | "C" | "G";

export interface Layout {
  id: LayoutId;
  description: string;
  /** Tables this layout reads; every other table is reported as not imported. */
  tables: string[];
  /** A/B: turns has updated_at_ms / runtime_key / inference_id. */
  hasUpdatedAt: boolean;
  hasRuntimeKey: boolean;
  hasInferenceId: boolean;
  /** Optional block columns present in the source (the others take their defaults). */
  blockColumns: string[];
  /** C, G: the table of snapshot rows. */
  snapshotTable: string;
  /** C: the column that holds the session ("run_id" in older variants). */
  sessionColumn: "session_id" | "run_id";
  /** G: each row carries its own runtime_key / inference_id. */
  rowAttribution: boolean;
}

const TURNS_AB = ["conv_id", "session_id", "turn_id", "turn_created_at_ms"];
const TURNS_C = ["conv_id", "turn_id", "phase", "created_at_ms", "payload"];
export const GEPPETTO_TABLE = "geppetto_turns";
const TURNS_G = ["conv_id", "session_id", "turn_id", "phase", "runtime_key", "inference_id", "created_at_ms", "payload"];
const BLOCKS_REQUIRED = ["block_id", "content_hash", "kind"];
const BLOCKS_OPTIONAL = ["hash_algorithm", "role", "payload_json", "block_metadata_json", "first_seen_at_ms"];
const MEMBERSHIP = ["conv_id", "session_id", "turn_id", "phase", "snapshot_created_at_ms", "ordinal", "block_id", "content_hash"];

const missing = (columns: readonly string[], required: readonly string[]) => required.filter((c) => !columns.includes(c));

function describeTables(tables: Map<string, string[]>): string {
  if (tables.size === 0) return "it has no tables";
  return `it has ${[...tables].map(([name, columns]) => `${name}(${columns.join(", ")})`).join(", ")}`;
}

export function detectLayout(tables: Map<string, string[]>, path: string): Layout {
  const geppetto = tables.get(GEPPETTO_TABLE);
  const turns = tables.get("turns");
  if (geppetto) {
    if (turns) {
      throw new InputError(
        `unknown layout in ${path}: it has both ${GEPPETTO_TABLE} and turns (${describeTables(tables)}); import one store per file`,
      );
    }
    const absent = missing(geppetto, TURNS_G);
    if (absent.length > 0) {
      throw new InputError(`unknown layout in ${path}: ${GEPPETTO_TABLE}(${geppetto.join(", ")}) lacks ${absent.join(", ")}`);
    }
    return {
      id: "G",
      description: `G: geppetto's single-table store (${GEPPETTO_TABLE}, YAML payloads, each row's runtime_key/inference_id kept)`,
      tables: [GEPPETTO_TABLE],
      hasUpdatedAt: false,
      hasRuntimeKey: false,
      hasInferenceId: false,
      blockColumns: [],
      snapshotTable: GEPPETTO_TABLE,
      sessionColumn: "session_id",
      rowAttribution: true,
    };
  }
  if (!turns) {
    throw new InputError(`unknown layout in ${path}: no turns or ${GEPPETTO_TABLE} table (${describeTables(tables)})`);
  }
  if (turns.includes("payload") && !turns.includes("turn_created_at_ms")) {
    const sessionColumn = turns.includes("session_id") ? "session_id" : turns.includes("run_id") ? "run_id" : undefined;
    const absent = [...missing(turns, TURNS_C), ...(sessionColumn ? [] : ["session_id (or run_id)"])];
    if (absent.length > 0) {
      throw new InputError(`unknown layout in ${path}: turns looks like the single-table snapshot store but lacks ${absent.join(", ")}`);
    }
    return {
      id: "C",
      description: `C: single-table snapshot store (YAML payloads, session in ${sessionColumn})`,
      tables: ["turns"],
      hasUpdatedAt: false,
      hasRuntimeKey: false,
      hasInferenceId: false,
      blockColumns: [],
      snapshotTable: "turns",
      sessionColumn: sessionColumn!,
      rowAttribution: false,
    };
  }
  const absentTurns = missing(turns, TURNS_AB);
  if (absentTurns.length > 0) {
    throw new InputError(
      `unknown layout in ${path}: turns(${turns.join(", ")}) is neither the normalized store (needs ${TURNS_AB.join(", ")}) ` +
        `nor the snapshot store (needs ${TURNS_C.join(", ")}, session_id or run_id)`,
    );
  }
  const blocks = tables.get("blocks");
  const membership = tables.get("turn_block_membership");
  const problems = [
    !blocks
      ? "no blocks table"
      : missing(blocks, BLOCKS_REQUIRED)
          .map((c) => `blocks has no ${c}`)
          .join(", "),
    !membership
      ? "no turn_block_membership table"
      : missing(membership, MEMBERSHIP)
          .map((c) => `turn_block_membership has no ${c}`)
          .join(", "),
  ].filter((p) => p !== "");
  if (problems.length > 0) {
    throw new InputError(`unknown layout in ${path}: turns looks like the normalized store but ${problems.join("; ")}`);
  }
  const hasUpdatedAt = turns.includes("updated_at_ms");
  const hasRuntimeKey = turns.includes("runtime_key");
  const hasInferenceId = turns.includes("inference_id");
  const migrated = hasRuntimeKey || hasInferenceId ? ", with runtime_key/inference_id kept as stored" : "";
  return {
    id: hasUpdatedAt ? "A" : "B",
    description: hasUpdatedAt
      ? `A: pre-cutover turns/blocks/turn_block_membership${migrated}`
      : `B: pre-cutover turns/blocks/turn_block_membership without updated_at_ms (taken from turn_created_at_ms)${migrated}`,
    tables: ["turns", "blocks", "turn_block_membership"],
    hasUpdatedAt,
    hasRuntimeKey,
    hasInferenceId,
    blockColumns: BLOCKS_OPTIONAL.filter((c) => blocks!.includes(c)),
    snapshotTable: "",
    sessionColumn: "session_id",
    rowAttribution: false,
  };
}
