/**
 * Turnstore: the Worker. Stores turn snapshots in D1 (write routes) and serves debug endpoints.
 */
import { createApp } from "./http/app";
import { openApiDocument } from "./openapi";
import { scheduled } from "./scheduled";
import debug from "./routes/debug/debug.index";
import conversationExport from "./routes/export/export.index";
import health from "./routes/health";
import ingest from "./routes/ingest/ingest.index";
import otlp from "./routes/otlp/otlp.index";
import resume from "./routes/resume/resume.index";
import tokens from "./routes/tokens/tokens.index";
import admin from "./routes/admin/admin.index";
import viewer from "./routes/viewer/viewer.index";

// Chained, so the app's type carries every route (AppType: the tests' typed calls read it).
const app = createApp()
  .route("/", health)
  .route("/", ingest)
  .route("/", otlp)
  .route("/", tokens)
  .route("/", resume)
  .route("/", admin)
  .route("/", debug)
  .route("/", conversationExport)
  .route("/", viewer);

/** Every route of the Worker, with its input and output types. */
export type AppType = typeof app;

app.openAPIRegistry.registerComponent("securitySchemes", "ingestToken", { type: "http", scheme: "bearer", description: "INGEST_TOKEN" });
app.openAPIRegistry.registerComponent("securitySchemes", "debugToken", { type: "http", scheme: "bearer", description: "DEBUG_TOKEN" });
app.openAPIRegistry.registerComponent("securitySchemes", "adminToken", { type: "http", scheme: "bearer", description: "ADMIN_TOKEN" });
app.openAPIRegistry.registerComponent("securitySchemes", "conversationToken", {
  type: "http",
  scheme: "bearer",
  description: "A conversation token from POST /api/tokens (tsk1.…): one conversation's writes and latest-turn read",
});
let document: ReturnType<typeof openApiDocument> | null = null;
app.get("/api/openapi.json", (c) => c.json((document ??= openApiDocument(app)), 200));

export default {
  fetch: app.fetch,
  scheduled,
} satisfies ExportedHandler<Env>;
