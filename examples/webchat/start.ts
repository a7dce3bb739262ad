/**
 * npm run example:webchat — the webchat example (examples/webchat/) next to Turnstore, on this
 * machine: applies the migrations to a local D1, starts Turnstore's `wrangler dev` with tokens
 * configured and CORS_ORIGINS set to the page's origin, starts the example's backend Worker
 * (`wrangler dev -c examples/webchat/wrangler.toml`), prints the page's and the viewer's URLs, and
 * on Ctrl-C stops both: each wrangler leads its own process group, and only those two groups are
 * signalled. startWebchatExample is also what the browser test (test/node/browser/webchat.test.ts) runs.
 */
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseCommandLine, positiveIntegerProblem } from "../../tools/cli";
import { freePort, ROOT, startDev, type DevServer } from "../../tools/wrangler-dev";

/** Local-only credentials, as in .dev.vars.example; the page never sees the first three. */
export const EXAMPLE_TOKENS = {
  INGEST_TOKEN: "dev-ingest-token",
  TOKEN_SIGNING_KEY: "dev-1:dev-token-signing-secret-0123456789abcdef",
  DEBUG_TOKEN: "dev-debug-token",
};

export interface WebchatOptions {
  /** Local state (D1) of both Workers; default .wrangler/example-webchat. */
  persistTo: string;
  /** The page's port (its origin is what Turnstore's CORS_ORIGINS lists); omitted: a free one. */
  pagePort?: number;
  turnstorePort?: number;
  /** How the backend mints tokens: "api" (POST /api/tokens) or "offline" (turnstore/tokens). */
  tokenSource?: "api" | "offline";
  tokenTtlSeconds?: number;
  /** Lines wrangler prints (request logs, the Worker's console), prefixed with the Worker's name. */
  onLine?: (line: string) => void;
}

export interface WebchatExample {
  turnstore: DevServer;
  backend: DevServer;
  pageUrl: string;
  viewerUrl: string;
  stop(): Promise<void>;
}

export async function startWebchatExample(options: WebchatOptions): Promise<WebchatExample> {
  const pagePort = options.pagePort ?? (await freePort());
  const tokenSource = options.tokenSource ?? "api";
  const turnstore = await startDev({
    port: options.turnstorePort,
    persistTo: options.persistTo,
    vars: {
      ...EXAMPLE_TOKENS,
      // The page's origin, as a visitor may type it: only these may call Turnstore from a browser.
      CORS_ORIGINS: `http://127.0.0.1:${pagePort},http://localhost:${pagePort}`,
    },
    onLine: options.onLine && ((line) => options.onLine!(`turnstore | ${line}`)),
  });
  try {
    const backend = await startDev({
      config: "examples/webchat/wrangler.toml",
      port: pagePort,
      persistTo: join(options.persistTo, "backend"),
      skipMigrations: true,
      vars: {
        TURNSTORE_URL: turnstore.url,
        TOKEN_SOURCE: tokenSource,
        TOKEN_TTL_SECONDS: String(options.tokenTtlSeconds ?? 3600),
        // Only the secret its way of minting needs.
        ...(tokenSource === "api"
          ? { INGEST_TOKEN: EXAMPLE_TOKENS.INGEST_TOKEN }
          : { TOKEN_SIGNING_KEY: EXAMPLE_TOKENS.TOKEN_SIGNING_KEY }),
      },
      onLine: options.onLine && ((line) => options.onLine!(`backend   | ${line}`)),
    });
    return {
      turnstore,
      backend,
      pageUrl: `${backend.url}/`,
      viewerUrl: `${turnstore.url}/debug`,
      stop: async () => {
        await Promise.all([backend.stop(), turnstore.stop()]);
      },
    };
  } catch (error) {
    await turnstore.stop();
    throw error;
  }
}

/** The port when nothing listens on it, else a free one (the defaults may be taken by `npm run dev`). */
function portOrFree(port: number): Promise<number> {
  return new Promise((done) => {
    const probe = createServer();
    probe.once("error", () => void freePort().then(done));
    probe.listen(port, "127.0.0.1", () => probe.close(() => done(port)));
  });
}

const USAGE = `usage: npm run example:webchat -- [--port N] [--turnstore-port N] [--token-source api|offline] [--token-ttl S] [--persist-to DIR] [--verbose]

Runs the webchat example (examples/webchat/) with Turnstore on a local D1: applies the migrations,
starts Turnstore (wrangler dev, CORS_ORIGINS = the page's origin) and the example's backend Worker,
and prints the chat page's and the viewer's URLs. Ctrl-C stops both.

options:
  --port N              the chat page's port (default 8788, or a free one when taken)
  --turnstore-port N    Turnstore's port (default 8787, or a free one when taken)
  --token-source SRC    how the backend mints conversation tokens: api (POST /api/tokens with
                        INGEST_TOKEN; the default) or offline (turnstore/tokens with TOKEN_SIGNING_KEY)
  --token-ttl S         lifetime of the page's tokens in seconds, 1..86400 (default 3600); try 20 to
                        watch the page get new ones
  --persist-to DIR      keep the local D1 under DIR (default .wrangler/example-webchat; delete it to start over)
  --verbose             print both Workers' request logs
  -h, --help            print this help and exit

exit codes:
  0  stopped with Ctrl-C (or --help)
  1  a Worker failed to start or stopped on its own
  2  unknown or malformed flag
`;

async function main(): Promise<void> {
  const values = parseCommandLine(
    "example:webchat",
    USAGE,
    {
      port: { type: "string" },
      "turnstore-port": { type: "string" },
      "token-source": { type: "string" },
      "token-ttl": { type: "string" },
      "persist-to": { type: "string" },
      verbose: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    (v) =>
      positiveIntegerProblem("port", v.port, 65_535) ??
      positiveIntegerProblem("turnstore-port", v["turnstore-port"], 65_535) ??
      positiveIntegerProblem("token-ttl", v["token-ttl"], 86_400) ??
      (v["token-source"] !== undefined && !["api", "offline"].includes(v["token-source"])
        ? `--token-source must be api or offline, got ${JSON.stringify(v["token-source"])}`
        : v["persist-to"] === ""
          ? "--persist-to needs a directory"
          : null),
  );
  // npm run moves to the package root; a relative directory means the one npm was started from.
  const persistTo = values["persist-to"]
    ? resolve(process.env.INIT_CWD ?? process.cwd(), values["persist-to"])
    : join(ROOT, ".wrangler", "example-webchat");
  console.log("Starting Turnstore and the example's backend (migrations first)…");
  let example: WebchatExample;
  try {
    example = await startWebchatExample({
      persistTo,
      pagePort: await portOrFree(Number(values.port ?? 8788)),
      turnstorePort: await portOrFree(Number(values["turnstore-port"] ?? 8787)),
      tokenSource: values["token-source"] as "api" | "offline" | undefined,
      tokenTtlSeconds: values["token-ttl"] ? Number(values["token-ttl"]) : undefined,
      onLine: values.verbose ? (line) => console.log(line) : undefined,
    });
  } catch (error) {
    console.error(`example:webchat: ${(error as Error).message}`);
    process.exit(1);
  }
  const source = values["token-source"] === "offline" ? "offline, with turnstore/tokens" : "by POST /api/tokens";
  console.log(`
  Chat page   ${example.pageUrl}
              tokens minted ${source}, valid ${values["token-ttl"] ?? 3600} s
  Turnstore   ${example.turnstore.url}   (local D1 in ${persistTo})
  Viewer      ${example.viewerUrl}   debug token: ${EXAMPLE_TOKENS.DEBUG_TOKEN}

Chat a little, switch the runtime, reload the page; then open the viewer (or the page's
"Open this conversation in the Turnstore viewer" link). Ctrl-C stops both Workers.
`);

  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    await example.stop();
    process.exit(code);
  };
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(signal, () => void stop(0));
  // One Worker stopping on its own (a crash, a port taken away) takes the other with it.
  void Promise.race([example.turnstore.exited, example.backend.exited]).then(() => {
    if (stopping) return;
    console.error("example:webchat: a Worker stopped on its own; stopping the other");
    void stop(1);
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) await main();
