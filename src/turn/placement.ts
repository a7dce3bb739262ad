/**
 * Which D1 database a new conversation goes to (CONTRACT §6.4): rendezvous hashing over the open
 * databases — each database scores the conversation, the highest score wins. Deterministic (every
 * isolate, the import tool and the mint route agree without asking anyone), even (at 10,000
 * conversations over 4 databases the fullest holds within a few percent of the mean), and stable:
 * opening another database only takes the conversations it now wins, and those are placed when
 * they are first written — a conversation already placed is in the directory and never moves by
 * itself. Pure; no I/O.
 */

/** A binding name: as wrangler.toml names D1 bindings. */
export const BINDING = /^[A-Z][A-Z0-9_]{0,62}$/;

/** The database that holds the directory, and every conversation placed before there were others. */
export const DIRECTORY_BINDING = "DB";

/** A 32-bit hash of a string (MurmurHash3's mixing over UTF-16 units, then its finalizer). */
function hash32(text: string, seed: number): number {
  let h = seed >>> 0;
  for (let i = 0; i < text.length; i++) {
    let k = Math.imul(text.charCodeAt(i), 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, 0x1b873593);
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  h ^= text.length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The score of a database for a conversation: two independent 32-bit hashes, as one 53-bit number. */
function score(convId: string, binding: string): number {
  const material = `${binding}\u0000${convId}`;
  return hash32(material, 0x9747b28c) * 2 ** 21 + (hash32(material, 0x5bd1e995) >>> 11);
}

/** The open database a conversation goes to (ties, practically impossible, to the first listed). */
export function placeConversation(convId: string, openBindings: readonly string[]): string {
  if (openBindings.length === 0) throw new Error("no database is open for new conversations");
  let best = openBindings[0]!;
  let bestScore = score(convId, best);
  for (const binding of openBindings.slice(1)) {
    const s = score(convId, binding);
    if (s > bestScore) {
      best = binding;
      bestScore = s;
    }
  }
  return best;
}

/** A var listing bindings ("DB, DB_1"): the names in order, or the problem with it. */
export function parseBindingList(value: string): { bindings: string[] } | { problem: string } {
  const bindings = value
    .split(",")
    .map((b) => b.trim())
    .filter((b) => b !== "");
  const bad = bindings.find((b) => !BINDING.test(b));
  if (bad !== undefined) return { problem: `${JSON.stringify(bad)} is not a binding name (upper-case letters, digits and _)` };
  if (new Set(bindings).size !== bindings.length) return { problem: "a binding is listed twice" };
  return { bindings };
}

/** Which bindings hold conversations, in order, and which of them take new ones. */
export interface DatabaseConfig {
  /** Every binding that holds conversations, in order. */
  conversation: string[];
  /** The bindings new conversations are placed on. */
  open: string[];
}

/**
 * The vars CONVERSATION_DATABASES (default: DB alone) and OPEN_DATABASES (default: all of them), read
 * as the Worker reads them (http/database.ts) and the operator tools (tools/d1.ts); `bound` says
 * whether a D1 binding of that name exists. The configuration, or what is wrong with it.
 */
export function readDatabaseConfig(
  vars: { CONVERSATION_DATABASES?: unknown; OPEN_DATABASES?: unknown },
  bound: (binding: string) => boolean,
): { config: DatabaseConfig } | { problem: string } {
  const listed = String(vars.CONVERSATION_DATABASES ?? "").trim() || DIRECTORY_BINDING;
  const open = String(vars.OPEN_DATABASES ?? "").trim();
  const conversation = parseBindingList(listed);
  if ("problem" in conversation) return { problem: `the Worker var CONVERSATION_DATABASES: ${conversation.problem}` };
  const opened = open === "" ? conversation : parseBindingList(open);
  if ("problem" in opened) return { problem: `the Worker var OPEN_DATABASES: ${opened.problem}` };
  const missing = [DIRECTORY_BINDING, ...conversation.bindings].find((binding) => !bound(binding));
  if (missing) return { problem: `the D1 binding ${missing} is missing (CONVERSATION_DATABASES lists it; see wrangler.toml)` };
  const stray = opened.bindings.find((b) => !conversation.bindings.includes(b));
  if (stray) return { problem: `OPEN_DATABASES lists ${stray}, which CONVERSATION_DATABASES does not` };
  if (opened.bindings.length === 0) return { problem: "OPEN_DATABASES lists no database: new conversations have nowhere to go" };
  return { config: { conversation: conversation.bindings, open: opened.bindings } };
}
