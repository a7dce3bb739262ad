/**
 * Which D1 database a request reads and writes (CONTRACT §6.4), and its D1 Sessions.
 *
 * CONVERSATION_DATABASES lists the bindings that hold conversations (default: DB alone),
 * OPEN_DATABASES those that take new ones (default: all of them). DB always holds the directory
 * (store/directory.ts). Each request gets `c.var.databases`: a conversation's database —
 * remembered by this isolate, carried by a conversation token, or looked up (and, for a write,
 * placed) in the directory — or all of them, for the debug routes that cross conversations.
 *
 * Sessions API: writes run on the primary and answer with their bookmark; reads start from the
 * bookmark a client sends back (X-D1-Bookmark), so they see that client's writes even once read
 * replication is on. With several databases the header carries one bookmark per database used,
 * `BINDING:bookmark` comma-separated; a bare bookmark is DB's (as with one database).
 */
import { lookUpConversation, placeConversationIn, type Placement, unplaceConversation } from "../store/directory";
import type { D1Handle, RecordingDatabases } from "../store/d1";
import { BoundedMemory } from "../turn/bounded-memory";
import { type DatabaseConfig, DIRECTORY_BINDING, placeConversation, readDatabaseConfig } from "../turn/placement";
import { ApiError } from "./errors";

export const BOOKMARK_HEADER = "X-D1-Bookmark";

export const BOOKMARK = /^[A-Za-z0-9-]{1,256}$/;
export const BOOKMARK_ENTRY = /^([A-Z][A-Z0-9_]{0,62}):([A-Za-z0-9-]{1,256})$/;

export type D1Session = D1Handle & { getBookmark(): string | null };

/** A database of the deployment, by its binding. */
export interface BoundDatabase {
  binding: string;
  db: D1Session;
}

export type { DatabaseConfig };

let cachedConfig: { key: string; config: DatabaseConfig } | null = null;

/** CONVERSATION_DATABASES and OPEN_DATABASES, checked against the bindings the Worker has. */
export function databaseConfig(env: Env): DatabaseConfig {
  const vars = env as unknown as Record<string, unknown>;
  const key = `${String(vars.CONVERSATION_DATABASES ?? "")}|${String(vars.OPEN_DATABASES ?? "")}`;
  if (cachedConfig?.key === key) return cachedConfig.config;
  const read = readDatabaseConfig(
    vars,
    (binding) => typeof (vars[binding] as { withSession?: unknown } | undefined)?.withSession === "function",
  );
  if ("problem" in read) throw new ApiError("NOT_CONFIGURED", read.problem);
  cachedConfig = { key, config: read.config };
  return read.config;
}

/** Where this isolate last found each conversation: a hint, checked by the database it points to. */
const placements = new BoundedMemory<string, string>(65_536);

/** Forgets where a conversation was (it moved: the old database refused a write). */
export function forgetPlacement(convId: string): void {
  placements.delete(convId);
}

/** The databases of one request. */
export class RequestDatabases {
  private readonly sessions = new Map<string, D1Session>();
  /** Conversations this request placed (their first write): taken back if that write is refused. */
  private readonly placedHere = new Map<string, string>();

  constructor(
    private readonly env: Env,
    private readonly mode: "write" | "read",
    private readonly bookmarks: ReadonlyMap<string, string>,
  ) {}

  get config(): DatabaseConfig {
    return databaseConfig(this.env);
  }

  /** One session per database per request. */
  session(binding: string): D1Session {
    const open = this.sessions.get(binding);
    if (open) return open;
    const database = (this.env as unknown as Record<string, D1Database>)[binding]!;
    const db: D1Session = database.withSession(
      this.mode === "write" ? "first-primary" : (this.bookmarks.get(binding) ?? "first-unconstrained"),
    );
    this.sessions.set(binding, db);
    return db;
  }

  /** The directory's database. */
  get directory(): D1Session {
    return this.session(DIRECTORY_BINDING);
  }

  /** Every database that holds conversations, for reads across them. */
  all(): BoundDatabase[] {
    return this.config.conversation.map((binding) => ({ binding, db: this.session(binding) }));
  }

  /**
   * The database of a conversation. `place`: a write — a conversation not yet placed is placed now
   * (one round trip to the directory). `hint`: where a conversation token says it lives.
   */
  async forConversation(convId: string, options: { place: boolean; hint?: string | null; fresh?: boolean }): Promise<BoundDatabase> {
    const { conversation, open } = this.config;
    if (conversation.length === 1 && conversation[0] === DIRECTORY_BINDING) return this.bound(DIRECTORY_BINDING);
    if (!options.fresh) {
      const known = placements.get(convId) ?? (options.hint && conversation.includes(options.hint) ? options.hint : undefined);
      if (known) return this.bound(known);
    }
    let found: Placement | null;
    if (options.place) {
      // Placing answers where the conversation lives either way: one round trip, no lookup first.
      const placed = await placeConversationIn(this.directory, convId, placeConversation(convId, open), Date.now());
      if (placed.placedNow) this.placedHere.set(convId, placed.binding);
      found = placed;
    } else {
      found = await lookUpConversation(this.directory, convId);
    }
    const binding = found?.binding ?? DIRECTORY_BINDING;
    if (found) placements.set(convId, binding);
    return this.bound(binding);
  }

  /**
   * The one database of a request's conversations (a batch is all or nothing, and D1 commits one
   * database at a time): 422 BATCH_SPANS_DATABASES when they live in several.
   */
  async forConversations(
    convIds: readonly string[],
    options: { place: boolean; hint?: string | null; fresh?: boolean },
  ): Promise<BoundDatabase> {
    const distinct = [...new Set(convIds)];
    const found = await Promise.all(distinct.map((convId) => this.forConversation(convId, options)));
    const bindings = [...new Set(found.map((f) => f.binding))];
    if (bindings.length > 1) {
      throw new ApiError(
        "BATCH_SPANS_DATABASES",
        `the batch's conversations live in ${bindings.join(" and ")}; a batch is written to one database — send one batch per conversation`,
      );
    }
    return found[0]!;
  }

  /**
   * Runs `write` on the database of `convIds`. A database a conversation is moving out of, or has
   * moved out of, refuses the write (CONVERSATION_MOVING / CONVERSATION_MOVED): this isolate's memory
   * or a token may be stale. The directory is asked again, and the write retried once where the
   * conversation lives now; while its move still runs, the 409 stands (with Retry-After).
   */
  async write<T>(convIds: readonly string[], options: { hint?: string | null }, write: (db: D1Session) => Promise<T>): Promise<T> {
    let target: BoundDatabase | undefined;
    try {
      target = await this.forConversations(convIds, { place: true, hint: options.hint });
      return await write(target.db);
    } catch (error) {
      const code = (error as { code?: string })?.code;
      if (!target || (code !== "CONVERSATION_MOVED" && code !== "CONVERSATION_MOVING")) {
        await this.unplace(convIds);
        throw error;
      }
      for (const convId of convIds) forgetPlacement(convId);
      const now = await this.forConversations(convIds, { place: true, fresh: true });
      if (now.binding === target.binding) throw error;
      return write(now.db);
    }
  }

  /** Takes back the placements this request made for `convIds` (their write was refused). */
  private async unplace(convIds: readonly string[]): Promise<void> {
    for (const convId of convIds) {
      const binding = this.placedHere.get(convId);
      if (binding === undefined) continue;
      this.placedHere.delete(convId);
      forgetPlacement(convId);
      await unplaceConversation(this.directory, this.session(binding), convId, binding).catch(() => {});
    }
  }

  /**
   * Reads a conversation where it lives. Found nowhere where this isolate (or a token) last saw it,
   * it is looked up in the directory once more: it may have moved since.
   */
  async read<T>(convId: string, options: { hint?: string | null }, read: (db: D1Session) => Promise<T | null>): Promise<T | null> {
    const first = await this.forConversation(convId, { place: false, hint: options.hint });
    const found = await read(first.db);
    if (found !== null || this.config.conversation.length === 1) return found;
    const fresh = await this.forConversation(convId, { place: false, fresh: true });
    return fresh.binding === first.binding ? null : read(fresh.db);
  }

  /** Where the directory places a conversation (null: DB, from before the directory), moves included. */
  async placement(convId: string): Promise<Placement | null> {
    return lookUpConversation(this.directory, convId);
  }

  /** Whether a binding holds conversations (a move's target must). */
  holdsConversations(binding: string): boolean {
    return this.config.conversation.includes(binding);
  }

  /** For OTLP recording (src/otlp/recording.ts): its memory in the directory database, snapshots where they live. */
  recording(hint?: string | null): RecordingDatabases {
    return { memory: this.directory, write: (convId, run) => this.write([convId], { hint }, run) };
  }

  private bound(binding: string): BoundDatabase {
    return { binding, db: this.session(binding) };
  }

  /** The X-D1-Bookmark to answer with: DB's alone as a bare bookmark, else one entry per database. */
  bookmarkHeader(): string | null {
    const entries = [...this.sessions].flatMap(([binding, db]) => {
      const bookmark = db.getBookmark();
      return bookmark ? [[binding, bookmark] as const] : [];
    });
    if (entries.length === 0) return null;
    if (entries.length === 1 && entries[0]![0] === DIRECTORY_BINDING) return entries[0]![1];
    return entries.map(([binding, bookmark]) => `${binding}:${bookmark}`).join(",");
  }
}
