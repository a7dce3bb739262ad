import type { RouteHandler } from "@hono/zod-openapi";
import type { AppEnv } from "../../http/bindings";
import { ApiError } from "../../http/errors";
import { requestLogFields } from "../../http/request-id";
import { getConversation } from "../../store/conversations";
import type { D1Handle } from "../../store/d1";
import { listSnapshots, newestSnapshotsOfTurns, type SnapshotPosition, type TurnPosition } from "../../store/snapshot-reads";
import { EXPORT_FORMATS, exportFilename, exportWriter, type ExportedSnapshot, type ExportWriter } from "../../turn/export-formats";
import { givenFilter } from "../schemas";
import type { exportConversationRoute } from "./export.routes";

/** Snapshots per page (JSON, JSON Lines, YAML); a page also ends at the store's block budget. */
export const EXPORT_PAGE_SNAPSHOTS = 200;
/** Turns per page (Markdown). */
export const EXPORT_PAGE_TURNS = 100;

type Pages = AsyncGenerator<readonly ExportedSnapshot[], void, undefined>;

/** Every snapshot of the conversation (of `phase`), oldest first, a keyset page at a time. */
async function* snapshotPages(db: D1Handle, convId: string, phase: string | undefined): Pages {
  let after: SnapshotPosition | undefined;
  do {
    const page = await listSnapshots(db, { convId, phase, order: "oldest", after, limit: EXPORT_PAGE_SNAPSHOTS });
    yield page.records;
    after = page.next ?? undefined;
  } while (after);
}

/** Each turn's newest snapshot (of `phase`), in turn creation order, a page of turns at a time. */
async function* turnPages(db: D1Handle, convId: string, phase: string | undefined): Pages {
  let after: TurnPosition | undefined;
  do {
    const page = await newestSnapshotsOfTurns(db, { convId, phase, after, limit: EXPORT_PAGE_TURNS });
    yield page.records;
    after = page.next ?? undefined;
  } while (after);
}

interface ExportLog {
  /** request_id and, when the client sent one, client_request_id (http/request-id.ts). */
  ids: ReturnType<typeof requestLogFields>;
  convId: string;
  format: string;
  startedAt: number;
}

/**
 * The document as a byte stream: the writer's beginning, then one chunk per page, read from D1 only
 * when the client has taken the previous one (pull), so at most one page is in memory. A failure
 * after the first byte can no longer change the status: the stream is aborted (the client sees a
 * truncated transfer, never a short file that looks complete) and the error is logged.
 */
function exportStream(
  writer: ExportWriter,
  firstPage: readonly ExportedSnapshot[],
  pages: Pages,
  log: ExportLog,
): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  const queued = [writer.begin() + writer.page(firstPage)];
  let snapshots = firstPage.length;
  let pageCount = 1;
  let done = false;
  return new ReadableStream<Uint8Array>(
    {
      // Each pull enqueues a chunk or closes: a pull that did neither would never be called again.
      async pull(controller) {
        try {
          for (;;) {
            if (queued.length === 0 && !done) {
              const next = await pages.next();
              if (next.done) {
                done = true;
                queued.push(writer.end());
              } else {
                pageCount += 1;
                snapshots += next.value.length;
                queued.push(writer.page(next.value));
              }
            }
            const text = queued.shift();
            if (text) {
              controller.enqueue(encoder.encode(text));
              return;
            }
            if (done && queued.length === 0) {
              controller.close();
              console.log(
                JSON.stringify({
                  level: "info",
                  event: "export",
                  ...log.ids,
                  conv_id: log.convId,
                  format: log.format,
                  snapshots,
                  pages: pageCount,
                  duration_ms: Date.now() - log.startedAt,
                }),
              );
              return;
            }
          }
        } catch (error) {
          console.error(
            JSON.stringify({
              level: "error",
              event: "export",
              ...log.ids,
              conv_id: log.convId,
              format: log.format,
              snapshots,
              pages: pageCount,
              error: String((error as Error)?.stack ?? error),
            }),
          );
          controller.error(error);
        }
      },
      async cancel() {
        await pages.return(undefined);
      },
    },
    { highWaterMark: 0 },
  );
}

export const exportConversation: RouteHandler<typeof exportConversationRoute, AppEnv> = async (c) => {
  const startedAt = Date.now();
  const { conv_id } = c.req.valid("param");
  const query = c.req.valid("query");
  const format = query.format ?? "json";
  const phase = givenFilter(query.phase);
  // The conversation's database, and in it the conversation (else 404).
  let db: D1Handle | null = null;
  await c.var.databases.read(conv_id, {}, async (candidate) => {
    if (!(await getConversation(candidate, conv_id))) return null;
    db = candidate;
    return true;
  });
  if (!db) throw new ApiError("NOT_FOUND", `conversation ${JSON.stringify(conv_id)} not found`);
  const pages = format === "markdown" ? turnPages(db, conv_id, phase) : snapshotPages(db, conv_id, phase);
  // The first page is read before answering, so a failure there is still an error response.
  const first = await pages.next();
  const writer = exportWriter(format, { convId: conv_id, exportedAtMs: startedAt, phase });
  const body = exportStream(writer, first.done ? [] : first.value, pages, {
    ids: requestLogFields(c),
    convId: conv_id,
    format,
    startedAt,
  });
  return c.body(body, 200, {
    "Content-Type": EXPORT_FORMATS[format].contentType,
    "Content-Disposition": `attachment; filename="${exportFilename(conv_id, format)}"`,
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
  });
};
